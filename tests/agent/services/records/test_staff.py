"""Staff accounts on a real SQLite file and a real PostgreSQL: Argon2id hashes (never the password),
sign-in that does not tell a wrong name from a wrong password, lockout after failures in a row,
disabling, rehashing when the hash parameters rise, and an audit row for every change and attempt."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from agent.services.records import schema
from agent.services.records.crypto import KeyRing, new_key
from agent.services.records.queries import audit_entries
from agent.services.records.rows import utc_now
from agent.services.records.staff import LOCK_AFTER, LOCK_FOR, StaffDirectory, StaffError, StaffRole
from agent.services.records.store import RecordStore

PASSWORD = "correct horse battery"
# Light Argon2id parameters keep the tests quick; production uses argon2-cffi's RFC 9106 defaults.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def directory(request: pytest.FixtureRequest, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'records.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    store = RecordStore(url, KeyRing.of([new_key()], "test"))
    store.migrate()
    yield StaffDirectory(store, FAST)
    store.dispose()


def raw_hash(d: StaffDirectory, name: str) -> str:
    with d.store.reading() as conn:
        return conn.execute(select(schema.staff.c.password_hash).where(schema.staff.c.name == name)).scalar_one()


def whats(d: StaffDirectory) -> list[tuple[str, str, str | None]]:
    return [(e.actor, e.what, e.detail) for e in reversed(audit_entries(d.store, limit=100))]


def test_an_account_signs_in_with_its_password_and_the_store_keeps_only_an_argon2id_hash(directory: StaffDirectory) -> None:
    account = directory.add("dana", "qa", PASSWORD, by="admin")
    assert account.role is StaffRole.QA and account.active
    stored = raw_hash(directory, "dana")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    signed = directory.authenticate("dana", PASSWORD)
    assert signed is not None and signed.name == "dana" and signed.role is StaffRole.QA
    assert directory.authenticate("dana", PASSWORD + "x") is None
    assert [w for _, w, _ in whats(directory)] == ["staff_add", "sign_in", "sign_in_failed"]
    assert all(PASSWORD not in str(row) for row in whats(directory))


def test_unknown_name_disabled_account_and_wrong_password_answer_alike(directory: StaffDirectory) -> None:
    directory.add("dana", StaffRole.ADMIN, PASSWORD, by="admin")
    directory.add("lee", StaffRole.QA, PASSWORD + "!", by="admin")
    directory.disable("lee", by="dana")
    assert directory.authenticate("nobody", PASSWORD) is None
    assert directory.authenticate("lee", PASSWORD + "!") is None  # right password, disabled
    assert directory.authenticate("dana", "wrong password here") is None
    assert directory.authenticate("'; drop table staff; --", PASSWORD) is None  # not a name: never queried
    failed = [(a, d) for a, w, d in whats(directory) if w == "sign_in_failed"]
    assert failed == [("nobody", "refused"), ("lee", "disabled"), ("dana", "refused"), ("(invalid name)", "refused")]
    directory.enable("lee", by="dana")
    assert directory.authenticate("lee", PASSWORD + "!") is not None


def test_failures_in_a_row_lock_the_account_and_a_new_password_unlocks_it(directory: StaffDirectory) -> None:
    directory.add("dana", "qa", PASSWORD, by="admin")
    for _ in range(LOCK_AFTER - 1):
        assert directory.authenticate("dana", "not the password") is None
    assert directory.authenticate("dana", PASSWORD) is not None  # a good one resets the count
    for _ in range(LOCK_AFTER):
        directory.authenticate("dana", "not the password")
    locked = directory.get("dana")
    assert locked is not None and locked.locked_until is not None
    assert directory.authenticate("dana", PASSWORD) is None  # locked: even the right password waits
    assert directory.authenticate("dana", PASSWORD, now=utc_now() + LOCK_FOR + timedelta(seconds=1)) is not None
    for _ in range(LOCK_AFTER):
        directory.authenticate("dana", "not the password")
    directory.set_password("dana", "a brand new passphrase", by="admin")
    assert directory.authenticate("dana", "a brand new passphrase") is not None


def test_refused_changes_say_why_and_change_nothing(directory: StaffDirectory) -> None:
    directory.add("dana", "qa", PASSWORD, by="admin")
    with pytest.raises(StaffError, match="already exists"):
        directory.add("dana", "admin", PASSWORD, by="admin")
    with pytest.raises(StaffError, match="too short"):
        directory.add("sam", "qa", "short", by="admin")
    with pytest.raises(StaffError, match="contains the account name"):
        directory.add("sam", "qa", "hello-sam-123456", by="admin")
    with pytest.raises(StaffError, match="staff name"):
        directory.add("Sam Smith", "qa", PASSWORD, by="admin")
    with pytest.raises(ValueError):
        directory.add("sam", "owner", PASSWORD, by="admin")
    with pytest.raises(StaffError, match="no staff account ghost"):
        directory.disable("ghost", by="admin")
    assert [a.name for a in directory.list()] == ["dana"]
    directory.set_role("dana", "admin", by="admin")
    assert directory.get("dana").role is StaffRole.ADMIN


def test_a_hash_made_with_weaker_parameters_is_upgraded_at_the_next_good_sign_in(directory: StaffDirectory) -> None:
    directory.add("dana", "qa", PASSWORD, by="admin")
    before = raw_hash(directory, "dana")
    stronger = StaffDirectory(directory.store, PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    assert stronger.authenticate("dana", PASSWORD) is not None
    after = raw_hash(directory, "dana")
    assert after != before and "m=2048,t=2" in after
    assert stronger.authenticate("dana", PASSWORD) is not None
