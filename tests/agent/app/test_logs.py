import json

import pytest
import structlog

from agent.app.logs import configure_logging, get_logger


@pytest.fixture(autouse=True)
def _restore_structlog():
    yield
    structlog.reset_defaults()


def _lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().err.strip().splitlines() if line.startswith("{")]


def test_transcripts_and_caller_numbers_are_redacted_by_default(capsys):
    configure_logging("INFO", json_output=True, log_transcripts=False)
    get_logger("t", call_id="c1").info("caller_said", transcript="my chest hurts", caller="sip:+15551234@x")
    (line,) = _lines(capsys)
    assert line["call_id"] == "c1"
    assert "chest" not in json.dumps(line) and "5551234" not in json.dumps(line)
    assert line["transcript"] == "<redacted 14 chars>"


def test_transcripts_appear_only_when_allowed(capsys):
    configure_logging("INFO", json_output=True, log_transcripts=True)
    get_logger("t", call_id="c2").info("caller_said", transcript="hello")
    (line,) = _lines(capsys)
    assert line["transcript"] == "hello"


def test_level_filters_debug(capsys):
    configure_logging("INFO")
    get_logger("t").debug("noise")
    assert _lines(capsys) == []


def test_process_fields_are_on_every_line_even_from_another_threads_tasks(capsys):
    import asyncio
    import threading

    configure_logging("INFO", process_fields={"worker": 2})

    async def from_a_foreign_thread() -> None:  # as pjsip's thread starts a call's task
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        async def call() -> None:
            get_logger("t", call_id="c3").info("call_started")
            done.set()

        threading.Thread(target=lambda: asyncio.run_coroutine_threadsafe(call(), loop)).start()
        await done.wait()

    asyncio.run(from_a_foreign_thread())
    get_logger("t").info("ready", worker=9)  # a field the line sets itself wins
    first, second = _lines(capsys)
    assert first["worker"] == 2 and first["call_id"] == "c3"
    assert second["worker"] == 9
