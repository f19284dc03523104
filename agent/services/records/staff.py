"""Staff accounts: who may sign in to the QA console, and in which role.

An account is a login name, a role (:class:`StaffRole`) and an Argon2id hash of its password
(argon2-cffi with its default RFC 9106 low-memory profile: 64 MiB, 3 passes, 4 lanes; the
parameters live in each hash, so raising them later rehashes on the next good sign-in).
Passwords are never stored, logged or audited; names are staff names, not patients', and are
audited. Sign-in answers the same way, and does the same hashing work, for an unknown name, a
disabled account and a wrong password, so a caller cannot tell which names exist; after
``LOCK_AFTER`` failures in a row an account is locked for ``LOCK_FOR`` (its next good password
waits too). Every change and every sign-in, good or bad, is an audit row.

The console (issue 18) signs staff in through :meth:`StaffDirectory.authenticate`;
``bedside users`` manages the accounts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update

from agent.services.records import schema
from agent.services.records.queries import Via, audit
from agent.services.records.rows import utc_now
from agent.services.records.store import RecordStore

NAME_PATTERN = re.compile(r"[a-z][a-z0-9._-]{1,63}")
MIN_PASSWORD_CHARS = 12  # NIST SP 800-63B asks for at least 8; staff here read patients' records
MAX_PASSWORD_CHARS = 256  # a longer one is refused before hashing (no hashing work for a flood)
LOCK_AFTER = 5  # failed sign-ins in a row ...
LOCK_FOR = timedelta(minutes=15)  # ... lock the account this long


class StaffRole(StrEnum):
    QA = "qa"  # places test calls, reviews calls, marks corrections
    ADMIN = "admin"  # also edits the graph and manages the deployment


class StaffError(ValueError):
    """A refused account change, in a sentence that names the account (never the password)."""


@dataclass(frozen=True)
class StaffAccount:
    name: str
    role: StaffRole
    created_at: datetime
    password_changed_at: datetime
    disabled_at: datetime | None = None
    locked_until: datetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def as_dict(self) -> dict[str, str | None]:
        when = lambda t: None if t is None else t.isoformat()  # noqa: E731
        return {"name": self.name, "role": str(self.role), "created_at": when(self.created_at),
                "password_changed_at": when(self.password_changed_at), "disabled_at": when(self.disabled_at),
                "locked_until": when(self.locked_until)}


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise StaffError(f"a staff name is 2 to 64 characters: a lowercase letter, then lowercase letters, digits, "
                         f"'.', '_' or '-' (got {name[:64]!r})")
    return name


def check_password(name: str, password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise StaffError(f"the password for {name} is too short: at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise StaffError(f"the password for {name} is too long: at most {MAX_PASSWORD_CHARS} characters")
    if password.strip() != password or not password.isprintable():
        raise StaffError(f"the password for {name} has leading/trailing blanks or control characters")
    if name in password.lower():
        raise StaffError(f"the password for {name} contains the account name")
    return password


def _account(row) -> StaffAccount:
    return StaffAccount(row.name, StaffRole(row.role), row.created_at, row.password_changed_at, row.disabled_at,
                        row.locked_until)


class StaffDirectory:
    """The accounts in one records store; ``by`` is who makes a change (the audit's actor)."""

    def __init__(self, store: RecordStore, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.hasher = hasher or PasswordHasher()

    @cached_property
    def _decoy(self) -> str:
        """Verified against when no account answers, so that a miss costs what a wrong password
        costs. Made at the first sign-in, not at construction: `bedside users` and a server
        start need no Argon2 work (64 MiB) to manage accounts."""
        return self.hasher.hash("decoy password, never issued")

    # -- reads -----------------------------------------------------------------------------------
    def get(self, name: str) -> StaffAccount | None:
        with self.store.reading() as conn:
            row = conn.execute(select(schema.staff).where(schema.staff.c.name == name)).first()
        return None if row is None else _account(row)

    def list(self) -> list[StaffAccount]:
        with self.store.reading() as conn:
            rows = conn.execute(select(schema.staff).order_by(schema.staff.c.name)).all()
        return [_account(r) for r in rows]

    # -- changes ---------------------------------------------------------------------------------
    def add(self, name: str, role: StaffRole | str, password: str, by: str, via: Via | str = Via.CLI) -> StaffAccount:
        check_name(name)
        role = StaffRole(role)
        pw_hash = self.hasher.hash(check_password(name, password))
        now = utc_now()
        with self.store.reading() as conn:
            if conn.execute(select(schema.staff.c.name).where(schema.staff.c.name == name)).first() is not None:
                raise StaffError(f"staff account {name} already exists")
            conn.execute(schema.staff.insert().values(name=name, role=role, password_hash=pw_hash, created_at=now,
                                                      password_changed_at=now, failed_logins=0))
        audit(self.store, by, via, "staff_add", detail=f"{name} ({role})")
        return StaffAccount(name, role, now, now)

    def set_password(self, name: str, password: str, by: str, via: Via | str = Via.CLI) -> None:
        """A new password; also unlocks the account."""
        pw_hash = self.hasher.hash(check_password(name, password))
        self._change(name, by, via, "staff_password", password_hash=pw_hash, password_changed_at=utc_now(),
                     failed_logins=0, locked_until=None)

    def set_role(self, name: str, role: StaffRole | str, by: str, via: Via | str = Via.CLI) -> None:
        role = StaffRole(role)
        self._change(name, by, via, "staff_role", detail=f"{name} -> {role}", role=role)

    def disable(self, name: str, by: str, via: Via | str = Via.CLI) -> None:
        self._change(name, by, via, "staff_disable", disabled_at=utc_now())

    def enable(self, name: str, by: str, via: Via | str = Via.CLI) -> None:
        self._change(name, by, via, "staff_enable", disabled_at=None, failed_logins=0, locked_until=None)

    def _change(self, name: str, by: str, via: Via | str, what: str, detail: str | None = None, **values) -> None:
        with self.store.reading() as conn:
            changed = conn.execute(update(schema.staff).where(schema.staff.c.name == name).values(**values)).rowcount
        if not changed:
            raise StaffError(f"no staff account {name}")
        audit(self.store, by, via, what, detail=detail or name)

    # -- sign-in ---------------------------------------------------------------------------------
    def authenticate(self, name: str, password: str, via: Via | str = Via.API, now: datetime | None = None) -> StaffAccount | None:
        """The account when ``password`` is its password and it may sign in now; else None. Every
        attempt is audited (the name when it is a valid login name, else "(invalid name)"; never
        the password)."""
        now = now or utc_now()
        decoy = self._decoy  # made before the lookup: the first attempt costs the same, hit or miss
        row = None
        if NAME_PATTERN.fullmatch(name) and len(password) <= MAX_PASSWORD_CHARS:
            with self.store.reading() as conn:
                row = conn.execute(select(schema.staff).where(schema.staff.c.name == name)).first()
        try:
            self.hasher.verify(row.password_hash if row is not None else decoy, password[:MAX_PASSWORD_CHARS])
            good = row is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            good = False
        locked = row is not None and row.locked_until is not None and row.locked_until > now
        usable = row is not None and row.disabled_at is None and not locked
        shown = name if NAME_PATTERN.fullmatch(name) else "(invalid name)"
        if good and usable:
            values: dict = {"failed_logins": 0, "locked_until": None}
            if self.hasher.check_needs_rehash(row.password_hash):
                values["password_hash"] = self.hasher.hash(password)
            with self.store.reading() as conn:
                conn.execute(update(schema.staff).where(schema.staff.c.name == name).values(**values))
            audit(self.store, name, via, "sign_in")
            return _account(row)
        if row is not None and not good:
            failures = row.failed_logins + 1
            values = {"failed_logins": failures}
            if failures >= LOCK_AFTER:
                values = {"failed_logins": 0, "locked_until": now + LOCK_FOR}
            with self.store.reading() as conn:
                conn.execute(update(schema.staff).where(schema.staff.c.name == name).values(**values))
        why = "locked" if locked else "disabled" if row is not None and row.disabled_at is not None else "refused"
        audit(self.store, shown, via, "sign_in_failed", detail=why)
        return None


__all__ = ["LOCK_AFTER", "LOCK_FOR", "MAX_PASSWORD_CHARS", "MIN_PASSWORD_CHARS", "StaffAccount", "StaffDirectory",
           "StaffError", "StaffRole", "check_name", "check_password"]
