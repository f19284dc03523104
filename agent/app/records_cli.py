"""``bedside records ...``: the staff worklist, calls, similar calls, exports, retention, key rotation,
the HTTP API.

Every command that shows what a call held writes an audit row first (who: ``--by``, default the OS
user; when; what; which call): a read that cannot be audited is not shown. Expected failures — no
database, a wrong key, a corrupt file, an unknown id — print one line and exit 1, never a
traceback. Heavy imports (SQLAlchemy, the API) happen inside the handlers: ``bedside --help`` does
not pay for them. A new subcommand is an ``_command(...)`` in :func:`add_parser` and a handler in
``HANDLERS``."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.services.records.config import RecordsConfig
    from agent.services.records.store import RecordStore

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class RecordsCliError(Exception):
    """An expected failure with its one-line explanation."""


def _staff() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a container user without a passwd entry
        return f"uid-{os.getuid()}"


def add_parser(sub: Any, config_args: Callable[[argparse.ArgumentParser], None]) -> None:
    records = sub.add_parser("records", help="call records: worklist, calls, export, purge, key rotation, HTTP API")
    rsub = records.add_subparsers(dest="records_command", required=True)

    def command(name: str, help: str, audited: bool = True) -> argparse.ArgumentParser:
        parser = rsub.add_parser(name, help=help, description=help)
        if audited:
            parser.add_argument("--by", metavar="NAME", default=None,
                                help="who is reading or acting, written to the audit log (default: the OS user)")
        config_args(parser)
        return parser

    command("migrate", "create the records database or bring its schema up to date", audited=False)
    status = command("status", "schema revision, keys, counts, open work items, outbox, spool", audited=False)
    status.add_argument("--json", action="store_true", help="machine-readable JSON")

    listing = command("list", "calls, newest first (no caller numbers: `show` has them)")
    listing.add_argument("--since", metavar="DATE", help="2026-12-01, 2026-12-01T08:00, or 7d / 12h / 30m ago")
    listing.add_argument("--urgent", action="store_true", help="only calls the agent flagged urgent")
    listing.add_argument("--limit", type=int, default=100, help="at most this many calls (default 100, max 1000)")
    listing.add_argument("--json", action="store_true", help="machine-readable JSON")

    show = command("show", "one call in full: caller, replies, actions, work items, webhooks, emotion, transcript")
    show.add_argument("call_id", metavar="CALL_ID")
    show.add_argument("--json", action="store_true", help="machine-readable JSON")

    callbacks = command("callbacks", "the worklist: call-backs, unanswered transfers, failed webhooks")
    callbacks.add_argument("--open", action="store_true", help="only items still open (oldest first)")
    callbacks.add_argument("--limit", type=int, default=200, help="at most this many items (default 200, max 1000)")
    callbacks.add_argument("--json", action="store_true", help="machine-readable JSON")

    for name, verb in (("done", "mark a work item done"), ("cancel", "cancel a work item (nothing to do)")):
        close = command(name, verb)
        close.add_argument("item_id", metavar="ITEM_ID", help="the item's id (its first 8 characters are enough)")

    export = command("export", "calls as JSON lines or CSV on stdout (no PHI: no numbers, slots or words)")
    export.add_argument("--since", metavar="DATE", required=True, help="2026-12-01, an ISO datetime, or 30d ago")
    export.add_argument("--until", metavar="DATE", help="up to (not including) this date")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="default jsonl")

    purge = command("purge", "delete calls older than records.retention_days, audit rows older than 6 years")
    purge.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    purge.add_argument("--json", action="store_true", help="machine-readable JSON")

    command("rekey", "re-encrypt every PHI value under the current (first) key; see docs for rotation")

    similar = command("similar", "calls that sounded like a call or a recording: by the audio embedding (how it was "
                                 "said, never what), best first; no PHI")
    similar.add_argument("call_id", metavar="CALL_ID", nargs="?", help="the call to match (or give --audio)")
    similar.add_argument("--audio", metavar="FILE", help="match a recording instead: wav, flac, ... at any sample rate")
    similar.add_argument("--k", type=int, default=10, help="how many calls (default 10, max 100)")
    similar.add_argument("--since", metavar="DATE", help="only calls started from then: 2026-12-01, an ISO datetime, or 30d ago")
    similar.add_argument("--json", action="store_true", help="machine-readable JSON")

    audit = command("audit", "the audit log: who read or changed which call, newest first", audited=False)
    audit.add_argument("--since", metavar="DATE", help="2026-12-01, an ISO datetime, or 7d ago")
    audit.add_argument("--call", metavar="CALL_ID", help="only this call")
    audit.add_argument("--actor", metavar="NAME", help="only this person")
    audit.add_argument("--limit", type=int, default=100, help="at most this many rows (default 100)")
    audit.add_argument("--json", action="store_true", help="machine-readable JSON")

    api = command("api", "serve the records HTTP JSON API (bearer tokens from records.api.tokens)", audited=False)
    api.add_argument("--host", help="address (default records.api.host, 127.0.0.1)")
    api.add_argument("--port", type=int, help="port (default records.api.port, 8470)")
    api.add_argument("--certfile", help="TLS certificate (PEM): required to listen beyond loopback")
    api.add_argument("--keyfile", help="TLS private key (PEM)")
    api.add_argument("--openapi", action="store_true", help="print the OpenAPI document and exit")


def expected_errors() -> tuple[type[Exception], ...]:
    """The failures a records command explains in one line (each message says why); imported
    when a command runs, not when ``bedside --help`` builds the parser."""
    from alembic.util import CommandError

    from agent.services.records.crypto import RecordsKeyError
    from agent.services.records.queries import QueryError
    from agent.services.records.store import StoreError

    return RecordsCliError, StoreError, RecordsKeyError, QueryError, CommandError


def run(args: argparse.Namespace, load_config: Callable[[argparse.Namespace], Any],
        configure_logging: Callable[[Any], None]) -> int:
    """``load_config(args)`` -> BedsideConfig; ``configure_logging(config)`` as for every command."""
    from sqlalchemy.exc import SQLAlchemyError

    if args.records_command == "api" and args.openapi:
        from agent.app.records_api import openapi_json

        print(openapi_json(), end="")
        return EXIT_OK
    config = load_config(args)
    configure_logging(config)
    try:
        return HANDLERS[args.records_command](args, config.records)
    except expected_errors() as exc:
        return _fail(str(exc))
    except SQLAlchemyError as exc:  # one the store did not explain: its first line still beats a traceback
        return _fail(str(exc).strip().splitlines()[0])
    except BrokenPipeError:  # `bedside records export ... | head`
        sys.stderr.close()
        return EXIT_OK


def _fail(message: str, command: str = "records") -> int:
    print(f"bedside {command}: {message}", file=sys.stderr)
    return EXIT_ERROR


# ---- opening the store ---------------------------------------------------------------------


def open_store(records: RecordsConfig, *, create: bool = False) -> RecordStore:
    """The store, its schema checked (``create``: the database and key may be new, for migrate)."""
    from sqlalchemy.engine import make_url

    from agent.services.records.crypto import KeyRing
    from agent.services.records.store import RecordStore

    url = records.database_url()
    parsed = make_url(url)
    if not create and parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).is_file():  # do not leave an empty file where the database was expected
            raise RecordsCliError(f"no records database at {parsed.database}: `bedside records migrate` creates it "
                                  "(as does `bedside serve`); check records.data_dir / records.url")
    store = RecordStore(url, KeyRing.load(records.key_path(), create=create))
    if not create:
        store.check_schema()
    return store


def _actor(args: argparse.Namespace) -> str:
    return args.by or _staff()


# ---- handlers ------------------------------------------------------------------------------


def _migrate(args: argparse.Namespace, records: RecordsConfig) -> int:
    store = open_store(records, create=True)
    try:
        before, after = store.migrate()
        store.check_keys()
    finally:
        store.dispose()
    change = f"{before or 'empty'} -> {after}" if before != after else f"{after} (already up to date)"
    print(f"records schema: {change} ({store.where}); key {store.keys.current}")
    return EXIT_OK


def _status(args: argparse.Namespace, records: RecordsConfig) -> int:
    from agent.services.records.queries import counts
    from agent.services.records.store import head_revision

    store = open_store(records)
    try:
        revision, numbers = store.revision(), counts(store)
        outbox = _outbox_counts(store, numbers.outbox)
    finally:
        store.dispose()
    spool = sorted(records.spool_path().glob("*.jsonl")) if records.spool_path().is_dir() else []
    spool_bytes = sum(p.stat().st_size for p in spool)
    report = {
        "database": store.where, "schema": revision, "schema_head": head_revision(),
        "key_current": store.keys.current, "keys": list(store.keys.keys), "key_source": store.keys.source,
        **{k: v for k, v in numbers.as_dict().items() if k != "outbox"}, "outbox": outbox,
        "spool_files": len(spool), "spool_bytes": spool_bytes, "retention_days": records.retention_days,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print(f"database     {report['database']}")
    print(f"schema       {revision} (this Bedside: {report['schema_head']})")
    print(f"keys         current {store.keys.current}; held {', '.join(store.keys.keys)} (from {store.keys.source})")
    print(f"calls        {numbers.calls} ({numbers.active_calls} active); retention {records.retention_days} days")
    print(f"work items   {numbers.open_items} open")
    print("outbox       " + (", ".join(f"{n} {state}" for state, n in sorted(outbox.items())) or "empty"))
    print(f"spool        {len(spool)} file(s), {spool_bytes} bytes waiting" if spool else "spool        empty")
    print(f"audit log    {numbers.audit_rows} rows")
    return EXIT_OK


def _outbox_counts(store: RecordStore, fallback: dict[str, int]) -> dict[str, int]:
    """The outbox's own count (every state, zeros included) when it is installed, else rows per state."""
    try:
        from agent.services.records.outbox import outbox_counts
    except ImportError:
        return fallback
    return outbox_counts(store)


