"""Console sessions: a signed-in browser, server-side, so that signing out, disabling an account or
an idle timeout ends it at once (a self-contained signed cookie could not be taken back).

The browser's cookie holds a random 256-bit token; the store keeps only its SHA-256, so a copied
database or backup opens no session. Each session has its own anti-forgery (CSRF) token that every
state-changing request must echo. A session ends after ``idle`` without a request or ``lifetime``
after sign-in, whichever comes first, and at once when its account is disabled or its password
changes (a new password signs every browser out)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, select, update

from agent.services.records import schema
from agent.services.records.rows import utc_now
from agent.services.records.staff import StaffRole
from agent.services.records.store import RecordStore

TOUCH_EVERY = timedelta(seconds=60)  # last_seen is written at most this often (one write per request is waste)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class StaffSession:
    staff: str
    role: StaffRole
    csrf: str
    created_at: datetime
    expires_at: datetime

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf.encode())


class SessionBook:
    """Open, resolve and close console sessions in one records store."""

    def __init__(self, store: RecordStore, idle: timedelta = timedelta(minutes=30),
                 lifetime: timedelta = timedelta(hours=12)) -> None:
        self.store, self.idle, self.lifetime = store, idle, lifetime

    def open(self, staff: str, now: datetime | None = None) -> str:
        """A new session for ``staff`` (already authenticated); returns the cookie's token."""
        now = now or utc_now()
        token = secrets.token_urlsafe(32)
        with self.store.reading() as conn:
            conn.execute(schema.console_sessions.insert().values(
                token_hash=token_hash(token), staff=staff, csrf=secrets.token_urlsafe(32), created_at=now,
                last_seen_at=now, expires_at=now + self.lifetime))
        return token

    def resolve(self, token: str | None, now: datetime | None = None) -> StaffSession | None:
        """The live session behind a cookie's token, or None (unknown, idle, expired, account
        disabled or password changed since sign-in: such a session is deleted)."""
        if not token or len(token) > 128:
            return None
        now = now or utc_now()
        s, st = schema.console_sessions, schema.staff
        key = token_hash(token)
        with self.store.reading() as conn:
            row = conn.execute(
                select(s, st.c.role, st.c.disabled_at, st.c.password_changed_at)
                .join(st, st.c.name == s.c.staff).where(s.c.token_hash == key)
            ).first()
            if row is None:
                return None
            dead = (row.disabled_at is not None or now >= row.expires_at or now - row.last_seen_at >= self.idle
                    or row.password_changed_at > row.created_at)
            if dead:
                conn.execute(delete(s).where(s.c.token_hash == key))
                return None
            if now - row.last_seen_at >= TOUCH_EVERY:
                conn.execute(update(s).where(s.c.token_hash == key).values(last_seen_at=now))
        return StaffSession(row.staff, StaffRole(row.role), row.csrf, row.created_at, row.expires_at)

    def close(self, token: str | None) -> None:
        if token:
            with self.store.reading() as conn:
                conn.execute(delete(schema.console_sessions).where(schema.console_sessions.c.token_hash == token_hash(token)))

    def close_all(self, staff: str) -> int:
        with self.store.reading() as conn:
            return conn.execute(delete(schema.console_sessions).where(schema.console_sessions.c.staff == staff)).rowcount

    def sweep(self, now: datetime | None = None) -> int:
        """Delete sessions past their end or idle (the server runs it now and then)."""
        now = now or utc_now()
        s = schema.console_sessions
        with self.store.reading() as conn:
            return conn.execute(delete(s).where(
                (s.c.expires_at <= now) | and_(s.c.last_seen_at <= now - self.idle))).rowcount


__all__ = ["SessionBook", "StaffSession", "token_hash"]
