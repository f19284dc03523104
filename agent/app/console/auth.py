"""Who is asking, and may they: the console's session cookie, role checks and anti-forgery checks.

* The cookie (``bedside_session``; ``__Host-bedside_session`` over TLS, where it is also
  ``Secure``) is ``HttpOnly`` and ``SameSite=Strict`` and holds only a random token; the session
  lives in the records store (agent/services/records/staff_sessions.py).
* Pages answer a request without a live session with a redirect to ``/login``; the JSON API with
  401. A role below the route's is 403.
* Every state-changing request (POST, PUT, PATCH, DELETE) must come from the console's own origin
  (``Origin``, or ``Referer`` when a browser sends no ``Origin``) and, once signed in, carry the
  session's CSRF token (``X-CSRF-Token`` header, or the ``csrf`` field of a form)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from agent.services.records.staff import StaffRole
from agent.services.records.staff_sessions import SessionBook, StaffSession

COOKIE = "bedside_session"
SECURE_COOKIE = "__Host-bedside_session"  # the prefix binds it to this host, path /, Secure
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RANK = {StaffRole.QA: 1, StaffRole.ADMIN: 2}


class SignInRequired(Exception):
    """A page asked for without a live session: the app answers with a redirect to /login."""


def cookie_name(request: Request) -> str:
    return SECURE_COOKIE if request.url.scheme == "https" else COOKIE


def session_of(request: Request, book: SessionBook) -> StaffSession | None:
    return book.resolve(request.cookies.get(cookie_name(request)))


def same_origin(request: Request) -> bool:
    """The request's ``Origin`` (or, without one, ``Referer``) is this console's own."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed or claimed == "null":
        return False
    parts = urlsplit(claimed)
    own = urlsplit(str(request.base_url))
    return (parts.scheme, parts.netloc) == (own.scheme, own.netloc)


def check_unsafe(request: Request, session: StaffSession | None, form_csrf: str | None = None) -> None:
    """403 for a cross-site state change, or a signed-in one without the session's CSRF token."""
    if request.method not in UNSAFE_METHODS:
        return
    if not same_origin(request):
        raise HTTPException(403, "cross-site request refused (Origin is not this console)")
    if session is not None and not session.csrf_ok(request.headers.get("x-csrf-token") or form_csrf):
        raise HTTPException(403, "missing or wrong CSRF token")


def allowed(session: StaffSession, role: StaffRole) -> bool:
    return RANK[session.role] >= RANK[role]


__all__ = ["COOKIE", "SECURE_COOKIE", "SignInRequired", "allowed", "check_unsafe", "cookie_name", "same_origin", "session_of"]
