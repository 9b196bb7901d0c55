"""The optional prompt enhancer: the planner LLM rewrites a compiled GLM-Image prompt in the
model's own style, and signwriter checks the rewrite before it is sent.

``prompts/enhance_system.j2`` carries Z.ai's guidance for GLM-Image prompts (narrative
prose; every visible text in quotation marks, quotes for nothing else; style, position,
carrier, font and colour in words). The reply is checked the way the planner's copy is
checked (:func:`prompt_problems`): the texts GLM-Image's glyph encoder will receive must be
exactly the compiled prompt's, each once, and the prose must have no list markers,
headings, hex codes or percentages. A reply that breaks a rule is sent back with the
problems named (``prompts/enhance_repair.j2``) up to ``max_repairs`` times; after that the
compiled prompt is used unchanged and the reason is recorded. The enhancer never makes an
asset fail.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from agents.errors import SignwriterError
from agents.llm_client import ChatClient
from agents.prompting import glyph_texts, render

_LIST_LINE = re.compile(r"^\s*(?:[-*•+]|\d+[.)]|#{1,6})\s")
_HEADING = re.compile(r"^\s*[A-Z][A-Za-z ]{0,30}:\s*$")


@dataclass
class Enhanced:
    """The prompt to send, and what the enhancer did."""

    prompt: str
    enhanced: bool
    problems: list[str] = field(default_factory=list)
    """The last rejected reply's problems when the compiled prompt was kept."""
    error: str | None = None
    """Why the enhancer could not be asked at all (endpoint down, key refused)."""


def prompt_problems(original: str, candidate: str) -> list[str]:
    """Every way ``candidate`` breaks the rules against ``original`` (empty when usable)."""
    problems: list[str] = []
    want, got = Counter(glyph_texts(original)), Counter(glyph_texts(candidate))
    for text, n in want.items():
        if got[text] < n:
            problems.append(f"the text {json.dumps(text, ensure_ascii=False)} must appear "
                            f"exactly as written, in straight double quotation marks, but it "
                            f"is missing or changed")
        elif got[text] > n:
            problems.append(f"the text {json.dumps(text, ensure_ascii=False)} is quoted "
                            f"{got[text]} times; quote it exactly once")
    for text in got:
        if text not in want:
            problems.append(f"{json.dumps(text, ensure_ascii=False)} is in quotation marks "
                            f"but is not one of the texts: only the given texts may be "
                            f"quoted (remove the quotation marks or the words)")
    if problems and "'" in candidate:
        problems.append("straight apostrophes (') pair up as quotation marks for GLM-Image: "
                        "write ’ instead")
    lines = candidate.strip().splitlines()
    if any(_LIST_LINE.match(ln) for ln in lines):
        problems.append("the reply uses list markers or headings: write flowing prose")
    elif any(_HEADING.match(ln) for ln in lines):
        problems.append("the reply uses headings: write flowing prose")
    outside = re.sub(r'"[^"]*"|“[^“”]*”|「[^「」]*」', "", candidate)
    if re.search(r"#[0-9a-fA-F]{3,6}\b", outside):
        problems.append("the reply uses hex colour codes: name colours in words")
    if "%" in outside:
        problems.append("the reply uses percentages outside the quoted texts: describe sizes "
                        "in words")
    if not candidate.strip():
        problems.append("the reply is empty")
    return problems


def _clean(reply: str) -> str:
    text = reply.strip()
    fence = re.match(r"^```[a-z]*\s*(.*?)\s*```$", text, re.DOTALL)
    return fence.group(1).strip() if fence else text


def enhance(prompt: str, client: ChatClient, *, max_repairs: int = 2) -> Enhanced:
    """``prompt`` rewritten by the LLM behind ``client`` when the rewrite passes
    :func:`prompt_problems`, else ``prompt`` itself (with the reason)."""
    messages: list[dict[str, str]] = [
        {"role": "system", "content": render("enhance_system.j2")},
        {"role": "user", "content": prompt},
    ]
    problems: list[str] = []
    try:
        for _ in range(max_repairs + 1):
            reply = _clean(client.chat(messages, temperature=0.3))
            problems = prompt_problems(prompt, reply)
            if not problems:
                return Enhanced(prompt=reply, enhanced=True)
            messages.append({"role": "assistant", "content": reply})
            messages.append({"role": "user", "content": render("enhance_repair.j2",
                                                               errors=problems)})
    except SignwriterError as exc:
        return Enhanced(prompt=prompt, enhanced=False, error=str(exc))
    return Enhanced(prompt=prompt, enhanced=False, problems=problems)