def _list(args: argparse.Namespace, records: RecordsConfig) -> int:
    from agent.services.records.queries import Via, audit, list_calls, parse_when

    since = parse_when(args.since) if args.since else None
    store = open_store(records)
    try:
        page = list_calls(store, since=since, urgent=True if args.urgent else None, limit=args.limit)
        audit(store, _actor(args), Via.CLI, "list", detail=_detail(since=args.since, urgent=args.urgent or None,
                                                                    shown=len(page.calls)))
    finally:
        store.dispose()
    if args.json:
        print(json.dumps(page.as_dict(), indent=2))
        return EXIT_OK
    if not page.calls:
        print("no calls" + (f" since {args.since}" if args.since else ""))
        return EXIT_OK
    rows = [(c.id, _local(c.started_at), _duration(c.started_at, c.ended_at), c.status, str(c.turns),
             "yes" if c.urgent else "", "yes" if c.handed_off else "", str(c.open_items or ""), _cut(c.end_reason, 40))
            for c in page.calls]
    _table(("CALL", "STARTED", "LENGTH", "STATUS", "TURNS", "URGENT", "HANDED OFF", "OPEN ITEMS", "END"), rows)
    if page.next_cursor:
        print(f"(the {len(page.calls)} newest; older: --since or --limit up to 1000)")
    return EXIT_OK


