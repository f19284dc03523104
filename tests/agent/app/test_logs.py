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
