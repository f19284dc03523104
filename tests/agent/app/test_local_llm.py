"""The bundled local LLM (agent/app/local_llm.py): llama.cpp's OpenAI-compatible server with
SmolLM2-135M-Instruct, run for real -- no stand-in. LlmWriter words a reply through it; when the
server is killed the reply is the scripted line and the breaker opens; when it is back, the
breaker's probe closes it again.

No timing is asserted (a loaded CI machine must not fail these): the budgets are set wide, and
what is checked is where each sentence came from. Time to the first sentence is measured by
``bedside bench latency --llm local`` (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.app.local_llm import (
    MODEL_ALIAS,
    LocalLlmServer,
    LocalLlmSettings,
    LocalLlmUnavailable,
    bundled_model,
    serving,
)
from agent.services.llm import LlmConfig, LlmWriter, Worded
from agent.services.metrics import Metrics
from emotion.breaker import BreakerState
from graph.prompt import WordingRequest
from tests.graph.test_prompt import RESULTS, request
from tests.processes import free_port
from tts.expression import Expression


def test_the_bundled_model_is_found_by_path_without_importing_its_package() -> None:
    model = bundled_model()
    assert model.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and model.stat().st_size > 50_000_000
    assert model.read_bytes()[:4] == b"GGUF"


def test_the_command_serves_the_model_under_the_name_bedside_asks_for() -> None:
    settings = LocalLlmSettings(port=8123, threads=2)
    cmd = settings.command(Path("/m.gguf"))
    assert cmd[1:3] == ["-m", "llama_cpp.server"]
    flags = dict(zip(cmd[3::2], cmd[4::2], strict=True))
    assert flags["--model"] == "/m.gguf" and flags["--model_alias"] == MODEL_ALIAS
    assert flags["--host"] == "127.0.0.1" and flags["--port"] == "8123" and flags["--n_threads"] == "2"
    assert settings.bedside_settings() == ["llm.base_url=http://127.0.0.1:8123/v1", f"llm.model={MODEL_ALIAS}",
                                           "llm.prompt_detail=brief"]


def test_nothing_serving_is_seen_as_such() -> None:
    assert not serving(f"http://127.0.0.1:{free_port(socket.SOCK_STREAM)}/v1", timeout_s=0.5)


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLlmServer]:
    log = (tmp_path_factory.mktemp("llm") / "llm.log").open("wb")
    server = LocalLlmServer(LocalLlmSettings(port=free_port(socket.SOCK_STREAM)), log=log).start()
    try:
        yield server
    finally:
        server.stop()
        log.close()


def _writer(server: LocalLlmServer, **changes: object) -> LlmWriter:
    config = LlmConfig(base_url=server.base_url, model=MODEL_ALIAS, first_sentence_budget_s=10, total_budget_s=30,
                       temperature=0.0, **changes)  # type: ignore[arg-type]  # greedy: the same words every run
    return LlmWriter(config, Metrics(), environ={})


def _everyday(**changes: object) -> WordingRequest:
    """A line with no sensitive topic and no fact to keep: what is checked is that the model's own
    words come back (a results line, say, makes greedy SmolLM2 talk about results: cut, scripted)."""
    base = {"node": RESULTS.model_copy(update={"id": "anything_else", "topics": [], "instructions": None}),
            "scripted": "Thank you for calling. Is there anything else I can help you with?",
            "caller_text": "Thanks, that's all I needed to know.", "emotion": None, "expression": Expression.NEUTRAL,
            "history": ()}
    return request(**{**base, **changes})


async def _reply(writer: LlmWriter, **changes: object) -> list[Worded]:
    return [worded async for worded in writer.sentences(_everyday(**changes))]


@pytest.mark.slow
def test_a_second_server_on_a_taken_port_is_refused(llm_server: LocalLlmServer) -> None:
    with pytest.raises(LocalLlmUnavailable, match="already answers"):
        LocalLlmServer(llm_server.settings).start()


@pytest.mark.slow
def test_a_real_model_words_the_reply_sentence_by_sentence(llm_server: LocalLlmServer) -> None:
    async def run() -> list[list[Worded]]:
        writer = _writer(llm_server)
        try:
            # Two replies: the second reuses the first's cached prompt prefix (the clinic's rules
            # and facts: graph/prompt.py static_prefix); both must still be the model's own words.
            return [await _reply(writer), await _reply(writer, caller_text="Great, thank you so much for your help.")]
        finally:
            await writer.aclose()

    for sentences in asyncio.run(run()):
        assert sentences and all(s.source == "llm" for s in sentences), sentences
        assert all(s.text.strip() for s in sentences)


@pytest.mark.slow
def test_a_killed_server_means_the_scripted_line_then_the_probe_brings_the_llm_back(tmp_path: Path) -> None:
    settings = LocalLlmSettings(port=free_port(socket.SOCK_STREAM))
    log = (tmp_path / "llm.log").open("wb")
    server = LocalLlmServer(settings, log=log).start()

    async def run() -> None:
        writer = _writer(server, failures_to_open=1, open_s=0.5)
        try:
            assert {s.source for s in await _reply(writer)} == {"llm"}
            server.kill()  # as a crash: no goodbye on the socket
            scripted = await _reply(writer)
            assert [s.source for s in scripted] == ["scripted", "scripted"]
            assert scripted[0].reason.startswith("error: APIConnectionError"), scripted
            assert " ".join(s.text for s in scripted) == _everyday().scripted  # the node's own line, whole
            assert writer.breaker_state is BreakerState.OPEN
            assert {s.reason for s in await _reply(writer)} == {"breaker_open"}  # no wait on a dead server
            await asyncio.to_thread(server.start)  # back on the same port
            for _ in range(600):  # the probe runs open_s after the failure, then every open_s
                if writer.breaker_state is BreakerState.CLOSED:
                    break
                await asyncio.sleep(0.1)
            assert writer.breaker_state is BreakerState.CLOSED
            assert {s.source for s in await _reply(writer)} == {"llm"}
        finally:
            await writer.aclose()

    try:
        asyncio.run(run())
    finally:
        server.stop()
        log.close()