def _show(args: argparse.Namespace, records: RecordsConfig) -> int:
    from agent.services.records.queries import Via, audit, show_call

    store = open_store(records)
    try:
        audit(store, _actor(args), Via.CLI, "show", call_id=args.call_id)
        call = show_call(store, args.call_id)
    finally:
        store.dispose()
    if call is None:
        return _fail(f"no call {args.call_id} (wrong id, or purged after records.retention_days)")
    if args.json:
        print(json.dumps(call.as_dict(), indent=2))
        return EXIT_OK
    out = print
    out(f"call {call.id}  {call.status}  {_local(call.started_at)}  {_duration(call.started_at, call.ended_at)}")
    out(f"  caller       {call.caller or '-'}")
    out(f"  ended        {_local(call.ended_at) if call.ended_at else '-'}: {call.end_reason or '-'}")
    out(f"  turns        {call.turns} (barge-ins {call.barge_ins}, reprompts {call.reprompts})"
        f"{'  URGENT' if call.urgent else ''}{'  handed off' if call.handed_off else ''}")
    out(f"  answered by  {call.host} worker {call.worker}, graph {call.graph_version or '-'}")
    if call.replies:
        out("replies")
        for r in call.replies:
            out(f"  {r.at_s:7.1f}s  {r.label:<12} node {r.node or '-':<16} {r.expression} ({r.expression_why})")
    if call.timings:
        out("turn timings (ms: vad / transcript / reply ready / first audio)")
        for t in call.timings:
            out(f"  turn {t.turn:<3} speech {t.speech_s:.1f}s  "
                + " / ".join("-" if v is None else str(v) for v in (t.vad_ms, t.transcript_ms, t.reply_ready_ms,
                                                                     t.first_audio_ms)))
    if call.actions:
        out("actions")
        for a in call.actions:
            out(f"  #{a.seq} {_local(a.decided_at)} {a.kind} -> {a.target or '-'}"
                f"{f' [{a.priority}]' if a.priority else ''} {a.reason or ''}".rstrip())
            if a.slots:
                out(f"      {_slots(a.slots)}")
    if call.work_items:
        out("work items")
        for i in call.work_items:
            out(f"  {i.id} {i.kind} {i.team} [{i.priority}] {_state(i)}")
    if call.deliveries:
        out("webhooks")
        for d in call.deliveries:
            status = f", last HTTP {d.last_status}" if d.last_status else ""
            error = f", {d.last_error}" if d.last_error else ""
            out(f"  {d.event} -> {d.destination}: {d.state} after {d.attempts} attempt(s){status}{error}")
    emotion = call.emotion
    if emotion is not None and (emotion.states or emotion.segments or emotion.utterances):
        out(f"emotion ({emotion.segments} segments scored; final trend {emotion.final_trend or '-'})")
        for s in emotion.states:
            burst = f" burst {s.burst}" if s.burst else ""
            out(f"  {s.at_s:7.1f}s  valence {s.valence:+.2f} arousal {s.arousal:+.2f} {s.trend}{burst}"
                f"{'' if s.available else ' (unavailable)'}")
        for b in emotion.bursts:
            out(f"  {b.begin_s:7.1f}s  {b.burst} ({b.score:.2f})")
        for u in emotion.utterances:
            top = ", ".join(f"{e.name} {e.score:.2f}" for e in u.top_emotions)
            out(f"  {u.at_s:7.1f}s  utterance: {top}")
    if call.transcripts:
        out("transcript (kept for QA)")
        for line in call.transcripts:
            out(f"  {line.at_s:7.1f}s  {line.text}")
    return EXIT_OK


