"""The console over real HTTP (uvicorn on loopback, SQLite store): every page and API route refuses
a request without a live session, sign-in sets a HttpOnly SameSite=Strict cookie and is audited,
state changes need the same origin and the session's CSRF token, roles are enforced, and a wrong
password, an unknown name and a locked account all get the same answer."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from agent.app.console.app import GENERIC_REFUSAL, MAX_FORM_BYTES, SECURITY_HEADERS, clock_seconds, create_app
from agent.app.console.config import ConsoleConfig
from agent.services.records import queries
from agent.services.records.staff import LOCK_AFTER, StaffDirectory
from agent.services.records.store import StoreError
from telephony.webrtc_gateway import BrowserAnswer, OfferRefused
from tests.agent.app.test_records_api import served  # noqa: F401 - uvicorn in a thread
from tests.agent.services.records.test_queries import PATIENT, add_call, add_shaped_call, caller_of, make_store
from tests.agent.services.records.test_similar_calls import add_call as add_voiced_call
from tests.agent.services.records.test_similar_calls import clinic

PASSWORD = "correct horse battery"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PAGES = ("/", "/staff", "/calls", "/nodes", "/graph", "/softphone")
API = ("/api/v1/me", "/api/v1/staff", "/api/v1/calls", "/api/v1/nodes/effects", "/api/openapi.json")


@pytest.fixture
def console(tmp_path: Path, served: Callable[[FastAPI], str]) -> Iterator[tuple[str, StaffDirectory]]:  # noqa: F811
    store = make_store(tmp_path)
    staff = StaffDirectory(store, FAST)
    staff.add("dana", "admin", PASSWORD, by="test")
    staff.add("lee", "qa", PASSWORD + "!", by="test")
    yield served(create_app(ConsoleConfig(), store, staff)), staff
    store.dispose()


def client(base: str) -> httpx2.Client:
    return httpx2.Client(base_url=base, timeout=10, follow_redirects=False)


def sign_in(c: httpx2.Client, base: str, name: str, password: str) -> httpx2.Response:
    return c.post("/login", data={"name": name, "password": password}, headers={"Origin": base})


def test_nothing_answers_without_a_session(console: tuple[str, StaffDirectory]) -> None:
    base, _ = console
    with client(base) as c:
        for path in PAGES:
            r = c.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/login", path
        for path in API:
            assert c.get(path).status_code == 401, path
        c.cookies.set("bedside_session", "forged-token")
        assert c.get("/api/v1/me").status_code == 401
        assert c.get("/").status_code == 303
        assert c.get("/login").status_code == 200 and c.get("/api/v1/health").json() == {"status": "ok"}


def test_sign_in_sets_a_strict_httponly_cookie_and_is_audited(console: tuple[str, StaffDirectory]) -> None:
    base, staff = console
    with client(base) as c:
        r = sign_in(c, base, "lee", PASSWORD + "!")
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"].lower()
        assert cookie.startswith("bedside_session=") and "httponly" in cookie and "samesite=strict" in cookie
        home = c.get("/")
        assert home.status_code == 200 and "lee" in home.text and "qa" in home.text
        for name, value in SECURITY_HEADERS.items():
            assert home.headers[name] == value
        me = c.get("/api/v1/me").json()
        assert (me["name"], me["role"]) == ("lee", "qa") and len(me["csrf"]) >= 32
        assert "paths" in c.get("/api/openapi.json").json()
        assert c.get("/login").status_code == 303  # already signed in
    rows = [(e.actor, e.via, e.what) for e in queries.audit_entries(staff.store)]
    assert ("lee", "console", "sign_in") in rows


def test_wrong_password_unknown_name_and_locked_account_answer_alike(console: tuple[str, StaffDirectory]) -> None:
    base, staff = console
    with client(base) as c:
        answers = [sign_in(c, base, "lee", "wrong password!!"), sign_in(c, base, "nobody", PASSWORD)]
        for _ in range(LOCK_AFTER):
            sign_in(c, base, "dana", "wrong password!!")
        answers.append(sign_in(c, base, "dana", PASSWORD))  # right password, locked account
        for r in answers:
            assert r.status_code == 401 and GENERIC_REFUSAL in r.text and "set-cookie" not in r.headers
            assert PASSWORD not in r.text
        assert c.get("/api/v1/me").status_code == 401


def test_state_changes_need_this_origin_and_the_session_csrf_token(console: tuple[str, StaffDirectory]) -> None:
    base, _ = console
    with client(base) as c:
        assert c.post("/login", data={"name": "lee", "password": PASSWORD + "!"},
                      headers={"Origin": "https://evil.example"}).status_code == 403  # login CSRF
        assert c.post("/login", data={"name": "lee", "password": PASSWORD + "!"}).status_code == 403  # no Origin at all
        assert sign_in(c, base, "lee", PASSWORD + "!").status_code == 303
        csrf = c.get("/api/v1/me").json()["csrf"]
        assert c.post("/logout", headers={"Origin": base}).status_code == 403  # no token
        assert c.post("/logout", data={"csrf": "forged"}, headers={"Origin": base}).status_code == 403
        assert c.post("/logout", data={"csrf": csrf}, headers={"Origin": "https://evil.example"}).status_code == 403
        assert c.get("/api/v1/me").status_code == 200  # none of those signed the session out
        r = c.post("/logout", data={"csrf": csrf}, headers={"Origin": base})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert c.get("/api/v1/me").status_code == 401


def test_roles_are_enforced_on_pages_and_api(console: tuple[str, StaffDirectory]) -> None:
    base, _ = console
    with client(base) as qa, client(base) as admin:
        sign_in(qa, base, "lee", PASSWORD + "!")
        sign_in(admin, base, "dana", PASSWORD)
        assert qa.get("/staff").status_code == 403 and qa.get("/api/v1/staff").status_code == 403
        assert "/staff" not in qa.get("/").text  # no link to what the role cannot open
        page = admin.get("/staff")
        assert page.status_code == 200 and "lee" in page.text and "dana" in page.text
        assert [(r["name"], r["role"]) for r in admin.get("/api/v1/staff").json()] == [("dana", "admin"), ("lee", "qa")]


def test_an_oversized_or_malformed_sign_in_is_refused_unread(console: tuple[str, StaffDirectory]) -> None:
    base, _ = console
    with client(base) as c:
        big = c.post("/login", content=b"name=lee&password=" + b"x" * (MAX_FORM_BYTES * 50),
                     headers={"Origin": base, "Content-Type": "application/x-www-form-urlencoded"})
        assert big.status_code == 413
        bad = c.post("/login", content=b"name=\xff\xfe", headers={"Origin": base, "Content-Type": "application/x-www-form-urlencoded"})
        assert bad.status_code == 400
        assert sign_in(c, base, "lee", PASSWORD + "!").status_code == 303  # and the server still answers


def test_the_call_list_filters_pages_shows_no_phi_and_is_audited(console: tuple[str, StaffDirectory]) -> None:
    base, staff = console
    now = datetime.now(UTC).replace(microsecond=0)
    add_call(staff.store, "call-old", now - timedelta(days=12))
    add_call(staff.store, "call-urgent", now - timedelta(days=1), urgent=True)
    add_call(staff.store, "call-plain", now - timedelta(hours=2), callback=False)
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        page = c.get("/calls")
        assert page.status_code == 200
        assert page.text.index("call-plain") < page.text.index("call-urgent") < page.text.index("call-old")
        for phi in (PATIENT, caller_of("call-urgent"), "+1555"):
            assert phi not in page.text
        recent = c.get("/calls", params={"since": "7d"}).text
        assert "call-old" not in recent and "call-urgent" in recent
        urgent = c.get("/api/v1/calls", params={"urgent": "yes"}).json()
        assert [x["id"] for x in urgent["calls"]] == ["call-urgent"] and urgent["calls"][0]["urgent"] is True
        first = c.get("/api/v1/calls", params={"limit": 2}).json()
        older = c.get("/api/v1/calls", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        assert [x["id"] for x in first["calls"] + older["calls"]] == ["call-plain", "call-urgent", "call-old"]
        assert older["next_cursor"] is None
        bad = c.get("/calls", params={"since": "last tuesday"})
        assert bad.status_code == 400 and 'id="error"' in bad.text
        assert c.get("/api/v1/calls", params={"since": "last tuesday"}).status_code == 400
    reads = [(e.actor, e.via, e.what) for e in queries.audit_entries(staff.store) if e.what == "list"]
    assert reads == [("lee", "console", "list")] * 5  # every page shown; a refused filter showed nothing


def test_the_review_page_draws_the_call_and_shows_what_staff_act_on(console: tuple[str, StaffDirectory]) -> None:
    base, staff = console
    add_call(staff.store, "call-urgent", datetime.now(UTC) - timedelta(hours=1), urgent=True)
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        assert 'href="/calls/call-urgent"' in c.get("/calls").text
        page = c.get("/calls/call-urgent")
        assert page.status_code == 200
        text = page.text
        assert '<svg xmlns="http://www.w3.org/2000/svg"' in text and 'class="valence"' in text and 'class="burst"' in text
        assert "caller_distressed" in text and "790 ms" in text  # the reply's why, the turn's first audio
        assert "urgent" in text and "callback" in text and PATIENT in text  # the call-back's slots: what staff act on
        detail = c.get("/api/v1/calls/call-urgent").json()
        assert detail["id"] == "call-urgent" and detail["actions"][0]["kind"] == "urgency"
        assert c.get("/calls/no-such-call").status_code == 404
        assert c.get("/api/v1/calls/" + "x" * 100).status_code == 404
    shows = [(e.actor, e.via, e.call_id) for e in queries.audit_entries(staff.store) if e.what == "show"]
    assert sorted(shows, key=str) == sorted([("lee", "console", "call-urgent")] * 2 + [("lee", "console", "no-such-call")], key=str)


def test_the_call_list_filters_by_transfer_node_emotion_and_burst(
    console: tuple[str, StaffDirectory], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent.app.console import app as console_app

    base, staff = console
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=10)
    add_shaped_call(staff.store, "c-billing", now, nodes=("start", "billing"), bursts=("sigh",), valence=-0.4)
    for i in range(3):  # three that match every filter below, an hour apart, around one that does not
        add_shaped_call(staff.store, f"c-triage-{i}", now + timedelta(hours=2 * i + 1), nodes=("start", "triage"),
                        bursts=("none", "sigh"), transferred=True, valence=-0.3)
    add_shaped_call(staff.store, "c-calm", now + timedelta(hours=2), nodes=("triage",), bursts=("laugh",), transferred=True,
                    valence=0.05)
    every = {"transferred": "yes", "node": "triage", "emotion": "negative", "burst": "sigh"}
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        api = c.get("/api/v1/calls", params=every).json()
        assert [x["id"] for x in api["calls"]] == ["c-triage-2", "c-triage-1", "c-triage-0"]
        assert [x["id"] for x in c.get("/api/v1/calls", params={"transferred": "no"}).json()["calls"]] == ["c-billing"]
        assert [x["id"] for x in c.get("/api/v1/calls", params={"emotion": "neutral"}).json()["calls"]] == ["c-calm"]
        assert [x["id"] for x in c.get("/api/v1/calls", params={"burst": "laugh"}).json()["calls"]] == ["c-calm"]
        assert [x["id"] for x in c.get("/api/v1/calls", params={"node": "billing"}).json()["calls"]] == ["c-billing"]
        first = c.get("/api/v1/calls", params={**every, "limit": 2}).json()  # the cursor pages within the filters
        rest = c.get("/api/v1/calls", params={**every, "limit": 2, "cursor": first["next_cursor"]}).json()
        assert [x["id"] for x in first["calls"] + rest["calls"]] == ["c-triage-2", "c-triage-1", "c-triage-0"]
        assert rest["next_cursor"] is None
        empty = {"transferred": "", "node": "", "emotion": "", "burst": ""}  # the form's "all calls"
        assert len(c.get("/api/v1/calls", params=empty).json()["calls"]) == 5

        for bad, says in ((("transferred", "maybe"), "yes or no"), (("emotion", "angry"), "negative, neutral, positive"),
                          (("node", "n" * 101), "at most 100"), (("burst", "none"), "name a burst"),
                          (("burst", "b" * 33), "at most 32")):
            r = c.get("/api/v1/calls", params=dict([bad]))
            assert r.status_code == 400 and says in r.json()["detail"], bad
            page = c.get("/calls", params=dict([bad]))
            assert page.status_code == 400 and 'id="error"' in page.text and says in page.text, bad

        monkeypatch.setattr(console_app, "CALLS_PER_PAGE", 2)
        page = c.get("/calls", params={**every, "since": "2d", "urgent": "no"})
        assert page.status_code == 200
        text = page.text
        assert "c-triage-2" in text and "c-triage-1" in text and "c-triage-0" not in text and "c-calm" not in text
        for option in ('<option value="yes" selected', '<option value="triage" selected', '<option value="negative" selected',
                       '<option value="sigh" selected', '<option value="no" selected'):
            assert option in text, option
        assert '<option value="billing" ' in text and '<option value="start" ' in text  # every node replied from
        assert 'value="2d"' in text
        href = text.split('id="older" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        query = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
        assert query.pop("cursor") and query == {**every, "since": "2d", "urgent": "no"}  # the link carries every filter
        older = c.get(href).text
        assert "c-triage-0" in older and "c-triage-1" not in older and "c-billing" not in older and 'id="older"' not in older
        none = c.get("/calls", params={"node": "nowhere"}).text
        assert 'id="no-calls"' in none and "match these filters" in none
        assert '<option value="nowhere" selected' in none  # a node no call reached is kept, not silently reset
    lists = [e.detail for e in queries.audit_entries(staff.store) if e.what == "list"]
    assert "shown=3 transferred=True node=triage emotion=negative burst=sigh" in lists
    assert "shown=2 since=2d urgent=False transferred=True node=triage emotion=negative burst=sigh" in lists


def test_the_call_list_without_replies_still_offers_the_node_filter(console: tuple[str, StaffDirectory]) -> None:
    base, _ = console
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        page = c.get("/calls")
        assert page.status_code == 200 and '<select name="node">' in page.text and 'id="no-calls"' in page.text
        assert "match these filters" not in page.text


# -- calls that sounded like this ------------------------------------------------------------------


@pytest.fixture
def voiced(tmp_path: Path, served: Callable[[FastAPI], str]) -> Iterator[tuple[str, StaffDirectory]]:  # noqa: F811
    """A console with the similar-call index, over five calls with embedded segments (the query
    call, a near copy of it, two that share some of its manners, one unlike it) and one without."""
    store = make_store(tmp_path)
    staff = StaffDirectory(store, FAST)
    staff.add("lee", "qa", PASSWORD + "!", by="test")
    clinic(store)
    add_shaped_call(store, "unscored", datetime(2026, 11, 2, 15, 0, tzinfo=UTC), nodes=("start",))
    yield served(create_app(ConsoleConfig(), store, staff, index_path=tmp_path / "similar.index")), staff
    store.dispose()


def test_the_review_page_and_api_show_the_calls_that_sounded_most_alike(voiced: tuple[str, StaffDirectory]) -> None:
    base, staff = voiced
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        result = c.get("/api/v1/calls/query/similar").json()
        assert result["query_call_id"] == "query" and result["k"] == 5 and result["query_segments"] == 5
        found = [x["call_id"] for x in result["calls"]]
        assert found[0] == "copy" and set(found) == {"copy", "one-manner", "two-manners", "unlike"}  # never itself
        assert result["calls"][0]["score"] > 0.9 and result["calls"][0]["moments"][0]["similarity"] > 0.9
        assert [x["call_id"] for x in c.get("/api/v1/calls/query/similar", params={"k": 1}).json()["calls"]] == ["copy"]

        page = c.get("/calls/query")
        assert page.status_code == 200
        text = page.text.split("<h2>Calls that sounded like this</h2>", 1)[1].split("<h2>Actions</h2>", 1)[0]
        assert 'id="similar"' in text and 'id="similar-note"' not in text
        assert text.index('data-call="copy"') < text.index('data-call="one-manner"')
        assert text.index('data-call="copy"') < text.index('data-call="unlike"')
        assert 'href="/calls/copy"' in text and "0:00 here ≈ 0:00 there" in text and "0:08 here ≈ 0:20 there" in text
        assert "urgent" in text and "sigh" in text  # the copy was flagged urgent; its second moment had a sigh

        assert c.get("/api/v1/calls/nobody/similar").status_code == 404
        assert c.get("/api/v1/calls/" + "x" * 100 + "/similar").status_code == 404
        assert c.get("/api/v1/calls/query/similar", params={"k": 0}).status_code == 422
        paths = c.get("/api/openapi.json").json()["paths"]
        assert "get" in paths["/api/v1/calls/{call_id}/similar"]
    reads = [(e.actor, e.via, e.call_id, e.detail) for e in queries.audit_entries(staff.store) if e.what == "similar"]
    assert sorted(reads, key=str) == sorted([("lee", "console", "query", "k=5"), ("lee", "console", "query", "k=1"),
                                             ("lee", "console", "nobody", "k=5")], key=str)


def test_a_call_without_scored_audio_gets_a_note_not_an_error(voiced: tuple[str, StaffDirectory]) -> None:
    base, _ = voiced
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        page = c.get("/calls/unscored")
        assert page.status_code == 200 and 'id="similar-note"' in page.text and 'id="similar"' not in page.text
        assert "No scored caller audio" in page.text
        r = c.get("/api/v1/calls/unscored/similar")
        assert r.status_code == 400 and "no audio embeddings" in r.json()["detail"]


def test_a_broken_search_never_breaks_the_review_page(voiced: tuple[str, StaffDirectory], monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.app.console import similar_search

    def store_down(*args, **kwargs) -> None:
        raise StoreError("records database unreachable")

    base, _ = voiced
    monkeypatch.setattr(similar_search, "similar_to_call", store_down)
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        page = c.get("/calls/query")
        assert page.status_code == 200 and "unavailable just now" in page.text and 'id="replies"' in page.text
        assert c.get("/api/v1/calls/query/similar").status_code == 503  # the API says so plainly


def test_similar_calls_need_a_session(voiced: tuple[str, StaffDirectory]) -> None:
    base, _ = voiced
    with client(base) as c:
        assert c.get("/api/v1/calls/query/similar").status_code == 401
        r = c.get("/calls/query")
        assert r.status_code == 303 and r.headers["location"] == "/login"


def test_a_console_without_the_index_says_the_search_is_not_configured(console: tuple[str, StaffDirectory]) -> None:
    base, staff = console
    add_voiced_call(staff.store, "voiced", datetime.now(UTC) - timedelta(hours=1), [[1.0] * 64, [0.5] * 64])
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        page = c.get("/calls/voiced")
        assert page.status_code == 200 and "not configured" in page.text and 'id="similar"' not in page.text
        r = c.get("/api/v1/calls/voiced/similar")
        assert r.status_code == 503 and "not configured" in r.json()["detail"]


def test_the_console_inside_bedside_serve_searches_in_a_child_and_never_loads_faiss(tmp_path: Path) -> None:
    """FAISS beside pjsua2 (both SWIG) in ``bedside serve``'s front made it stop answering calls and
    crash: the console's app is built as the server builds it, in a fresh interpreter that has
    loaded the server (and so pjsua2); its similar-call search answers from a child process, and
    FAISS is never among the interpreter's own modules."""
    import subprocess
    import sys


    script = f"""
import socket, sys
import agent.app.server
from agent.app.config import load_config
from agent.app.console.app import create_app
from agent.app.console.config import ConsoleConfig
from agent.app.console.similar_search import ChildProcessSearch
from agent.app.records_cli import open_store
from tests.agent.services.records.test_similar_calls import clinic
records = load_config(overrides={{"records": {{"data_dir": {str(tmp_path)!r}}}}}, environ={{}}).records
store = open_store(records, create=True)
store.migrate()
clinic(store)
search = ChildProcessSearch(records)
app = create_app(ConsoleConfig(), store, similar_search=search)
found = search.search("query", 5)
search.close()
print([c.call_id for c in found.calls], "faiss" in sys.modules, "pjsua2" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[4])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "['copy', 'two-manners', 'one-manner', 'unlike'] False True"


def test_where_calls_go_wrong_lists_the_worst_node_first(console: tuple[str, StaffDirectory]) -> None:
    from tests.agent.services.records.test_node_effects import add

    base, staff = console
    now = datetime.now(UTC) - timedelta(hours=1)
    add(staff.store, "call-a", now, [(10.0, "billing"), (25.0, "results")], [(5.0, 0.1, True), (20.0, 0.1, True), (45.0, -0.4, True)])
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        rows = c.get("/api/v1/nodes/effects").json()
        assert [(r["node"], r["drop_share"]) for r in rows] == [("results", 1.0), ("billing", 0.0)]
        page = c.get("/nodes").text
        assert page.index('data-node="results"') < page.index('data-node="billing"')
        assert 'class="worse"' in page and "-0.50" in page
        assert c.get("/nodes", params={"since": "whenever"}).status_code == 400
        assert c.get("/api/v1/nodes/effects", params={"since": "1d"}).json()[0]["node"] == "results"


def test_a_dead_store_is_a_clear_503_not_a_crash(tmp_path: Path, served: Callable[[FastAPI], str]) -> None:  # noqa: F811
    from agent.services.records.crypto import KeyRing, new_key
    from agent.services.records.store import RecordStore

    store = RecordStore(f"sqlite:///{tmp_path / 'missing' / 'records.sqlite3'}", KeyRing.of([new_key()], "test"))
    base = served(create_app(ConsoleConfig(), store, StaffDirectory(store, FAST)))
    with client(base) as c:
        assert c.get("/login").status_code == 200  # the sign-in page needs no store
        r = sign_in(c, base, "lee", PASSWORD)
        assert r.status_code == 503 and r.json()["detail"].startswith("records store unavailable")
        c.cookies.set("bedside_session", "some-token")
        assert c.get("/api/v1/me").status_code == 503
    store.dispose()


async def test_the_embedded_console_socket_gets_tcp_nodelay_on_every_connection() -> None:
    """asyncio sets TCP_NODELAY on accepted connections only when the listening socket's proto is
    IPPROTO_TCP; without it small kept-alive responses waited ~40 ms for a delayed ACK."""
    import asyncio
    import socket

    from agent.app.console.app import listening_socket

    sock = listening_socket("127.0.0.1", 0)
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
    reader, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
    assert await asyncio.wait_for(seen, 5) == 1
    writer.close()
    server.close()
    await server.wait_closed()


# -- browser calls: POST /api/v1/webrtc/offer and the /softphone page ------------------------------

OFFER_SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
ANSWER_SDP = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


class FakeBrowserCalls:
    """The WebRTC gateway as the console sees it: limits, and answer() that records what it was given."""

    def __init__(self, max_calls: int = 2, max_offer_bytes: int = 2048, refuse: OfferRefused | None = None) -> None:
        self.max_calls = max_calls
        self.max_offer_bytes = max_offer_bytes
        self.refuse = refuse
        self.offers: list[tuple[str, str]] = []
        self.hung_up: list[str] = []

    async def answer(self, offer_sdp: str, caller: str) -> BrowserAnswer:
        self.offers.append((offer_sdp, caller))
        if self.refuse is not None:
            raise self.refuse
        return BrowserAnswer(f"wr-{len(self.offers):04d}", ANSWER_SDP)

    async def hang_up(self, call_id: str) -> None:
        self.hung_up.append(call_id)


Softphone = Callable[..., tuple[str, StaffDirectory]]


@pytest.fixture
def softphone(tmp_path: Path, served: Callable[[FastAPI], str]) -> Iterator[Softphone]:  # noqa: F811
    """A console app with the given browser calls (None: the console runs alone); -> (base URL, staff)."""
    store = make_store(tmp_path)
    staff = StaffDirectory(store, FAST)
    staff.add("lee", "qa", PASSWORD + "!", by="test")

    def start(browser_calls: FakeBrowserCalls | None, config: ConsoleConfig | None = None) -> tuple[str, StaffDirectory]:
        return served(create_app(config or ConsoleConfig(), store, staff, browser_calls=browser_calls)), staff

    yield start
    store.dispose()


def signed_in(c: httpx2.Client, base: str) -> dict[str, str]:
    """Sign lee in; the headers a same-origin POST with the session's CSRF token carries."""
    assert sign_in(c, base, "lee", PASSWORD + "!").status_code == 303
    return {"Origin": base, "X-CSRF-Token": c.get("/api/v1/me").json()["csrf"]}


