"""structlog set-up: JSON lines, ``call_id`` on every call line, PHI redacted unless allowed.

Sensitive values are always logged under the keys in ``SENSITIVE_KEYS``; the redaction
processor replaces them with their length unless ``logging.log_transcripts`` is true, so a
stray INFO line cannot leak a transcript or a caller's number."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, TextIO

import structlog

SENSITIVE_KEYS = frozenset({"transcript", "text", "caller", "remote_uri", "local_uri", "digits", "reply_text"})


def _redactor(allow: bool):
    def redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        if allow:
            return event
        for key in SENSITIVE_KEYS.intersection(event):
            value = event[key]
            event[key] = f"<redacted {len(value)} chars>" if isinstance(value, str) else "<redacted>"
        return event

    return redact


class LineLogger:
    """structlog's PrintLogger writes a line and its newline in two writes; processes that
    share a log file (``bedside serve``'s front and its SIP workers) then interleave mid-line
    and a JSON line is lost. One write per line keeps every line whole."""

    def __init__(self, file: TextIO) -> None:
        self._file = file
        self._lock = threading.Lock()

    def msg(self, message: str) -> None:
        with self._lock:
            self._file.write(message + "\n")
            self._file.flush()

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


def _process_fields(fields: dict[str, Any]) -> Any:
    def add(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        for key, value in fields.items():
            event.setdefault(key, value)
        return event

    return add


def configure_logging(level: str = "INFO", json_output: bool = True, log_transcripts: bool = False,
                      process_fields: dict[str, Any] | None = None) -> None:
    """Configure structlog (and stdlib logging underneath) for the whole process.
    ``process_fields`` go on every line of this process (a SIP worker's ``worker``: its calls'
    lines included, which run in tasks started from pjsip's thread, outside any bound context)."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s", force=True)
    # Third-party loggers that would print audio durations or text at INFO/DEBUG.
    for noisy in ("faster_whisper", "piper", "httpx", "httpx2", "openai", "websockets"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    renderer = structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _process_fields(dict(process_fields or {})),
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redactor(log_transcripts),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *_args: LineLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str, **bound: Any) -> Any:
    """A lazy logger: safe at module level, it picks up ``configure_logging`` done later."""
    return structlog.get_logger(name, component=name, **bound)
