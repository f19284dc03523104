"""The QA console's ASGI app: sign-in, pages and the JSON API under ``/api/``.

Every page and API route needs a live staff session (agent/app/console/auth.py) except
``/login``, ``/static/`` and ``/api/v1/health``; the OpenAPI document is ``/api/openapi.json``
(no interactive docs: they load scripts from a CDN). Responses carry a strict Content-Security-Policy
(everything from this origin, no inline script), ``X-Frame-Options: DENY``, ``Referrer-Policy:
same-origin`` and ``Cache-Control: no-store``. Store calls block: endpoints are plain functions,
which FastAPI runs on its thread pool. No PHI goes into a URL or a log line; uvicorn's access log
is off (the audit log records sign-ins and reads)."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at definition.
import json
import socket
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, Protocol
from urllib.parse import parse_qs, quote, urlencode

import structlog
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from agent.app.console.auth import (
    SignInRequired,
    allowed,
    check_unsafe,
    cookie_name,
    session_of,
)
from agent.app.console.config import ConsoleConfig
from agent.app.console.graph_drawing import graph_svg
from agent.app.console.graph_file import MAX_GRAPH_BYTES, GraphFile, GraphFileError
from agent.app.console.similar_search import InProcessSearch, SimilarSearch
from agent.app.console.timeline_plot import timeline_svg
from agent.services.records.corrections import BURSTS as CORRECTION_BURSTS
from agent.services.records.corrections import (
    Affect,
    Correction,
    CorrectionError,
    Target,
    add_correction,
    corrections_for,
)
from agent.services.records.crypto import RecordsKeyError
from agent.services.records.node_effects import DROP, WINDOW_S, NodeEffect, node_effects
from agent.services.records.queries import (
    EMOTIONS,
    NEGATIVE_VALENCE,
    NO_BURST,
    POSITIVE_VALENCE,
    CallDetail,
    CallPage,
    NotFound,
    QueryError,
    Via,
    audit,
    known_nodes,
    list_calls,
    live_nodes,
    parse_when,
    show_call,
)
from agent.services.records.similar_calls import (
    MAX_K,
    SimilarResult,
)
from agent.services.records.staff import StaffDirectory, StaffRole
from agent.services.records.staff_sessions import SessionBook, StaffSession
from agent.services.records.store import RecordStore, StoreError
from telephony.loopback import is_loopback
from telephony.webrtc_gateway import BrowserAnswer, OfferRefused

HERE = Path(__file__).resolve().parent
# Burst names the call list offers: the burst model's vocabulary (as corrections know it), less "none".
BURSTS = tuple(sorted(CORRECTION_BURSTS - {NO_BURST}))
log = structlog.get_logger(component="console")
CALLS_PER_PAGE = 50
DEFAULT_EFFECTS_SINCE = "30d"
NODE_MAX = 100  # replies.node's width: a longer name cannot match, so it is a mistake worth saying
BURST_MAX = 32  # emotion_segments.burst's width
SIMILAR_ON_PAGE = 5  # "calls that sounded like this" on the review page
SIMILAR_MOMENTS = 120  # ... judged by at most this many of the call's moments, spread over it (the API: all)
MAX_FORM_BYTES = 4096  # a sign-in form; anything larger is refused unread
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make browsers send "Origin: null" on form posts
    "Cache-Control": "no-store",
}
GENERIC_REFUSAL = "Wrong name or password, or the account is locked or disabled."


class Problem(BaseModel):
    detail: str


class Me(BaseModel):
    name: str
    role: Literal["qa", "admin"]
    csrf: str  # echo it as X-CSRF-Token on every POST/PUT/PATCH/DELETE
    expires_at: str


class StaffRow(BaseModel):
    name: str
    role: Literal["qa", "admin"]
    active: bool
    created_at: str


class NodeEffectRow(BaseModel):
    node: str
    replies: int
    calls: int
    mean_change: float
    drop_share: float


class LiveRow(BaseModel):
    calls: int  # calls in progress
    nodes: dict[str, int]  # node -> calls whose latest reply came from it


class Health(BaseModel):
    status: Literal["ok"]


class Offer(BaseModel):
    sdp: str
    type: Literal["offer"]


class CorrectionRequest(BaseModel):
    """QA's word on one moment: name it by ``seq`` or by a time ``at_s`` in the call."""

    target: Target = Target.SEGMENT
    seq: int | None = Field(None, ge=0)
    at_s: float | None = Field(None, ge=0, le=24 * 3600)
    affect: Affect | None = None
    burst: str | None = Field(None, max_length=32, description="a burst type (sigh, laugh, cough, ...) or none")