def offer_audits(staff: StaffDirectory) -> list[tuple[str, str, str | None]]:
    return [(e.actor, e.via, e.call_id) for e in queries.audit_entries(staff.store) if e.what == "browser_call"]


def test_a_browser_offer_is_answered_for_the_signed_in_staff_member_and_audited(softphone: Softphone) -> None:
    calls = FakeBrowserCalls()
    base, staff = softphone(calls)
    with client(base) as c:
        headers = signed_in(c, base)
        r = c.post("/api/v1/webrtc/offer", json={"type": "offer", "sdp": OFFER_SDP}, headers=headers)
        assert r.status_code == 200
        assert r.json() == {"sdp": ANSWER_SDP, "type": "answer", "call_id": "wr-0001"}
        for name, value in SECURITY_HEADERS.items():
            assert r.headers[name] == value
    assert calls.offers == [(OFFER_SDP, "lee")]  # the SDP unchanged; the caller is the staff name, never PHI
    assert offer_audits(staff) == [("lee", "console", "wr-0001")]


def test_a_browser_call_that_cannot_be_audited_is_hung_up_and_refused(softphone: Softphone, monkeypatch) -> None:
    from agent.app.console import app as console_app

    calls = FakeBrowserCalls()
    base, _ = softphone(calls)
    with client(base) as c:
        headers = signed_in(c, base)

        def store_down(*args, **kwargs) -> None:
            raise StoreError("records database unreachable")

        monkeypatch.setattr(console_app, "audit", store_down)
        r = c.post("/api/v1/webrtc/offer", json={"type": "offer", "sdp": OFFER_SDP}, headers=headers)
        assert r.status_code == 503 and "unreachable" in r.json()["detail"]
    assert calls.hung_up == ["wr-0001"]


