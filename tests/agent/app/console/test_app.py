"""The console over real HTTP (uvicorn on loopback, SQLite store): every page and API route refuses
a request without a live session, sign-in sets a HttpOnly SameSite=Strict cookie and is audited,
state changes need the same origin and the session's CSRF token, roles are enforced, and a wrong
password, an unknown name and a locked account all get the same answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from agent.app.console.app import GENERIC_REFUSAL, MAX_FORM_BYTES, SECURITY_HEADERS, create_app
from agent.app.console.config import ConsoleConfig
from agent.services.records import queries
from agent.services.records.staff import LOCK_AFTER, StaffDirectory
from tests.agent.app.test_records_api import served  # noqa: F401 - uvicorn in a thread
from tests.agent.services.records.test_queries import PATIENT, add_call, caller_of, make_store

PASSWORD = "correct horse battery"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PAGES = ("/", "/staff", "/calls", "/nodes")
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
