"""Inbound SIP digest authentication (RFC 3261 §22.4, RFC 2617 MD5 with ``qop=auth``).

Nonces are stateless: ``<hex time>.<HMAC of it>`` under a key made at start, so a challenge
costs no memory however many an attacker asks for, and a nonce older than ``nonce_ttl_s``
is answered with a fresh challenge marked ``stale``. Failed attempts are counted per source
address; after ``max_failures`` within ``lockout_s`` the source is locked out (403) for
``lockout_s``, which turns a password-guessing run (SIPVicious svcrack) into a handful of tries.

MD5 because it is what SIP phones, PBXs, SIPp and pjsip all speak; the password is never
sent, and the nonce's lifetime bounds replays. Run SIP over TLS at the edge (docs/security.md)
where the path is not trusted."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from telephony.config import InboundAuthConfig

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class DigestResult(StrEnum):
    OK = "ok"
    MISSING = "missing"  # no Authorization header: challenge
    STALE = "stale"  # a valid answer to an expired nonce: challenge again, stale=true
    FAILED = "failed"  # wrong user, password, realm or nonce: challenge, counted
    LOCKED_OUT = "locked_out"  # too many failures from this source: 403


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    algorithm: str = "MD5"


def parse_authorization(value: str) -> Credentials | None:
    """An ``Authorization: Digest ...`` header value, or None when it is not a usable one."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(rest)}
    try:
        return Credentials(
            username=params["username"], realm=params["realm"], nonce=params["nonce"], uri=params["uri"],
            response=params["response"].lower(), qop=params.get("qop"), nc=params.get("nc"),
            cnonce=params.get("cnonce"), algorithm=params.get("algorithm", "MD5"),
        )
    except KeyError:
        return None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()  # the SIP digest algorithm, not a choice


class DigestAuthenticator:
    def __init__(self, config: InboundAuthConfig, clock=time.monotonic) -> None:
        assert config.username and config.password, "inbound auth needs a user name and a password"
        self.config = config
        self._key = secrets.token_bytes(32)
        self._clock = clock
        self._failures: dict[str, list[float]] = {}  # source address -> times of recent failures
        self._locked: dict[str, float] = {}  # source address -> locked until

    def challenge(self, stale: bool = False) -> str:
        """The ``WWW-Authenticate`` header value for a 401."""
        stamp = f"{int(self._clock() * 1000):x}"
        nonce = f"{stamp}.{self._sign(stamp)}"
        return (f'Digest realm="{self.config.realm}", nonce="{nonce}", algorithm=MD5, qop="auth"'
                + (", stale=true" if stale else ""))

    def check(self, authorization: str | None, method: str, source: str) -> DigestResult:
        now = self._clock()
        if self._locked.get(source, 0.0) > now:
            return DigestResult.LOCKED_OUT
        if not authorization:
            return DigestResult.MISSING
        creds = parse_authorization(authorization)
        if creds is None or not self._answers(creds, method):
            return self._failed(source, now)
        stamp, _, _ = creds.nonce.partition(".")
        if now - int(stamp, 16) / 1000 > self.config.nonce_ttl_s:
            return DigestResult.STALE  # right password, old nonce (RFC 2617 stale=true): not a failure
        self._failures.pop(source, None)
        return DigestResult.OK

    def _answers(self, creds: Credentials, method: str) -> bool:
        cfg = self.config
        assert cfg.password is not None
        if creds.algorithm.upper() != "MD5" or creds.username != cfg.username or creds.realm != cfg.realm:
            return False
        stamp, dot, mac = creds.nonce.partition(".")
        if not dot or not hmac.compare_digest(mac, self._sign(stamp)):
            return False
        ha1 = _md5(f"{cfg.username}:{cfg.realm}:{cfg.password.get_secret_value()}")
        ha2 = _md5(f"{method}:{creds.uri}")
        if creds.qop:
            if creds.qop != "auth" or not creds.nc or not creds.cnonce:
                return False
            expected = _md5(f"{ha1}:{creds.nonce}:{creds.nc}:{creds.cnonce}:{creds.qop}:{ha2}")
        else:
            expected = _md5(f"{ha1}:{creds.nonce}:{ha2}")
        return hmac.compare_digest(expected, creds.response)

    def _failed(self, source: str, now: float) -> DigestResult:
        window = self.config.lockout_s
        recent = [t for t in self._failures.get(source, []) if now - t < window] + [now]
        if len(recent) >= self.config.max_failures:
            self._failures.pop(source, None)
            self._locked[source] = now + window
            return DigestResult.LOCKED_OUT
        self._failures[source] = recent
        if len(self._failures) > 10_000:  # bounded under a spoofed-source flood: forget the oldest
            self._failures.pop(next(iter(self._failures)))
        return DigestResult.FAILED

    def locked_sources(self) -> int:
        now = self._clock()
        self._locked = {k: v for k, v in self._locked.items() if v > now}
        return len(self._locked)

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()[:24]