def _callbacks(args: argparse.Namespace, records: RecordsConfig) -> int:
    from agent.services.records.queries import Via, audit, work_items

    store = open_store(records)
    try:
        page = work_items(store, open_only=args.open, limit=args.limit)
        audit(store, _actor(args), Via.CLI, "callbacks", detail=_detail(open=args.open or None, shown=len(page.items)))
    finally:
        store.dispose()
    if args.json:
        print(json.dumps(page.as_dict(), indent=2))
        return EXIT_OK
    if not page.items:
        print("no open work items" if args.open else "no work items")
        return EXIT_OK
    for item in page.items:
        print(f"{item.id}  {item.priority.upper():<8} {item.kind:<20} team {item.team or '-':<12} {_local(item.created_at)}")
        print(f"    caller {item.caller or '-'}  (call {item.call_id})")
        if item.slots:
            print(f"    {_slots(item.slots)}")
        if item.reason:
            print(f"    reason: {item.reason}")
        print(f"    {_state(item)}")
    if page.next_cursor:
        print(f"(the first {len(page.items)}; more with --limit up to 1000)")
    return EXIT_OK


def _close(args: argparse.Namespace, records: RecordsConfig) -> int:
    from agent.services.records.queries import Via, WorkState, audit, close_item, resolve_item

    state = WorkState.DONE if args.records_command == "done" else WorkState.CANCELLED
    actor = _actor(args)
    store = open_store(records)
    try:
        item_id = resolve_item(store, args.item_id)
        item = close_item(store, item_id, actor, state)
        audit(store, actor, Via.CLI, args.records_command, call_id=item.call_id, detail=f"item {item.id}")
    finally:
        store.dispose()
    print(f"{item.id}: {item.state} by {item.closed_by} ({item.kind} for {item.caller or '-'}, call {item.call_id})")
    return EXIT_OK


