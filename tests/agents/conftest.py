"""Fixtures for agents tests: a real OpenAI-compatible chat server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.settings import Settings
from tests.servers.openai_chat import TEST_KEY as CHAT_KEY
from tests.servers.openai_chat import OpenAIChatServer


@pytest.fixture
def chat_server() -> Iterator[OpenAIChatServer]:
    """A started scripted chat server (``server.script(...)``, ``server.requests``)."""
    with OpenAIChatServer(api_key=CHAT_KEY) as server:
        yield server


@pytest.fixture
def llm_settings(chat_server: OpenAIChatServer, tmp_path: Path) -> Settings:
    """Settings pointing the LLM planner at ``chat_server`` (2 repairs, 5 s timeout)."""
    return Settings(runs_dir=tmp_path / "runs", llm_base_url=chat_server.base_url,
                    llm_api_key=CHAT_KEY, llm_model="test-model", llm_timeout_s=5,
                    llm_max_repairs=2, _env_file=None)