def test_a_browser_offer_needs_a_session_this_origin_and_the_csrf_token(softphone: Softphone) -> None:
    calls = FakeBrowserCalls()
    base, staff = softphone(calls)
    offer = {"type": "offer", "sdp": OFFER_SDP}
    with client(base) as c:
        signed_out = c.post("/api/v1/webrtc/offer", json=offer, headers={"Origin": base})
        assert signed_out.status_code == 401
        headers = signed_in(c, base)
        assert c.post("/api/v1/webrtc/offer", json=offer, headers={"Origin": base}).status_code == 403  # no token
        assert c.post("/api/v1/webrtc/offer", json=offer,
                      headers={**headers, "X-CSRF-Token": "forged"}).status_code == 403
        cross = c.post("/api/v1/webrtc/offer", json=offer, headers={**headers, "Origin": "https://evil.example"})
        assert cross.status_code == 403 and "cross-site" in cross.json()["detail"]
        no_origin = c.post("/api/v1/webrtc/offer", json=offer, headers={"X-CSRF-Token": headers["X-CSRF-Token"]})
        assert no_origin.status_code == 403
    assert calls.offers == [] and offer_audits(staff) == []


@pytest.mark.parametrize("body", [
    b"v=0\r\n",  # the bare SDP, not the JSON envelope
    b"{\"type\": \"offer\", \"sdp\": ",  # cut short
    b"\xff\xfe{}",  # not UTF-8
    b"[]",
    b"\"offer\"",
    b"{}",
    b"{\"type\": \"answer\", \"sdp\": \"v=0\"}",
    b"{\"type\": \"offer\", \"sdp\": 5}",
    b"{\"type\": \"offer\"}",
    b"",
    b"[" * 3000,  # nested past Python's recursion limit, well under the size limit
], ids=["sdp", "truncated", "not_utf8", "list", "string", "empty_object", "answer", "sdp_not_text", "no_sdp", "no_body",
        "nested"])