def _export(args: argparse.Namespace, records: RecordsConfig) -> int:
    from agent.services.records.queries import EXPORT_FIELDS, Via, audit, export_calls, parse_when

    since = parse_when(args.since)
    until = parse_when(args.until) if args.until else None
    store = open_store(records)
    try:
        audit(store, _actor(args), Via.CLI, "export",
              detail=_detail(since=since.isoformat(), until=until.isoformat() if until else None, format=args.format))
        write_export(export_calls(store, since, until), args.format, sys.stdout, EXPORT_FIELDS)
    finally:
        store.dispose()
    sys.stdout.flush()
    return EXIT_OK


def write_export(rows: Iterable[dict[str, Any]], fmt: str, out: Any, fields: Sequence[str]) -> None:
    """JSON lines, or CSV with a header row (the column order of ``fields``)."""
    if fmt == "csv":
        import csv

        writer = csv.DictWriter(out, fieldnames=list(fields), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    for row in rows:
        out.write(json.dumps(row, separators=(",", ":")) + "\n")


def _purge(args: argparse.Namespace, records: RecordsConfig) -> int:
    from agent.services.records.queries import Via, audit, purge

    store = open_store(records)
    try:
        result = purge(store, records.retention_days, dry_run=args.dry_run)
        if not args.dry_run and result.calls and records.index_path().exists():
            from agent.services.records.similar_calls import sync_index

            sync_index(store, records.index_path())  # the purged calls' segments leave the index file now
        if not args.dry_run:
            audit(store, _actor(args), Via.CLI, "purge", detail=_detail(
                calls=result.calls, before=result.calls_before.isoformat(timespec="seconds"),
                open_items=result.open_items, audit_rows=result.audit_rows))
    finally:
        store.dispose()
    if result.open_items:
        print(f"warning: {result.open_items} of those calls' work items were still open", file=sys.stderr)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return EXIT_OK
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {result.calls} call(s) started before {_local(result.calls_before)} "
          f"(records.retention_days = {records.retention_days}) and {result.audit_rows} audit row(s) before "
          f"{_local(result.audit_before)}")
    return EXIT_OK


def _rekey(args: argparse.Namespace, records: RecordsConfig) -> int:
    from agent.services.records.queries import Via, audit, rekey

    store = open_store(records)
    try:
        moved = rekey(store)
        audit(store, _actor(args), Via.CLI, "rekey", detail=f"{moved} values to key {store.keys.current}")
    finally:
        store.dispose()
    print(f"re-encrypted {moved} value(s) under key {store.keys.current}; every PHI value is under it now. "
          "Older keys can leave the key file once its backups are rotated too")
    return EXIT_OK


def _similar(args: argparse.Namespace, records: RecordsConfig) -> int:
    from agent.services.records.queries import Via, audit, parse_when
    from agent.services.records.similar_calls import MAX_K, similar_to_call, similar_to_vectors, sync_index

    if (args.call_id is None) == (args.audio is None):
        raise RecordsCliError("similar: give a CALL_ID or --audio FILE, one of them")
    if not 1 <= args.k <= MAX_K:
        raise RecordsCliError(f"--k {args.k}: between 1 and {MAX_K}")
    since = parse_when(args.since) if args.since else None
    store = open_store(records)
    try:
        audit(store, _actor(args), Via.CLI, "similar", call_id=args.call_id,
              detail=" ".join(filter(None, ["audio" if args.audio else None, _detail(k=args.k, since=args.since)])))
        segments = _embed_audio(args.audio) if args.audio else None  # before the index: a bad file fails fast
        index = sync_index(store, records.index_path())
        if segments is None:
            result = similar_to_call(store, index, args.call_id, k=args.k, since=since)
        else:
            result = similar_to_vectors(store, index, segments, k=args.k, since=since)
    finally:
        store.dispose()
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return EXIT_OK
    what = f"call {result.query_call_id}" if result.query_call_id else args.audio
    if not result.calls:
        print(f"no similar calls{f' since {args.since}' if args.since else ''} ({what}: {result.query_segments} segment(s) compared)")
        return EXIT_OK
    print(f"calls that sounded like {what} ({result.query_segments} segment(s) compared"
          f"{f', calls since {args.since}' if args.since else ''}); score: the mean over its segments of each one's "
          "best match in the call")
    rows = []
    for rank, call in enumerate(result.calls, 1):
        best = call.moments[0] if call.moments else None
        rows.append((
            str(rank), call.call_id, _local(call.started_at), f"{call.score:.2f}",
            f"{_clock(best.query_begin_s)} ↔ {_clock(best.begin_s)} ({best.similarity:.2f})" if best else "-",
            best.burst if best and best.burst != "none" else "", f"{best.valence:+.2f}" if best else "",
            f"{best.arousal:+.2f}" if best else "", call.status + (", urgent" if call.urgent else ""), _cut(call.end_reason, 30),
        ))
    _table(("RANK", "CALL", "STARTED", "SCORE", "BEST MOMENT (QUERY ↔ CALL)", "BURST", "VALENCE", "AROUSAL", "STATUS",
            "END"), rows)
    return EXIT_OK


