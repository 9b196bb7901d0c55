"""The pipeline graph for one asset: start → generate → check → decide → (generate | request_review → review | end).

Planning is not a node: :func:`agents.api.create_run` plans every format of a brief before
any asset's graph starts (nothing is paid for a brief that cannot be planned).

The *builder* is exported; callers compile it with their own checkpointer (the library
API uses SQLite under the run folder, tests an in-memory saver)::

    graph = compiled_graph(saver)  # or build_graph().compile(checkpointer=saver)
    graph.invoke({"run_id": ..., "asset_id": ...}, config, context=Context(...))
"""

from __future__ import annotations

from functools import lru_cache

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents import nodes
from agents.state import AssetState, Context


def build_graph() -> StateGraph:
    g = StateGraph(AssetState, context_schema=Context)
    g.add_node("start", nodes.start)
    g.add_node("generate", nodes.generate)
    g.add_node("check", nodes.check)
    g.add_node("decide", nodes.decide)
    g.add_node("request_review", nodes.request_review)
    g.add_node("review", nodes.review)
    g.add_edge(START, "start")
    g.add_edge("start", "generate")
    g.add_edge("check", "decide")
    g.add_edge("request_review", "review")
    return g


@lru_cache(maxsize=1)
def _compiled() -> CompiledStateGraph:
    return build_graph().compile()


GENERATE_NODES = ("start", "generate")
"""Nodes a worker's generate stage runs (waiting on the provider); every other node is the
check stage's (OCR, the QA decision, the hand-over to a person)."""


def compiled_graph(checkpointer: BaseCheckpointSaver,
                   interrupt_before: tuple[str, ...] = ()) -> CompiledStateGraph:
    """The graph compiled once per process (compiling inspects every node's bytecode:
    about 10 ms), bound to ``checkpointer``. ``interrupt_before``: nodes to stop in front
    of (a worker's stage ends where the other queue's work begins)."""
    update: dict[str, object] = {"checkpointer": checkpointer}
    if interrupt_before:
        update["interrupt_before_nodes"] = list(interrupt_before)
    return _compiled().copy(update)


def studio_graph():  # pragma: no cover - for `langgraph.json` / LangGraph Studio
    return build_graph().compile()
