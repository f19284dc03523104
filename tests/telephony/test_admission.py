"""Who may call and whether there is room: every admission rule on plain INVITE text."""

from __future__ import annotations

import hashlib

import pytest

from telephony.admission import Admission, IncomingInvite, Role, source_ip
from telephony.config import SipConfig
from telephony.redirect_ticket import RedirectTickets, new_key

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def invite(user: str = "bedside", body: str = SDP, source: str = "127.0.0.1:5070", extra: str = "",
           uri_params: str = "") -> IncomingInvite:
    message = (f"INVITE sip:{user}@127.0.0.1:5060{uri_params} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070\r\n"
               f"From: <sip:+15551234567@pbx>;tag=1\r\nTo: <sip:{user}@127.0.0.1>\r\n{extra}"
               f"Content-Length: {len(body)}\r\n\r\n{body}")
    return IncomingInvite.parse(message, source)


def single(**sip) -> Admission:
    return Admission(SipConfig(**sip), Role.SINGLE)


def test_parse_reads_the_request_uri_user_source_and_body() -> None:
    got = invite(user="+15551234567", source="[::1]:5070", extra="Authorization: Digest username=\"x\"\r\n")
    assert got.user == "+15551234567" and got.source == "::1" and got.body == SDP
    assert got.authorization == 'Digest username="x"'
    assert source_ip("10.1.2.3:5060") == "10.1.2.3" and source_ip("::1") == "::1"


def test_an_ordinary_call_is_admitted_and_late_offers_too() -> None:
    assert single().decide(invite(), accepting=True, active=0).status == 200
    assert single().decide(invite(body=""), accepting=True, active=0).status == 200


def test_sources_outside_the_allowlist_get_403() -> None:
    admission = single(allowed_sources=["127.0.0.1/32", "10.0.0.0/8"])
    assert admission.decide(invite(source="127.0.0.5:5070"), True, 0).status == 403
    assert admission.decide(invite(source="203.0.113.9:5060"), True, 0).status == 403
    assert admission.decide(invite(source="10.9.8.7:5060"), True, 0).status == 200
    assert single().decide(invite(source="203.0.113.9:5060"), True, 0).status == 403  # public: not by default
    assert admission.decide(invite(source="garbage"), True, 0).status == 403


def test_unknown_user_parts_get_404_unless_any_is_accepted() -> None:
    assert single().decide(invite(user="admin"), True, 0).status == 404
    assert single().decide(invite(user="100"), True, 0).status == 404
    did = single(accepted_users=["bedside", "+15551234567"])
    assert did.decide(invite(user="+15551234567"), True, 0).status == 200
    assert single(accepted_users=["*"]).decide(invite(user="anything"), True, 0).status == 200
    registered = single(registration={"registrar": "sip:trunk.example", "aor": "sip:+15550001111@trunk.example"})
    assert registered.decide(invite(user="+15550001111"), True, 0).status == 200  # the registered number


def test_draining_and_full_answer_503_with_retry_after() -> None:
    admission = single(max_calls=2, retry_after_s=17)
    for decision in (admission.decide(invite(), False, 0), admission.decide(invite(), True, 2)):
        assert decision.status == 503 and ("Retry-After", "17") in decision.headers
    assert admission.decide(invite(), True, 1).status == 200


def test_the_front_redirects_when_full_and_never_admits_more_than_max_calls() -> None:
    promised = []
    others = {"load": 0}

    def redirect() -> str | None:
        promised.append(1)
        return "sip:bedside@127.0.0.1:5061;bt=t"

    front = Admission(SipConfig(max_calls=8), Role.FRONT, RedirectTickets(new_key(), 8), redirect, lambda: others["load"])
    assert front.local_capacity == 3  # one pjsua slot kept for answering refusals
    assert front.decide(invite(), True, 2).status == 200
    decision = front.decide(invite(body=""), True, 3)
    assert decision.status == 302 and ("Contact", "<sip:bedside@127.0.0.1:5061;bt=t>") in decision.headers
    others["load"] = 5
    full = front.decide(invite(), True, 3)
    assert full.status == 503 and dict(full.headers)["Retry-After"] == "30" and len(promised) == 1
    others["load"] = 6
    assert front.decide(invite(), True, 2).status == 503  # room here, but 8 in all already


def test_a_worker_takes_only_ticketed_callers_once() -> None:
    key = new_key()
    front, tickets = RedirectTickets(key, 8), RedirectTickets(key, 8)
    worker = Admission(SipConfig(), Role.WORKER, tickets)
    ticket = front.uri_param(5061)
    assert worker.decide(invite(), True, 0, own_port=5061).status == 403
    assert worker.decide(invite(uri_params=ticket), True, 0, own_port=5061).status == 200
    assert worker.decide(invite(uri_params=ticket), True, 0, own_port=5061).status == 403  # replayed
    assert worker.decide(invite(uri_params=front.uri_param(5062)), True, 0, own_port=5061).status == 403


def _digest(challenge: str, password: str) -> str:
    params = dict(p.strip().split("=", 1) for p in challenge[len("Digest "):].split(", ") if "=" in p)
    realm, nonce = params["realm"].strip('"'), params["nonce"].strip('"')
    uri = "sip:nobody@127.0.0.1:5060"
    ha1 = hashlib.md5(f"pbx:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"INVITE:{uri}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    return f'Authorization: Digest username="pbx", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{response}"\r\n'


def test_authentication_comes_before_the_user_check_so_users_cannot_be_enumerated() -> None:
    admission = single(inbound_auth={"username": "pbx", "password": "s3cret"})
    for user in ("bedside", "nobody", "100"):
        decision = admission.decide(invite(user=user), True, 0)
        assert decision.status == 401 and dict(decision.headers)["WWW-Authenticate"].startswith("Digest realm=")
    challenge = dict(admission.decide(invite(), True, 0).headers)["WWW-Authenticate"]
    assert admission.decide(invite(user="nobody", extra=_digest(challenge, "s3cret")), True, 0).status == 404
    assert admission.decide(invite(extra=_digest(challenge, "s3cret")), True, 0).status == 200


@pytest.mark.parametrize(("body", "status"), [("v=0\r\nm=audio 1 RTP/AVP 0\r\n", 200), ("garbage", 400),
                                               ("v=0\r\nm=video 1 RTP/AVP 96\r\n", 488), ("v=0\r\nm=audio 1 RTP/AVP 18\r\n", 488)])
def test_the_offer_is_checked_last(body: str, status: int) -> None:
    assert single().decide(invite(body=body), True, 0).status == status
