"""Console sessions on SQLite and PostgreSQL: only the token's hash is stored; a session ends on
idle, at its lifetime, on sign-out, and at once when its account is disabled or its password changes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from agent.services.records import schema
from agent.services.records.rows import utc_now
from agent.services.records.staff import StaffDirectory, StaffRole
from agent.services.records.staff_sessions import SessionBook, token_hash
from tests.agent.services.records.test_staff import PASSWORD, directory  # noqa: F401 - the two-backend fixture


def test_a_session_resolves_to_its_account_and_the_store_holds_only_the_token_hash(directory: StaffDirectory) -> None:  # noqa: F811
    directory.add("dana", "admin", PASSWORD, by="admin")
    book = SessionBook(directory.store)
    token = book.open("dana")
    session = book.resolve(token)
    assert session is not None and session.staff == "dana" and session.role is StaffRole.ADMIN
    assert session.csrf_ok(session.csrf) and not session.csrf_ok("forged") and not session.csrf_ok(None)
    with directory.store.reading() as conn:
        stored = conn.execute(select(schema.console_sessions)).all()
    assert [r.token_hash for r in stored] == [token_hash(token)] and token not in str(stored)
    assert book.resolve("not-a-token") is None and book.resolve("") is None and book.resolve("x" * 500) is None
    book.close(token)
    assert book.resolve(token) is None


def test_idle_and_lifetime_end_a_session_and_use_keeps_it(directory: StaffDirectory) -> None:  # noqa: F811
    directory.add("dana", "qa", PASSWORD, by="admin")
    book = SessionBook(directory.store, idle=timedelta(minutes=30), lifetime=timedelta(hours=12))
    t0 = utc_now()
    token = book.open("dana", now=t0)
    for minutes in range(20, 12 * 60, 20):  # a request every 20 min keeps it alive ...
        assert book.resolve(token, now=t0 + timedelta(minutes=minutes)) is not None, minutes
    assert book.resolve(token, now=t0 + timedelta(hours=12)) is None  # ... until its lifetime ends
    idle = book.open("dana", now=t0)
    assert book.resolve(idle, now=t0 + timedelta(minutes=31)) is None
    assert book.resolve(idle, now=t0) is None  # deleted, not only refused
    book.open("dana", now=t0 - timedelta(hours=13))
    assert book.sweep(now=t0) == 1


def test_disabling_the_account_or_a_new_password_signs_every_browser_out(directory: StaffDirectory) -> None:  # noqa: F811
    directory.add("dana", "qa", PASSWORD, by="admin")
    book = SessionBook(directory.store)
    first, second = book.open("dana"), book.open("dana")
    directory.set_password("dana", "a brand new passphrase", by="dana")
    assert book.resolve(first) is None and book.resolve(second) is None
    third = book.open("dana")
    directory.disable("dana", by="admin")
    assert book.resolve(third) is None
    directory.enable("dana", by="admin")
    fourth = book.open("dana")
    assert book.resolve(fourth) is not None
    assert book.close_all("dana") == 1 and book.resolve(fourth) is None