def test_a_browser_offer_that_is_not_the_json_envelope_is_a_400(softphone: Softphone, body: bytes) -> None:
    calls = FakeBrowserCalls()
    base, _ = softphone(calls)
    with client(base) as c:
        headers = signed_in(c, base)
        r = c.post("/api/v1/webrtc/offer", content=body, headers={**headers, "Content-Type": "application/json"})
        assert r.status_code == 400 and '"type": "offer"' in r.json()["detail"]
    assert calls.offers == []


def test_an_offer_larger_than_the_gateway_takes_is_refused_unread_with_413(softphone: Softphone) -> None:
    calls = FakeBrowserCalls(max_offer_bytes=2048)
    base, staff = softphone(calls)
    limit = calls.max_offer_bytes + 1024  # the envelope's allowance on top of the SDP
    with client(base) as c:
        headers = {**signed_in(c, base), "Content-Type": "application/json"}

        def envelope(size: int) -> bytes:
            body = b'{"type": "offer", "sdp": "v=0 "}'
            return body[:-2] + b"x" * (size - len(body)) + body[-2:]

        over = c.post("/api/v1/webrtc/offer", content=envelope(limit + 1), headers=headers)
        assert over.status_code == 413 and over.json()["detail"] == "offer too large"
        huge = c.post("/api/v1/webrtc/offer", content=envelope(limit * 40), headers=headers)
        assert huge.status_code == 413
        assert calls.offers == []
        at_limit = c.post("/api/v1/webrtc/offer", content=envelope(limit), headers=headers)
        assert at_limit.status_code == 200  # the limit itself is still read (the gateway judges the SDP)
        assert len(calls.offers) == 1 and len(calls.offers[0][0]) == limit - len(b'{"type": "offer", "sdp": ""}')
    assert [call_id for _, _, call_id in offer_audits(staff)] == ["wr-0001"]