def _embed_audio(path: str) -> list[tuple[float, float, Any]]:
    """An audio file cut into the 2-s segments calls are scored in, each embedded by the emotion
    embedding model alone (the Whisper encoder and its small head: no prosody, burst or language)."""
    import numpy as np

    from agent.app.audio_files import AudioFileError, load_pcm16k
    from emotion.audio import AudioInputError, split_segments
    from emotion.models.base import ModelLoadError
    from emotion.models.embedding import EmbeddingModel
    from telephony.audio import SAMPLE_RATE

    try:
        x = np.frombuffer(load_pcm16k(path), "<i2").astype(np.float32) / 32768.0
        model = EmbeddingModel.load()
        return [(begin, begin + seg.size / SAMPLE_RATE, model.embed(seg)) for begin, seg in split_segments(x)]
    except (AudioFileError, AudioInputError) as exc:
        raise RecordsCliError(str(exc)) from None
    except ModelLoadError as exc:
        raise RecordsCliError(f"the audio embedding model cannot be loaded: {exc}") from None


def _audit(args: argparse.Namespace, records: RecordsConfig) -> int:
    from agent.services.records.queries import audit_entries, parse_when

    store = open_store(records)
    try:
        entries = audit_entries(store, since=parse_when(args.since) if args.since else None, call_id=args.call,
                                actor=args.actor, limit=args.limit)
    finally:
        store.dispose()
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return EXIT_OK
    if not entries:
        print("no audit rows")
        return EXIT_OK
    _table(("WHEN", "WHO", "VIA", "WHAT", "CALL", "DETAIL"),
           [(_local(e.at, seconds=True), e.actor, e.via, e.what, e.call_id or "", e.detail or "") for e in entries])
    return EXIT_OK


def _api(args: argparse.Namespace, records: RecordsConfig) -> int:
    from agent.app.records_api import serve

    api = records.api.model_copy(update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None})
    records = records.model_copy(update={"api": api})
    store = open_store(records)
    try:
        return serve(records, store, certfile=args.certfile, keyfile=args.keyfile)
    except ValueError as exc:  # refused configuration: no tokens, short tokens, no TLS beyond loopback
        raise RecordsCliError(str(exc)) from exc
    finally:
        store.dispose()


HANDLERS: dict[str, Callable[[argparse.Namespace, RecordsConfig], int]] = {
    "migrate": _migrate, "status": _status, "list": _list, "show": _show, "callbacks": _callbacks, "done": _close,
    "cancel": _close, "export": _export, "purge": _purge, "rekey": _rekey, "audit": _audit, "api": _api,
    "similar": _similar,
}


# ---- output --------------------------------------------------------------------------------


def _local(when: Any, seconds: bool = False) -> str:
    """UTC from the store -> the machine's local time, as staff read clocks."""
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _duration(start: Any, end: Any) -> str:
    if end is None:
        return "-"
    total = int((end - start).total_seconds())
    return f"{total // 60}:{total % 60:02d}"


def _clock(seconds: float) -> str:
    """Seconds into a call as m:ss, as staff would scrub a recording."""
    total = int(seconds)
    return f"{total // 60}:{total % 60:02d}"


def _cut(text: str | None, width: int) -> str:
    text = text or ""
    return text if len(text) <= width else text[: width - 1] + "…"


def _slots(slots: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in sorted(slots.items()))


def _state(item: Any) -> str:
    if item.state == "open":
        return "open"
    return f"{item.state} by {item.closed_by or '?'} at {_local(item.closed_at) if item.closed_at else '?'}"


def _detail(**values: Any) -> str | None:
    text = " ".join(f"{k}={v}" for k, v in values.items() if v is not None)
    return text or None


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    for line in (headers, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
