"""The records HTTP JSON API (``bedside records api``): the worklist and call records for the QA
console and clinic tools, the same queries as ``bedside records``.

Every endpoint but ``/api/v1/health`` needs ``Authorization: Bearer <token>``, a token from
``records.api.tokens`` (staff name -> token, compared in constant time); the name behind the token
is who the audit log says read or changed a call. It answers PHI, so it listens on loopback unless
given a TLS certificate (or sits behind a TLS reverse proxy on the same host). Store calls block:
the endpoints are plain functions, which FastAPI runs on its thread pool. The OpenAPI document is
committed as docs/records-openapi.json (``bedside records api --openapi``)."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at definition,
# and they name aliases local to create_app.
import csv
import hmac
import io
import json
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from agent.services.records.config import RecordsConfig
from agent.services.records.crypto import RecordsKeyError
from agent.services.records.queries import (
    EXPORT_FIELDS,
    CallDetail,
    CallPage,
    ItemClosed,
    NotFound,
    QueryError,
    Via,
    WorkItem,
    WorkItemPage,
    WorkState,
    audit,
    close_item,
    export_calls,
    list_calls,
    parse_when,
    show_call,
    work_items,
)
from agent.services.records.similar_calls import MAX_K, IndexKeeper, SimilarResult, similar_to_call
from agent.services.records.store import RecordStore, StoreError, head_revision
from telephony.loopback import is_loopback

API_VERSION = "1.0"
PREFIX = "/api/v1"
MIN_TOKEN_CHARS = 24
EXPORT_CHUNK = 200  # rows per chunk written to the client


class Problem(BaseModel):
    """Any error: a sentence saying what went wrong (never PHI)."""

    detail: str


class Health(BaseModel):
    """Whether the store answers and its schema is the one this Bedside needs; no PHI, no auth."""

    status: Literal["ok", "unavailable"]
    schema_revision: str | None = Field(None, description="the database's Alembic revision")
    schema_current: bool = Field(False, description="the revision is the one this Bedside needs")
    detail: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no bearer token, or not one of records.api.tokens"},
    503: {"model": Problem, "description": "the records store is down, on another schema, or the key is wrong"},
}


def create_app(config: RecordsConfig, store: RecordStore | None) -> FastAPI:
    """The API over ``store``; ``store`` None builds it for its OpenAPI document only (every data
    endpoint answers 503)."""
    tokens = [(name, secret.get_secret_value().encode()) for name, secret in config.api.tokens.items()]
    bearer = HTTPBearer(auto_error=False, description="a staff token from records.api.tokens")
    app = FastAPI(
        title="Bedside records API", version=API_VERSION, openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None, redoc_url=None,  # Swagger UI would load scripts from a CDN: not in a clinic
        description="Call records and the staff worklist. Every read is audited under the staff name "
                    "of the bearer token. Times are UTC (ISO 8601); PHI appears only in call details "
                    "and work items.",
    )

    def staff(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
        """The staff name whose token this is: every token is compared (in constant time)."""
        given = credentials.credentials.encode() if credentials is not None else b""
        name = None
        for who, token in tokens:
            if hmac.compare_digest(given, token) and given:
                name = who
        if name is None:
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        return name

    def records() -> RecordStore:
        if store is None:
            raise StoreError("no records store behind this API")
        return store

    keeper = IndexKeeper(store, config.index_path()) if store is not None else None  # loaded on first use

    Staff = Annotated[str, Depends(staff)]
    Store = Annotated[RecordStore, Depends(records)]

    def when(text: str | None, name: str) -> Any:
        if text is None:
            return None
        try:
            return parse_when(text)
        except QueryError as exc:
            raise HTTPException(400, f"{name}: {exc}") from None

    @app.exception_handler(StoreError)
    @app.exception_handler(RecordsKeyError)
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"records store unavailable: {exc}"}, status_code=503)

    @app.exception_handler(QueryError)
    async def refused(_: Request, exc: Exception) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, ItemClosed) else 400
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.get(f"{PREFIX}/health", operation_id="health", response_model=Health, responses={503: {"model": Health}}, tags=["service"])
    def health() -> Any:
        """Up or not (for load balancers and monitoring): no token, no PHI."""
        try:
            revision = records().revision()
        except (StoreError, RecordsKeyError) as exc:
            return JSONResponse(Health(status="unavailable", detail=str(exc)).model_dump(), status_code=503)
        return Health(status="ok", schema_revision=revision, schema_current=revision == head_revision())

    @app.get(f"{PREFIX}/calls", operation_id="list_calls", response_model=CallPage, responses={**ERRORS, 400: {"model": Problem}}, tags=["calls"])
    def calls(
        who: Staff, db: Store,
        since: Annotated[str | None, Query(description="2026-12-01, an ISO datetime, or 7d / 12h / 30m ago")] = None,
        until: Annotated[str | None, Query(description="before this (same forms as since)")] = None,
        urgent: Annotated[bool | None, Query(description="true: only urgent calls; false: only the others")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    ) -> CallPage:
        """Calls, newest first, without PHI (the caller's number is in the call's detail)."""
        page = list_calls(db, since=when(since, "since"), until=when(until, "until"), urgent=urgent, limit=limit,
                          cursor=cursor)
        audit(db, who, Via.API, "list", detail=_detail(since=since, until=until, urgent=urgent, shown=len(page.calls)))
        return page

    @app.get(f"{PREFIX}/calls/{{call_id}}", operation_id="show_call",response_model=CallDetail,
             responses={**ERRORS, 404: {"model": Problem}}, tags=["calls"])
    def call(who: Staff, db: Store, call_id: Annotated[str, Path(max_length=64)]) -> CallDetail:
        """One call in full, PHI decrypted: caller, replies, timings, actions with slots, work items,
        webhook deliveries (state, not payload), the emotion timeline, the transcript when kept."""
        audit(db, who, Via.API, "show", call_id=call_id)
        detail = show_call(db, call_id)
        if detail is None:
            raise NotFound(f"no call {call_id} (wrong id, or purged after records.retention_days)")
        return detail

    @app.get(f"{PREFIX}/calls/{{call_id}}/similar", operation_id="similar_calls", summary="Similar calls", response_model=SimilarResult,
             responses={**ERRORS, 400: {"model": Problem}, 404: {"model": Problem}}, tags=["calls"])
    def similar(
        who: Staff, db: Store, call_id: Annotated[str, Path(max_length=64)],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="how many calls")] = 10,
        since: Annotated[str | None, Query(description="only calls started from then: 2026-12-01, an ISO datetime, or 30d ago")] = None,
    ) -> SimilarResult:
        """The calls that sounded most like this one, best first, by the audio embedding (how things
        were said, never what). A call's score is the mean, over this call's segments, of each one's
        best similarity to any segment of that call; each comes with its best moments (this call's
        time <-> that call's time). No PHI. 400 when this call has no scored caller audio."""
        start = when(since, "since")
        audit(db, who, Via.API, "similar", call_id=call_id, detail=_detail(k=k, since=since))
        assert keeper is not None  # a store is behind this API (records() said so)
        with keeper.synced() as index:
            return similar_to_call(db, index, call_id, k=k, since=start)

    @app.get(f"{PREFIX}/work-items", operation_id="list_work_items", response_model=WorkItemPage, responses={**ERRORS, 400: {"model": Problem}},
             tags=["worklist"])
    def items(
        who: Staff, db: Store,
        state: Annotated[Literal["open", "all"], Query(description="open: the queue, oldest first; all: newest first")] = "open",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    ) -> WorkItemPage:
        """The worklist, with each caller's number and call-back details (PHI)."""
        page = work_items(db, open_only=state == "open", limit=limit, cursor=cursor)
        audit(db, who, Via.API, "callbacks", detail=_detail(state=state, shown=len(page.items)))
        return page

    def closer(state: WorkState) -> Any:
        def close(who: Staff, db: Store, item_id: Annotated[str, Path(max_length=36)]) -> WorkItem:
            item = close_item(db, item_id, who, state)
            audit(db, who, Via.API, "done" if state is WorkState.DONE else "cancel", call_id=item.call_id,
                  detail=f"item {item.id}")
            return item

        return close

    closing = {**ERRORS, 404: {"model": Problem}, 409: {"model": Problem, "description": "already done or cancelled"}}
    app.post(f"{PREFIX}/work-items/{{item_id}}/done", response_model=WorkItem, responses=closing, tags=["worklist"],
             summary="Done", operation_id="done_work_item", description="Mark an open work item done, under the token's staff name.",
             )(closer(WorkState.DONE))
    app.post(f"{PREFIX}/work-items/{{item_id}}/cancel", response_model=WorkItem, responses=closing, tags=["worklist"],
             summary="Cancel", operation_id="cancel_work_item", description="Cancel an open work item (nothing to do), under the token's staff name.",
             )(closer(WorkState.CANCELLED))

    @app.get(f"{PREFIX}/export", operation_id="export_calls", response_class=StreamingResponse, tags=["calls"], responses={
        **ERRORS, 400: {"model": Problem},
        200: {"description": "one row per call, oldest first; columns: " + ", ".join(EXPORT_FIELDS),
              "content": {"application/x-ndjson": {}, "text/csv": {}}},
    })
    def export(
        who: Staff, db: Store,
        since: Annotated[str, Query(description="2026-12-01, an ISO datetime, or 30d ago")],
        until: Annotated[str | None, Query(description="before this (same forms as since)")] = None,
        format: Annotated[Literal["jsonl", "csv"], Query(description="JSON lines or CSV with a header")] = "jsonl",
    ) -> StreamingResponse:
        """Calls started in [since, until) as JSON lines or CSV, streamed; no PHI."""
        start, end = when(since, "since"), when(until, "until")
        db.check_schema()  # fail here, with a status code, rather than half-way through the stream
        audit(db, who, Via.API, "export", detail=_detail(since=start.isoformat(), until=end.isoformat() if end else None,
                                                         format=format))
        media = "text/csv" if format == "csv" else "application/x-ndjson"
        return StreamingResponse(_chunks(export_calls(db, start, end), format), media_type=media, headers={
            "Content-Disposition": f'attachment; filename="bedside-calls-{start.date().isoformat()}.{format}"'})

    return app


def _chunks(rows: Iterable[dict[str, Any]], fmt: str) -> Iterator[str]:
    """Rows as text, EXPORT_CHUNK at a time (a sync iterator: Starlette runs it on its thread pool)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(EXPORT_FIELDS), lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    n = 0
    for row in rows:
        if writer is not None:
            writer.writerow(row)
        else:
            buffer.write(json.dumps(row, separators=(",", ":")) + "\n")
        n += 1
        if n % EXPORT_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


def _detail(**values: Any) -> str | None:
    text = " ".join(f"{k}={v}" for k, v in values.items() if v is not None)
    return text or None


def openapi_json() -> str:
    """The committed docs/records-openapi.json (a test keeps the two equal)."""
    return json.dumps(create_app(RecordsConfig(), None).openapi(), indent=2, ensure_ascii=False) + "\n"


def check_exposure(config: RecordsConfig, certfile: str | None) -> None:
    """Refuse what would put PHI at risk: no tokens, guessable ones, one token for two people, or
    plain HTTP beyond loopback (raise ValueError with the fix)."""
    api = config.api
    if not api.tokens:
        raise ValueError("records.api.tokens is empty: give each staff member a token (>= 24 random characters), "
                         "e.g. --set records.api.tokens.alice=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    short = sorted(name for name, token in api.tokens.items() if len(token.get_secret_value()) < MIN_TOKEN_CHARS)
    if short:
        raise ValueError(f"records.api.tokens: the token(s) of {', '.join(short)} are shorter than {MIN_TOKEN_CHARS} characters")
    values = [token.get_secret_value() for token in api.tokens.values()]
    if len(set(values)) != len(values):
        raise ValueError("records.api.tokens: two staff names share a token; the audit log could not tell them apart")
    if certfile is None and not is_loopback(api.host):
        raise ValueError(f"records.api.host {api.host} is not loopback and there is no --certfile: the API answers PHI, "
                         "so beyond this machine it speaks TLS only (or keep 127.0.0.1 behind a TLS reverse proxy)")


def serve(config: RecordsConfig, store: RecordStore, *, certfile: str | None = None, keyfile: str | None = None) -> int:
    """Run the API with uvicorn until interrupted (ValueError: refused, see :func:`check_exposure`)."""
    import uvicorn

    check_exposure(config, certfile)
    api = config.api
    server = uvicorn.Server(uvicorn.Config(
        create_app(config, store), host=api.host, port=api.port, ssl_certfile=certfile, ssl_keyfile=keyfile,
        log_level="warning", access_log=False,  # the audit log is the access record; paths hold call ids
        server_header=False,
    ))
    scheme = "https" if certfile else "http"
    print(f"records API on {scheme}://{api.host}:{api.port}{PREFIX} ({len(api.tokens)} staff token(s))", flush=True)
    server.run()
    return 0


__all__ = ["API_VERSION", "check_exposure", "create_app", "openapi_json", "serve"]