@pytest.mark.parametrize(("status", "reason"), [
    (503, "2 browser call(s) already up: the limit (webrtc.max_calls)"),
    (400, "not an SDP offer (it must start with v=0)"),
    (413, "the offer is larger than 2048 bytes (webrtc.max_offer_bytes)"),
])
def test_an_offer_the_gateway_refuses_gets_its_status_and_reason_and_no_audit_row(
    softphone: Softphone, status: int, reason: str,
) -> None:
    calls = FakeBrowserCalls(refuse=OfferRefused(status, reason))
    base, staff = softphone(calls)
    with client(base) as c:
        r = c.post("/api/v1/webrtc/offer", json={"type": "offer", "sdp": OFFER_SDP}, headers=signed_in(c, base))
        assert r.status_code == status and r.json() == {"detail": reason}
    assert calls.offers == [(OFFER_SDP, "lee")] and offer_audits(staff) == []


def test_a_console_without_browser_calls_says_they_need_bedside_serve(softphone: Softphone) -> None:
    base, staff = softphone(None)
    with client(base) as c:
        r = c.post("/api/v1/webrtc/offer", json={"type": "offer", "sdp": OFFER_SDP}, headers=signed_in(c, base))
        assert r.status_code == 503 and "bedside serve" in r.json()["detail"]
    assert offer_audits(staff) == []


