"""Inbound digest authentication: the RFC 2617 arithmetic, stale nonces, lockout."""

from __future__ import annotations

import hashlib

import pytest

from telephony.config import InboundAuthConfig
from telephony.digest import DigestAuthenticator, DigestResult, parse_authorization


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def answer(challenge: str, user: str, password: str, uri: str = "sip:bedside@127.0.0.1", qop: bool = True) -> str:
    """What a phone sends back: computed here from the RFC, independently of the module."""
    params = dict(p.strip().split("=", 1) for p in challenge[len("Digest "):].split(", ") if "=" in p)
    realm, nonce = params["realm"].strip('"'), params["nonce"].strip('"')
    ha1, ha2 = md5(f"{user}:{realm}:{password}"), md5(f"INVITE:{uri}")
    if qop:
        response = md5(f"{ha1}:{nonce}:00000001:abcdef:auth:{ha2}")
        return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}", '
                f'algorithm=MD5, cnonce="abcdef", qop=auth, nc=00000001')
    response = md5(f"{ha1}:{nonce}:{ha2}")
    return f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}"'


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(clock: Clock) -> DigestAuthenticator:
    return DigestAuthenticator(InboundAuthConfig(username="pbx", password="s3cret", max_failures=3, lockout_s=60), clock)


def test_right_password_with_and_without_qop_passes(auth: DigestAuthenticator) -> None:
    assert auth.check(answer(auth.challenge(), "pbx", "s3cret"), "INVITE", "10.0.0.1") is DigestResult.OK
    assert auth.check(answer(auth.challenge(), "pbx", "s3cret", qop=False), "INVITE", "10.0.0.1") is DigestResult.OK


def test_missing_wrong_and_forged_are_refused(auth: DigestAuthenticator) -> None:
    assert auth.check(None, "INVITE", "10.0.0.1") is DigestResult.MISSING
    assert auth.check(answer(auth.challenge(), "pbx", "guess"), "INVITE", "10.0.0.1") is DigestResult.FAILED
    assert auth.check(answer(auth.challenge(), "admin", "s3cret"), "INVITE", "10.0.0.2") is DigestResult.FAILED
    forged = answer('Digest realm="bedside", nonce="ffff.0000"', "pbx", "s3cret")  # a nonce we never signed
    assert auth.check(forged, "INVITE", "10.0.0.3") is DigestResult.FAILED
    assert auth.check("Basic cGJ4OnMzY3JldA==", "INVITE", "10.0.0.4") is DigestResult.FAILED


def test_an_old_nonce_is_stale_not_a_failure(auth: DigestAuthenticator, clock: Clock) -> None:
    old = auth.challenge()
    clock.now += 31
    assert auth.check(answer(old, "pbx", "s3cret"), "INVITE", "10.0.0.1") is DigestResult.STALE
    assert "stale=true" in auth.challenge(stale=True)


def test_repeated_failures_lock_the_source_out_and_only_it(auth: DigestAuthenticator, clock: Clock) -> None:
    for _ in range(2):
        assert auth.check(answer(auth.challenge(), "pbx", "x"), "INVITE", "10.0.0.9") is DigestResult.FAILED
    assert auth.check(answer(auth.challenge(), "pbx", "x"), "INVITE", "10.0.0.9") is DigestResult.LOCKED_OUT
    # even the right password is refused while locked out; another source is not affected
    assert auth.check(answer(auth.challenge(), "pbx", "s3cret"), "INVITE", "10.0.0.9") is DigestResult.LOCKED_OUT
    assert auth.check(answer(auth.challenge(), "pbx", "s3cret"), "INVITE", "10.0.0.8") is DigestResult.OK
    clock.now += 61
    assert auth.check(answer(auth.challenge(), "pbx", "s3cret"), "INVITE", "10.0.0.9") is DigestResult.OK


def test_parse_authorization_reads_quoted_and_bare_values() -> None:
    creds = parse_authorization('Digest username="a b", realm="r", nonce="n", uri="sip:x", response="ABC", qop=auth, nc=1')
    assert creds is not None and creds.username == "a b" and creds.qop == "auth" and creds.response == "abc"
    assert parse_authorization('Digest username="a"') is None


def test_a_user_without_password_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="password"):
        InboundAuthConfig(username="pbx")