class CorrectionRow(BaseModel):
    id: int
    call_id: str
    target: Target
    seq: int
    begin_s: float
    end_s: float
    affect: Affect | None
    burst: str | None
    model_valence: float
    model_arousal: float
    model_burst: str | None
    staff: str
    created_at: str


class Answer(BaseModel):
    sdp: str
    type: Literal["answer"]
    call_id: str  # the call's id in the records: its review page is /calls/{call_id}


class BrowserCalls(Protocol):
    """Places a browser call into the agent (telephony.webrtc_gateway.WebRtcGateway)."""

    max_calls: int
    max_offer_bytes: int

    async def answer(self, offer_sdp: str, caller: str) -> BrowserAnswer: ...

    async def hang_up(self, call_id: str) -> None: ...


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """A request body read as it streams in: past ``limit`` bytes it is refused (413) before the
    rest is read."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"{what} too large")
    return bytes(body)


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, list[str]]:
    """A small url-encoded form (``limit`` bytes at most: MAX_FORM_BYTES unless a page says more)."""
    body = await read_body(request, limit, "form")
    try:
        return parse_qs(body.decode("utf-8"), max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "malformed form") from None


def create_app(
    config: ConsoleConfig, store: RecordStore, staff: StaffDirectory | None = None, browser_calls: BrowserCalls | None = None,
    index_path: Path | None = None, graph_path: Path | None = None, similar_search: SimilarSearch | None = None,
) -> FastAPI:
    """``browser_calls``: the agent's WebRTC gateway when the console runs inside ``bedside serve``
    (the softphone page places calls); None for ``bedside console`` alone. ``index_path``: the
    similar-call index file (``RecordsConfig.index_path()``), loaded on the first search; None: the
    review page says the search is not configured and its API answers 503; ``similar_search``: the
    search itself, given instead (the console inside ``bedside serve`` runs it in a child process:
    agent/app/console/similar_search.py)."""
    staff = staff or StaffDirectory(store)
    if similar_search is None and index_path is not None:
        similar_search = InProcessSearch(store, index_path)
    graph = GraphFile(graph_path) if graph_path is not None else None  # graph.file: the one the servers run
    book = SessionBook(store, idle=timedelta(minutes=config.session_idle_minutes), lifetime=timedelta(hours=config.session_hours))
    pages = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    # openapi_url None: the document is served below, behind sign-in like every other API route
    app = FastAPI(title="Bedside QA console", version="0.1", openapi_url=None, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(SignInRequired)
    async def to_login(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(StoreError)
    @app.exception_handler(RecordsKeyError)
    async def unavailable(request: Request, exc: Exception) -> Response:
        # The store's messages name files and key ids, never PHI; the console stays up and says so.
        return JSONResponse({"detail": f"records store unavailable: {exc}"}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse({"detail": "invalid request"}, status_code=422)  # never echo what was sent

    def render(name: str, status: int = 200, **values) -> HTMLResponse:
        session = values.get("session")
        admin = session is not None and allowed(session, StaffRole.ADMIN)
        return HTMLResponse(pages.get_template(name).render(admin=admin, **values), status_code=status)

    def page_session(role: StaffRole):
        def dependency(request: Request) -> StaffSession:
            session = session_of(request, book)
            if session is None:
                raise SignInRequired()
            if not allowed(session, role):
                raise HTTPException(403, f"this page needs the {role} role")
            check_unsafe(request, session)
            return session
        return dependency

    def api_session(role: StaffRole):
        def dependency(request: Request) -> StaffSession:
            session = session_of(request, book)
            if session is None:
                raise HTTPException(401, "sign in first (POST /login)")
            if not allowed(session, role):
                raise HTTPException(403, f"this needs the {role} role")
            check_unsafe(request, session)
            return session
        return dependency

    QaPage = Annotated[StaffSession, Depends(page_session(StaffRole.QA))]
    AdminPage = Annotated[StaffSession, Depends(page_session(StaffRole.ADMIN))]
    QaApi = Annotated[StaffSession, Depends(api_session(StaffRole.QA))]
    AdminApi = Annotated[StaffSession, Depends(api_session(StaffRole.ADMIN))]
    refusals = {401: {"model": Problem}, 403: {"model": Problem}}

    # -- sign-in -------------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> Response:
        if session_of(request, book) is not None:
            return RedirectResponse("/", status_code=303)
        return render("login.html", title="Sign in")

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        check_unsafe(request, None)
        form = await read_form(request)
        name = (form.get("name") or [""])[0].strip()
        password = (form.get("password") or [""])[0]
        account = await run_in_threadpool(staff.authenticate, name, password, Via.CONSOLE)
        if account is None:
            return render("login.html", status=401, title="Sign in", error=GENERIC_REFUSAL)
        token = await run_in_threadpool(book.open, account.name)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(cookie_name(request), token, max_age=config.session_hours * 3600, path="/", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        session = await run_in_threadpool(session_of, request, book)
        if session is not None:
            csrf = ((await read_form(request)).get("csrf") or [None])[0]
            check_unsafe(request, session, form_csrf=csrf)
            await run_in_threadpool(book.close, request.cookies.get(cookie_name(request)))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(cookie_name(request), path="/", secure=request.url.scheme == "https", httponly=True,
                               samesite="strict")
        return response

    async def form_post(request: Request, role: StaffRole, refusal: str,
                        limit: int = MAX_FORM_BYTES) -> tuple[StaffSession, dict[str, list[str]]]:
        """A page's form post: the session (to sign-in without one; 403 ``refusal`` below ``role``),
        the form read within ``limit``, its origin and CSRF token (the ``csrf`` field) checked."""
        session = await run_in_threadpool(session_of, request, book)
        if session is None:
            raise SignInRequired()
        if not allowed(session, role):
            raise HTTPException(403, refusal)
        form = await read_form(request, limit)
        check_unsafe(request, session, form_csrf=(form.get("csrf") or [None])[0])
        return session, form

    # -- pages ---------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(session: QaPage) -> Response:
        return render("home.html", title="Home", session=session, until=session.expires_at.strftime("%H:%M UTC"),
                      idle=config.session_idle_minutes)

    @app.get("/softphone", response_class=HTMLResponse, include_in_schema=False)
    def softphone_page(session: QaPage) -> Response:
        return render("softphone.html", title="Softphone", session=session, browser_calls=browser_calls is not None,
                      captions=config.captions)

    @app.get("/staff", response_class=HTMLResponse, include_in_schema=False)
    def staff_page(session: AdminPage) -> Response:
        return render("staff.html", title="Staff", session=session, accounts=staff.list())

    def call_page(session: StaffSession, since: str | None, urgent: str | None, cursor: str | None, limit: int,
                  transferred: str | None = None, node: str | None = None, emotion: str | None = None,
                  burst: str | None = None) -> CallPage:
        """One page of the call list, audited as a read (the filters and the count: dates, node,
        emotion and burst names are not PHI). An empty filter (a form's "all") is no filter; a value
        the list does not know is a 400, never silently dropped (it would show calls it does not mean)."""
        try:
            start = parse_when(since) if since else None
        except QueryError as exc:
            raise HTTPException(400, str(exc)) from None
        flag = {"yes": True, "no": False}.get(urgent or "")
        if transferred and transferred not in ("yes", "no"):
            raise HTTPException(400, "transferred: yes or no")
        handed = {"yes": True, "no": False}.get(transferred or "")
        if node and len(node) > NODE_MAX:
            raise HTTPException(400, f"node: at most {NODE_MAX} characters")
        burst = (burst or "").strip() or None
        if burst and len(burst) > BURST_MAX:
            raise HTTPException(400, f"burst: at most {BURST_MAX} characters")
        try:
            page = list_calls(store, since=start, urgent=flag, limit=limit, cursor=cursor or None, transferred=handed,
                              node=node or None, emotion=emotion or None, burst=burst)
        except QueryError as exc:
            raise HTTPException(400, str(exc)) from None
        filters = {"since": since, "urgent": flag, "transferred": handed, "node": node or None, "emotion": emotion or None,
                   "burst": burst}
        detail = " ".join([f"shown={len(page.calls)}", *(f"{k}={v}" for k, v in filters.items() if v is not None)])
        audit(store, session.staff, Via.CONSOLE, "list", detail=detail)  # the count first: a long node name is cut, not it
        return page

    @app.get("/calls", response_class=HTMLResponse, include_in_schema=False)
    def calls_page(session: QaPage, since: str | None = None, urgent: str | None = None, cursor: str | None = None,
                   transferred: str | None = None, node: str | None = None, emotion: str | None = None,
                   burst: str | None = None) -> Response:
        filters = {"since": since or "", "urgent": urgent or "", "transferred": transferred or "", "node": node or "",
                   "emotion": emotion or "", "burst": (burst or "").strip()}
        try:
            page = call_page(session, since, urgent, cursor, CALLS_PER_PAGE, transferred, node, emotion, burst)
            error = None
        except HTTPException as exc:  # a filter staff mistyped: say so on the page
            page, error = CallPage((), None), exc.detail
        chosen = {k: v for k, v in filters.items() if v}
        older = f"/calls?{urlencode({**chosen, 'cursor': page.next_cursor})}" if page.next_cursor else None
        return render("calls.html", status=400 if error else 200, title="Calls", session=session, page=page, error=error,
                      older=older, filtered=bool(chosen), nodes=known_nodes(store), bursts=BURSTS, emotions=EMOTIONS,
                      negative=NEGATIVE_VALENCE, positive=POSITIVE_VALENCE, **filters)

    def call_detail(session: StaffSession, call_id: str) -> CallDetail:
        """One call in full (PHI decrypted), audited before it is shown; 404 when there is none."""
        if len(call_id) > 64:
            raise HTTPException(404, "no such call")
        audit(store, session.staff, Via.CONSOLE, "show", call_id=call_id)
        call = show_call(store, call_id)
        if call is None:
            raise HTTPException(404, "no such call (wrong id, or purged after records.retention_days)")
        return call

    @app.get("/calls/{call_id}", response_class=HTMLResponse, include_in_schema=False)
    def review_page(session: QaPage, call_id: str) -> Response:
        return review(session, call_id)

    def review(session: StaffSession, call_id: str, status: int = 200, correction_error: str | None = None) -> Response:
        call = call_detail(session, call_id)
        end = call.ended_at or call.started_at
        duration = (end - call.started_at).total_seconds()
        timings = {t.turn: t for t in call.timings}
        # Calls that sounded like this: an aid to the review, so it never breaks the page. The read
        # is the call's, audited above as "show"; the list holds ids, dates and scores, no PHI.
        similar, similar_note = None, None
        if similar_search is None:
            similar_note = "The similar-call search is not configured in this console (records.index_path)."
        else:
            try:
                similar = similar_search.search(call_id, SIMILAR_ON_PAGE, SIMILAR_MOMENTS)
            except QueryError:  # no scored caller audio (or purged since the page began)
                similar_note = "No scored caller audio in this call to compare with others."
            except Exception as exc:  # the store or the index file: say so, log the kind only (no PHI)
                log.warning("similar_calls_unavailable", error=type(exc).__name__)
                similar_note = "The similar-call search is unavailable just now; the rest of the review is complete."
        return render("review.html", title="Call review", session=session, call=call, timings=timings,
                      plot=Markup(timeline_svg(call.emotion, duration, call.replies)), duration=duration,
                      similar=similar, similar_note=similar_note, path_drawing=path_drawing(call),
                      corrections=corrections_for(store, call_id),
                      affects=[str(a) for a in Affect], correction_bursts=sorted(CORRECTION_BURSTS),
                      correction_error=correction_error, status=status)

    def effects(since: str | None) -> list[NodeEffect]:
        try:
            start = parse_when(since or DEFAULT_EFFECTS_SINCE)
        except QueryError as exc:
            raise HTTPException(400, str(exc)) from None
        return node_effects(store, since=start)

    @app.get("/nodes", response_class=HTMLResponse, include_in_schema=False)
    @app.get("/graph", response_class=HTMLResponse, include_in_schema=False)
    def nodes_page(session: QaPage, since: str | None = None) -> Response:
        return graph_page(session, since)

    def path_drawing(call: CallDetail) -> dict | None:
        """The graph with the path this call took (its replies' nodes), when the graph file reads;
        ``same``: the call ran this version of the file (else the path is drawn on today's)."""
        if graph is None:
            return None
        try:
            state = graph.state()
        except GraphFileError:
            return None
        if state.report.spec is None:
            return None
        path = [r.node for r in call.replies if r.node]
        return {"svg": Markup(graph_svg(state.report.spec, path=path)), "same": call.graph_version in (None, state.version),
                "version": state.version, "nodes": list(dict.fromkeys(path))}

    def graph_page(session: StaffSession, since: str | None = None, status: int = 200, edit: str | None = None,
                   upload_errors: Sequence[str] = (), notice: str | None = None) -> Response:
        """The graph as it is in its file (drawn, coloured by where calls go wrong, or its errors),
        the nodes worst first, and for admins the editor."""
        try:
            rows, error = effects(since), None
        except HTTPException as exc:
            rows, error = [], exc.detail
        state, file_error, drawing = None, None, None
        if graph is not None:
            try:
                state = graph.state()
            except GraphFileError as exc:
                file_error = str(exc)
            if state is not None and state.report.spec is not None:
                live = live_nodes(store)
                drawing = Markup(graph_svg(state.report.spec, {r.node: r.mean_change for r in rows}, drop=DROP,
                                           live=live.nodes))
        return render("nodes.html", status=status if not error else 400, title="The graph: where calls go wrong",
                      session=session, rows=rows, since=since or DEFAULT_EFFECTS_SINCE, error=error, window_s=WINDOW_S,
                      drop=DROP, graph=state, file_error=file_error, drawing=drawing,
                      edit=state.text if edit is None and state is not None else edit, upload_errors=upload_errors,
                      notice=notice, max_graph_kb=MAX_GRAPH_BYTES // 1024)

    @app.post("/graph", include_in_schema=False)
    async def graph_upload(request: Request) -> Response:
        """An admin's edit of the graph: ``check`` validates it, ``apply`` also writes it (only when
        valid: an invalid one is shown with its FILE:LINE:COL errors and the file is not touched)."""
        # URL-encoding can triple a text (a newline is %0D%0A): the limit is on the graph itself, below
        session, form = await form_post(request, StaffRole.ADMIN, "changing the graph needs the admin role",
                                        3 * MAX_GRAPH_BYTES + MAX_FORM_BYTES)
        if graph is None:
            raise HTTPException(503, "this console has no graph file (graph.file)")
        text = (form.get("graph") or [""])[0].replace("\r\n", "\n")
        if len(text.encode()) > MAX_GRAPH_BYTES:
            raise HTTPException(413, f"the graph is larger than {MAX_GRAPH_BYTES // 1024} KB")
        action = (form.get("action") or ["check"])[0]
        report = await run_in_threadpool(graph.check, text)
        if not report.ok:
            return await run_in_threadpool(graph_page, session, None, 400, text, [str(p) for p in report.errors],
                                           "Not applied: the file is unchanged." if action == "apply" else None)
        if action != "apply":
            return await run_in_threadpool(graph_page, session, None, 200, text, (), f"No errors: {report.summary()}")
        try:
            state = await run_in_threadpool(graph.replace, text)
        except (GraphFileError, ValueError) as exc:
            return await run_in_threadpool(graph_page, session, None, 503, text, [str(exc)], "Not applied.")
        await run_in_threadpool(audit, store, session.staff, Via.CONSOLE, "graph_apply", None, f"version={state.version}")
        return await run_in_threadpool(
            graph_page, session, None, 200, None, (),
            f"Applied: version {state.version}. Servers watching the file take it for new calls within seconds "
            "(calls in progress keep theirs).")

    # -- JSON API ------------------------------------------------------------------------------
    @app.get("/api/v1/health", response_model=Health)
    def health() -> Health:
        return Health(status="ok")

    @app.get("/api/v1/me", response_model=Me, responses=refusals)
    def me(session: QaApi) -> Me:
        return Me(name=session.staff, role=session.role.value, csrf=session.csrf, expires_at=session.expires_at.isoformat())

    @app.get("/api/v1/staff", response_model=list[StaffRow], responses=refusals)
    def staff_list(session: AdminApi) -> list[StaffRow]:
        return [StaffRow(name=a.name, role=a.role.value, active=a.active, created_at=a.created_at.isoformat())
                for a in staff.list()]

    @app.get("/api/v1/calls", response_model=CallPage, responses={**refusals, 400: {"model": Problem}})
    def calls_api(
        session: QaApi,
        since: Annotated[str | None, Query(description="only calls started from then: 2026-12-01, an ISO datetime, or 7d ago")] = None,
        urgent: Annotated[Literal["yes", "no"] | None, Query(description="yes: only calls flagged urgent; no: only the others")] = None,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = CALLS_PER_PAGE,
        transferred: Annotated[str | None, Query(description="yes: only calls handed to a person; no: only the others")] = None,
        node: Annotated[str | None, Query(description="only calls where the agent replied from this graph node")] = None,
        emotion: Annotated[str | None, Query(
            description=f"negative, neutral or positive: the call's final valence below {NEGATIVE_VALENCE}, between, "
                        f"or above {POSITIVE_VALENCE} (calls without a final reading match none)")] = None,
        burst: Annotated[str | None, Query(description="only calls with a segment scored with this burst (sigh, laugh, cry, ...)")] = None,
    ) -> CallPage:
        """Calls, newest first, without PHI (no numbers, slots or words). Every filter narrows the
        list; a value it does not know is a 400; ``next_cursor`` pages within the same filters."""
        return call_page(session, since, urgent, cursor, limit, transferred, node, emotion, burst)

    @app.get("/api/v1/calls/{call_id}", response_model=CallDetail, responses={**refusals, 404: {"model": Problem}})
    def call_api(session: QaApi, call_id: str) -> CallDetail:
        """One call in full: replies with their expression and why, turn timings, actions (with
        slot values: PHI), work items, the emotional timeline; audited."""
        return call_detail(session, call_id)

    @app.get("/api/v1/calls/{call_id}/similar", response_model=SimilarResult,
             responses={**refusals, 400: {"model": Problem}, 404: {"model": Problem}, 503: {"model": Problem}})
    def similar_api(
        session: QaApi, call_id: str,
        k: Annotated[int, Query(ge=1, le=MAX_K, description="how many calls")] = SIMILAR_ON_PAGE,
    ) -> SimilarResult:
        """The calls that sounded most like this one, best first, by the audio embedding (how things
        were said, never what): a call's score is the mean, over this call's segments, of each one's
        best similarity to any of that call's; each comes with its best moments. No PHI; audited
        (``similar``) before it is answered. 400: this call has no scored caller audio; 503: the
        console has no similar-call index."""
        if similar_search is None:
            raise HTTPException(503, "the similar-call search is not configured in this console (records.index_path)")
        if len(call_id) > 64:
            raise HTTPException(404, "no such call")
        audit(store, session.staff, Via.CONSOLE, "similar", call_id=call_id, detail=f"k={k}")
        try:
            return similar_search.search(call_id, k)
        except NotFound:
            raise HTTPException(404, "no such call (wrong id, or purged after records.retention_days)") from None
        except QueryError as exc:
            raise HTTPException(400, str(exc)) from None

    @app.get("/api/v1/graph/live", response_model=LiveRow, responses=refusals)
    def graph_live(session: QaApi) -> LiveRow:
        """The calls in progress and, per graph node, how many are there now (the node of each one's
        latest reply), from the records every server writes as it goes. No PHI; not audited."""
        live = live_nodes(store)
        return LiveRow(calls=live.calls, nodes=live.nodes)

    @app.get("/api/v1/nodes/effects", response_model=list[NodeEffectRow], responses={**refusals, 400: {"model": Problem}})
    def effects_api(
        session: QaApi,
        since: Annotated[str | None, Query(description="calls started from then (default 30d ago)")] = None,
    ) -> list[NodeEffectRow]:
        """Per graph node: how callers' valence moved in the 30 s after the agent spoke from it,
        worst first (no PHI: node names, counts, valences)."""
        return [NodeEffectRow(**e.as_dict()) for e in effects(since)]

    @app.post("/api/v1/webrtc/offer", response_model=Answer,
              responses={**refusals, 400: {"model": Problem}, 413: {"model": Problem}, 503: {"model": Problem}})
    async def webrtc_offer(request: Request, session: QaApi) -> Answer:
        """Place a browser call: the page's SDP offer (with every ICE candidate: no trickle) in,
        the agent's answer out. The call runs through the same call runtime as a SIP call, and
        its live state arrives on the offer's ``bedside`` data channel. Needs the X-CSRF-Token."""
        if browser_calls is None:
            raise HTTPException(503, "browser calls need the console inside `bedside serve` (console.enabled=true)")
        if browser_calls.max_calls == 0:
            raise HTTPException(503, "browser calls are off here (webrtc.max_calls is 0)")
        body = await read_body(request, browser_calls.max_offer_bytes + 1024, "offer")
        try:
            offer = Offer.model_validate(json.loads(body))
        except (ValueError, RecursionError):  # json's and pydantic's; RecursionError: "[[[[..." nested too deep
            raise HTTPException(400, 'expected {"type": "offer", "sdp": "..."}') from None
        try:
            answer = await browser_calls.answer(offer.sdp, session.staff)
        except OfferRefused as exc:
            raise HTTPException(exc.status, exc.reason) from None
        try:
            await run_in_threadpool(audit, store, session.staff, Via.CONSOLE, "browser_call", answer.call_id)
        except BaseException:
            await browser_calls.hang_up(answer.call_id)  # unaudited, it does not happen: no half-placed call
            raise
        return Answer(sdp=answer.sdp, type="answer", call_id=answer.call_id)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(session: QaApi) -> JSONResponse:
        return JSONResponse(app.openapi())

    # -- corrections ---------------------------------------------------------------------------
    def correct(session: StaffSession, call_id: str, request: CorrectionRequest) -> Correction:
        """Keep a correction (audited by add_correction): 404 for no such call, 400 with the reason
        for one that cannot be kept."""
        if len(call_id) > 64:
            raise HTTPException(404, "no such call")
        try:
            return add_correction(store, call_id, staff=session.staff, via=Via.CONSOLE, target=request.target,
                                  seq=request.seq, at_s=request.at_s, affect=request.affect, burst=request.burst)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except CorrectionError as exc:
            raise HTTPException(400, str(exc)) from None

    @app.post("/api/v1/calls/{call_id}/corrections", status_code=201, response_model=CorrectionRow,
              responses={**refusals, 400: {"model": Problem}, 404: {"model": Problem}})
    def correct_api(session: QaApi, call_id: str, request: CorrectionRequest) -> CorrectionRow:
        """QA's correction of a segment (2 s of the caller's audio) or an utterance (the words'
        reading): an affect (neutral, positive, negative, distressed) and/or a burst type. Kept
        with who and when and what the models read; `bedside emotion calibrate` learns from them."""
        return CorrectionRow(**correct(session, call_id, request).as_dict())

    @app.post("/calls/{call_id}/corrections", include_in_schema=False)
    async def correct_form(request: Request, call_id: str) -> Response:
        """The review page's form: a moment by its time in the call ("1:05" or "65"), what it was.
        Saved: back to the review's corrections; refused: the review again, saying why (400)."""
        session, form = await form_post(request, StaffRole.QA, "this page needs the qa role")

        def field(name: str) -> str:
            return ((form.get(name) or [""])[0]).strip()

        try:
            request_ = CorrectionRequest(target=field("target") or "segment", at_s=clock_seconds(field("at")),
                                         affect=field("affect") or None, burst=field("burst") or None)
        except ValueError:  # clock_seconds', and pydantic's ValidationError is one
            return await run_in_threadpool(review, session, call_id, 400, "the time is m:ss or seconds; the choices are the lists'")
        try:
            await run_in_threadpool(correct, session, call_id, request_)
        except HTTPException as exc:
            if exc.status_code == 404:
                raise
            return await run_in_threadpool(review, session, call_id, 400, exc.detail)
        return RedirectResponse(f"/calls/{quote(call_id, safe='')}#corrections", status_code=303)

    @app.get("/api/v1/calls/{call_id}/corrections", response_model=list[CorrectionRow], responses=refusals)
    def corrections_api(session: QaApi, call_id: str) -> list[CorrectionRow]:
        """Every correction of a call, oldest first (a later one for the same moment wins)."""
        return [CorrectionRow(**c.as_dict()) for c in corrections_for(store, call_id[:64])]

    return app


def clock_seconds(text: str) -> float:
    """ "1:05", "65" or "65.5" -> seconds into the call; ValueError otherwise."""
    minutes, _, seconds = text.rpartition(":")
    value = (int(minutes) * 60 if minutes else 0) + float(seconds)
    if not 0 <= value <= 24 * 3600 or (minutes and not 0 <= float(seconds) < 60):
        raise ValueError(f"not a time in the call: {text[:16]!r}")
    return value


def check_exposure(config: ConsoleConfig, certfile: str | None) -> None:
    """ValueError for plain HTTP beyond loopback (the console shows PHI)."""
    if certfile is None and not is_loopback(config.host):
        raise ValueError(f"console.host {config.host} is not loopback and there is no certificate: the console shows PHI, "
                         "so beyond this machine it speaks TLS only (or keep 127.0.0.1 behind a TLS reverse proxy)")


def _uvicorn_config(config: ConsoleConfig, store: RecordStore, certfile: str | None, keyfile: str | None,
                    browser_calls: BrowserCalls | None = None, index_path: Path | None = None, graph_path: Path | None = None,
                    similar_search: SimilarSearch | None = None):
    import uvicorn

    app = create_app(config, store, browser_calls=browser_calls, index_path=index_path, graph_path=graph_path,
                     similar_search=similar_search)
    return uvicorn.Config(app, host=config.host, port=config.port, ssl_certfile=certfile, ssl_keyfile=keyfile,
                          log_level="warning", access_log=False, server_header=False)


def serve(config: ConsoleConfig, store: RecordStore, *, certfile: str | None = None, keyfile: str | None = None,
          index_path: Path | None = None, graph_path: Path | None = None) -> int:
    """``bedside console``: run the console with uvicorn until interrupted (ValueError: refused).
    ``index_path``: the records' similar-call index (``RecordsConfig.index_path()``); ``graph_path``:
    the conversation graph the servers run (``graph.file``)."""
    import uvicorn

    certfile, keyfile = certfile or config.certfile, keyfile or config.keyfile
    check_exposure(config, certfile)
    server = uvicorn.Server(_uvicorn_config(config, store, certfile, keyfile, index_path=index_path, graph_path=graph_path))
    scheme = "https" if certfile else "http"
    print(f"QA console on {scheme}://{config.host}:{config.port}/ (accounts: bedside users add NAME --role qa|admin)", flush=True)
    server.run()
    return 0


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP listening socket whose ``proto`` is IPPROTO_TCP. asyncio sets TCP_NODELAY on accepted
    connections only when it is (``socket.create_server`` leaves it 0): without it every small
    response on a kept-alive connection waits ~40 ms for a delayed ACK (measured: 44-48 ms for
    /api/v1/me and the call list, 5 ms with it)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


__all__ = ["BrowserCalls", "check_exposure", "create_app", "listening_socket", "serve"]