def test_a_gateway_with_max_calls_zero_says_browser_calls_are_off(softphone: Softphone) -> None:
    calls = FakeBrowserCalls(max_calls=0)
    base, staff = softphone(calls)
    with client(base) as c:
        r = c.post("/api/v1/webrtc/offer", json={"type": "offer", "sdp": OFFER_SDP}, headers=signed_in(c, base))
        assert r.status_code == 503 and "webrtc.max_calls" in r.json()["detail"]
    assert calls.offers == [] and offer_audits(staff) == []


def test_the_offer_route_is_in_the_openapi_document(softphone: Softphone) -> None:
    base, _ = softphone(FakeBrowserCalls())
    with client(base) as c:
        signed_in(c, base)
        paths = c.get("/api/openapi.json").json()["paths"]
        assert "post" in paths["/api/v1/webrtc/offer"]


def test_the_softphone_page_offers_a_call_when_browser_calls_are_available(softphone: Softphone) -> None:
    base, _ = softphone(FakeBrowserCalls())
    with client(base) as c:
        signed_in(c, base)
        page = c.get("/softphone")
        assert page.status_code == 200
        assert 'id="call"' in page.text and 'id="unavailable"' not in page.text
        assert 'src="/static/softphone.js"' in page.text and 'data-captions="off"' in page.text
        assert 'id="captions-off"' in page.text
        for name, value in SECURITY_HEADERS.items():
            assert page.headers[name] == value
        assert c.get("/static/softphone.js").status_code == 200


def test_the_softphone_page_shows_captions_only_when_the_console_sends_them(softphone: Softphone) -> None:
    base, _ = softphone(FakeBrowserCalls(), ConsoleConfig(captions=True))
    with client(base) as c:
        signed_in(c, base)
        page = c.get("/softphone").text
        assert 'data-captions="on"' in page and 'id="captions"' in page and 'id="captions-off"' not in page


def test_the_softphone_page_says_why_when_browser_calls_are_unavailable(softphone: Softphone) -> None:
    base, _ = softphone(None)
    with client(base) as c:
        signed_in(c, base)
        page = c.get("/softphone")
        assert page.status_code == 200
        assert 'id="unavailable"' in page.text and 'id="call"' not in page.text and "softphone.js" not in page.text


def test_the_softphone_page_sends_a_signed_out_browser_to_sign_in(softphone: Softphone) -> None:
    base, _ = softphone(FakeBrowserCalls())
    with client(base) as c:
        r = c.get("/softphone")
        assert r.status_code == 303 and r.headers["location"] == "/login"


# ---- corrections -----------------------------------------------------------------------------


def test_a_correction_made_on_the_review_page_is_kept_shown_and_audited(console: tuple[str, StaffDirectory]) -> None:
    base, staff = console
    add_call(staff.store, "call-c", datetime.now(UTC) - timedelta(hours=1))
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        page = c.get("/calls/call-c")
        assert 'id="correct"' in page.text and 'id="no-corrections"' in page.text
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        form = {"csrf": token, "at": "0:02.5", "target": "segment", "affect": "neutral", "burst": "sigh"}
        saved = c.post("/calls/call-c/corrections", data=form, headers={"Origin": base})
        assert saved.status_code == 303 and saved.headers["location"] == "/calls/call-c#corrections"
        table = c.get("/calls/call-c").text
        assert 'id="corrections-table"' in table and 'data-seq="1"' in table and "valence -0.50" in table
        assert "neutral, sigh" in table and ">lee<" in table

        refused = c.post("/calls/call-c/corrections", data={**form, "at": "soon"}, headers={"Origin": base})
        assert refused.status_code == 400 and 'id="correction-error"' in refused.text and "m:ss" in refused.text
        nothing = c.post("/calls/call-c/corrections", data={**form, "affect": "", "burst": ""}, headers={"Origin": base})
        assert nothing.status_code == 400 and "say what it was" in nothing.text
        forged = c.post("/calls/call-c/corrections", data={**form, "csrf": "forged"}, headers={"Origin": base})
        assert forged.status_code == 403
        assert c.post("/calls/no-such/corrections", data=form, headers={"Origin": base}).status_code == 404
    corrections = [e for e in queries.audit_entries(staff.store) if e.what == "correct"]
    assert [(e.actor, e.via, e.call_id) for e in corrections] == [("lee", "console", "call-c")]


def test_the_corrections_api_keeps_lists_and_refuses_with_reasons(console: tuple[str, StaffDirectory]) -> None:
    base, staff = console
    add_call(staff.store, "call-c", datetime.now(UTC) - timedelta(hours=1))
    with client(base) as c:
        assert c.post("/api/v1/calls/call-c/corrections", json={"seq": 0, "affect": "neutral"},
                      headers={"Origin": base}).status_code == 401
        sign_in(c, base, "lee", PASSWORD + "!")
        headers = {"Origin": base, "X-CSRF-Token": c.get("/api/v1/me").json()["csrf"]}
        made = c.post("/api/v1/calls/call-c/corrections", json={"target": "utterance", "seq": 0, "affect": "distressed"},
                      headers=headers)
        assert made.status_code == 201
        body = made.json()
        assert (body["target"], body["seq"], body["affect"], body["staff"], body["model_valence"]) == (
            "utterance", 0, "distressed", "lee", -0.4)
        for wrong, status, words in [
            ({"seq": 0, "affect": "furious"}, 422, "invalid request"),
            ({"seq": 0, "burst": "hiccough"}, 400, "no burst type"),
            ({"seq": 7, "affect": "neutral"}, 400, "no scored segment"),
            ({"affect": "neutral"}, 400, "one of them"),
        ]:
            r = c.post("/api/v1/calls/call-c/corrections", json=wrong, headers=headers)
            assert r.status_code == status and words in r.json()["detail"], r.json()
        assert c.post("/api/v1/calls/nope/corrections", json={"seq": 0, "affect": "neutral"}, headers=headers).status_code == 404
        assert c.post("/api/v1/calls/call-c/corrections", json={"seq": 0, "affect": "neutral"},
                      headers={"Origin": base}).status_code == 403  # no CSRF token
        listed = c.get("/api/v1/calls/call-c/corrections").json()
        assert [(x["target"], x["affect"]) for x in listed] == [("utterance", "distressed")]


@pytest.mark.parametrize(("text", "seconds"), [("65", 65.0), ("1:05", 65.0), ("0:02.5", 2.5), ("12.25", 12.25), ("10:00", 600.0)])
def test_a_time_in_the_call_is_read_as_staff_type_it(text: str, seconds: float) -> None:
    assert clock_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1:75", "-3", "1:-2", "99999999"])
def test_a_time_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        clock_seconds(text)


# ---- the graph page --------------------------------------------------------------------------

CLINIC_GRAPH = Path(__file__).resolve().parents[4] / "configs" / "graphs" / "clinic.yaml"


@pytest.fixture
def graphed(tmp_path: Path, served: Callable[[FastAPI], str]) -> Iterator[tuple[str, StaffDirectory, Path]]:  # noqa: F811
    """A console over a copy of the bundled clinic graph (the file a server would run)."""
    graph = tmp_path / "clinic.yaml"
    graph.write_text(CLINIC_GRAPH.read_text())
    store = make_store(tmp_path)
    staff = StaffDirectory(store, FAST)
    staff.add("dana", "admin", PASSWORD, by="test")
    staff.add("lee", "qa", PASSWORD + "!", by="test")
    yield served(create_app(ConsoleConfig(), store, staff, graph_path=graph)), staff, graph
    store.dispose()


def graph_form(c: httpx2.Client, base: str, text: str, action: str) -> httpx2.Response:
    token = c.get("/api/v1/me").json()["csrf"]
    return c.post("/graph", data={"csrf": token, "graph": text, "action": action}, headers={"Origin": base})


def test_the_graph_page_draws_the_file_the_servers_run_coloured_by_where_calls_go_wrong(graphed) -> None:
    base, staff, graph = graphed
    add_call(staff.store, "call-1", datetime.now(UTC) - timedelta(hours=1))  # replies from "start" and "callback"
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        page = c.get("/graph")
        assert page.status_code == 200
        text = page.text
        assert '<svg xmlns="http://www.w3.org/2000/svg"' in text and 'id="graph"' in text
        assert text.count('class="node') == CLINIC_GRAPH.read_text().count("\n  - id: ")
        assert 'class="node start" data-node="greeting"' in text
        assert f"version <code>{hashlib.sha256(graph.read_bytes()).hexdigest()[:12]}</code>" in text
        assert 'id="graph-edit"' not in text  # a QA account sees, an admin edits
        assert graph_form(c, base, graph.read_text(), "check").status_code == 403


def test_an_invalid_graph_upload_shows_its_errors_and_changes_nothing(graphed) -> None:
    base, staff, graph = graphed
    before = graph.read_bytes()
    broken = graph.read_text().replace("  start: greeting", "  start: no_such_node", 1)
    with client(base) as c:
        sign_in(c, base, "dana", PASSWORD)
        for action in ("check", "apply"):
            r = graph_form(c, base, broken, action)
            assert r.status_code == 400 and 'id="upload-errors"' in r.text
            assert f"{graph}:39:" in r.text and "no_such_node" in r.text, r.text[-3000:]
            assert "no_such_node" in r.text.split('id="graph-text"', 1)[1]  # the edit is kept in the editor
        assert "Not applied: the file is unchanged." in r.text
        syntax = graph_form(c, base, graph.read_text() + "\n  - id: [unclosed\n", "apply")
        assert syntax.status_code == 400 and f"{graph}:" in syntax.text
    assert graph.read_bytes() == before and not graph.with_name("clinic.yaml.previous").exists()
    assert [e for e in queries.audit_entries(staff.store) if e.what == "graph_apply"] == []


def test_a_valid_graph_upload_is_checked_then_applied_whole_and_audited(graphed) -> None:
    base, staff, graph = graphed
    before = graph.read_text()
    edited = before.replace("  start: greeting", "  start: greeting  # edited in the console", 1)
    with client(base) as c:
        sign_in(c, base, "dana", PASSWORD)
        checked = graph_form(c, base, edited, "check")
        assert checked.status_code == 200 and "No errors" in checked.text and graph.read_text() == before
        applied = graph_form(c, base, edited.replace("\n", "\r\n"), "apply")  # a browser's textarea sends CRLF
        assert applied.status_code == 200 and "Applied: version" in applied.text
    assert graph.read_text() == edited and graph.with_name("clinic.yaml.previous").read_text() == before
    version = hashlib.sha256(edited.encode()).hexdigest()[:12]
    assert f"version <code>{version}</code>" in applied.text
    (row,) = [e for e in queries.audit_entries(staff.store) if e.what == "graph_apply"]
    assert row.actor == "dana" and row.detail == f"version={version}"


def test_a_graph_file_with_errors_is_shown_with_them(graphed) -> None:
    base, _, graph = graphed
    graph.write_text(graph.read_text().replace("  start: greeting", "  start: nowhere", 1))
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        page = c.get("/graph")
        assert page.status_code == 200 and 'id="graph-errors"' in page.text and f"{graph}:39:" in page.text
        assert 'id="graph"' not in page.text  # nothing to draw


def test_the_review_page_draws_the_way_the_call_went_through_the_graph(graphed) -> None:
    base, staff, _ = graphed
    add_call(staff.store, "call-p", datetime.now(UTC) - timedelta(hours=1))  # replies from "start", then "callback"
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        page = c.get("/calls/call-p").text
        figure = page.split('id="call-path"', 1)[1].split("</figure>", 1)[0]
        assert 'id="graph"' in figure and "start → callback" in figure
        assert "The call ran graph version g-7; this is today's" in figure


def test_the_graph_page_shows_where_the_calls_in_progress_are(graphed) -> None:
    base, staff, _ = graphed
    now = datetime.now(UTC)
    add_call(staff.store, "done", now - timedelta(hours=1))  # ended: not live
    add_call(staff.store, "live-1", now - timedelta(minutes=2), closed=False)  # latest reply from "callback"
    add_call(staff.store, "live-2", now - timedelta(minutes=1), closed=False)
    with client(base) as c:
        sign_in(c, base, "lee", PASSWORD + "!")
        assert c.get("/api/v1/graph/live").json() == {"calls": 2, "nodes": {"callback": 2}}
        page = c.get("/graph").text
        assert 'id="live-summary"' in page and '<script src="/static/graph.js"></script>' in page
        assert 'class="live" data-node="greeting"' in page  # every node has its badge, empty when nobody is there
    with client(base) as c:
        assert c.get("/api/v1/graph/live").status_code == 401


def test_a_graph_upload_is_measured_as_text_not_as_its_encoding(graphed) -> None:
    base, _, graph = graphed
    before = graph.read_bytes()
    with client(base) as c:
        sign_in(c, base, "dana", PASSWORD)
        newlines = graph.read_text() + "\n" * 60_000  # ~80 KB of text, ~440 KB url-encoded with CRLF
        r = graph_form(c, base, newlines.replace("\n", "\r\n"), "check")
        assert r.status_code == 200 and "No errors" in r.text
        huge = graph.read_text() + "# " + "a" * (300 * 1024)  # short encoded: the graph itself is what is too large
        r = graph_form(c, base, huge, "apply")
        assert r.status_code == 413 and "larger than 256 KB" in r.json()["detail"]
    assert graph.read_bytes() == before
