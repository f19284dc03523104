"""Who may call: a one-process ``bedside serve`` that takes calls only from 127.0.0.1 and only
from callers that pass digest authentication, attacked with SIPVicious (svmap, svwar, svcrack)
and hand-made SIP from another loopback address, and called by a real pjsua2 client that knows
the password. Ends with the draining reproducer: a late-offer INVITE refused with 503 while
SIGTERM waits for a call in progress (this aborted the process before), and the OPTIONS health
probe a SIP front sends answered 200, then 503 once draining.

Real: the server, pjsua2 on both sides, SIPVicious from PyPI, loopback UDP (127.0.0.5 is a
second loopback address, so "another host" needs no network namespace)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.harness import Server, run_call, start_server
from tests.e2e.sip_raw import Dialog, RawSip, digest_authorization, place_calls

pytestmark = [pytest.mark.call, pytest.mark.slow]

USER, PASSWORD = "clinic-pbx", "correct horse battery"
OUTSIDER = "127.0.0.5"
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = start_server(
        tmp_path_factory.mktemp("access"), "emotion.service.mode=off", "sip.max_calls=4",
        'sip.allowed_sources=["127.0.0.1/32"]', f"sip.inbound_auth.username={USER}",
        f"sip.inbound_auth.password={PASSWORD}", "sip.inbound_auth.max_failures=5", "sip.retry_after_s=9",
    )
    yield srv
    if srv.proc.poll() is None:
        assert srv.stop() == 0, srv.log_path.read_text()[-3000:]


def sipvicious(tool: str, *args: str, timeout: float = 120) -> str:
    done = subprocess.run([str(VENV_BIN / f"sipvicious_{tool}"), *args], capture_output=True, timeout=timeout, text=True)
    return done.stdout + done.stderr


def test_a_source_outside_the_allowlist_gets_403_for_everything(server: Server) -> None:
    with RawSip(server.port, bind=OUTSIDER) as sip:
        sip.invite(Dialog(), sdp_port=40000)
        final = sip.final()
    assert final is not None and final.status == 403
    with RawSip(server.port, bind=OUTSIDER) as sip:  # MESSAGE, OPTIONS: nothing answers 200 to an outsider
        for method in ("MESSAGE", "OPTIONS"):
            sip.send(sip.request(method, Dialog(), uri=f"sip:bedside@127.0.0.1:{server.port}"))
            answer = sip.final()
            assert answer is not None and answer.status == 403, method
    refusals = server.events_named("sip_request_refused")
    assert refusals and all(e["reason"] == "source" for e in refusals)


def test_every_user_part_gets_the_same_challenge_before_anything_else(server: Server) -> None:
    for user in ("bedside", "100", "admin", "+15551234567"):
        (call,) = place_calls(server.port, 1, user=user)
        call.close()
        assert call.status == 401, (user, call.response)
        assert call.response.header("www-authenticate").startswith('Digest realm="bedside"')


def test_a_real_pjsua_caller_with_the_password_is_answered(server: Server) -> None:
    result = run_call(server.uri, "--duration", "4", "--set", f"sip.registration.username={USER}",
                      "--set", f"sip.registration.password={PASSWORD}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.summary["answered"]
    assert any(e.get("decision") == 401 for e in server.events_named("call_incoming"))  # challenged first
    assert any(e.get("decision") == 200 for e in server.events_named("call_incoming"))


def test_a_wrong_password_is_refused_and_repeated_tries_lock_the_source_out(server: Server) -> None:
    result = run_call(server.uri, "--duration", "2", "--set", f"sip.registration.username={USER}",
                      "--set", "sip.registration.password=guess")
    assert result.returncode == 3  # not answered


def test_sipvicious_finds_nothing_from_outside_and_cannot_enumerate_or_crack_inside(server: Server, tmp_path: Path) -> None:
    target = f"127.0.0.1:{server.port}"
    # svmap from a source not on the list: nothing to fingerprint
    found = sipvicious("svmap", "-b", OUTSIDER, target, "--timeout", "2")
    assert "Bedside" not in found and not re.search(r"\d+\.\d+\.\d+\.\d+:\d+\s*\|", found), found
    # svwar from an allowed source: every extension answers alike (401), so none is reported
    wars = sipvicious("svwar", "-m", "INVITE", "-e", "100-130,bedside,admin", target, "--force")
    assert not re.search(r"\|\s*(bedside|admin|1\d\d)\s*\|\s*(reqauth|noauth)", wars), wars
    # svcrack: a dictionary against the user; lockout after max_failures turns it into a few tries
    words = tmp_path / "words.txt"
    words.write_text("\n".join(["123456", "password", "letmein", "clinic", "bedside", "admin", "qwerty", PASSWORD]))
    cracked = sipvicious("svcrack", "-u", USER, "-d", str(words), target)
    assert PASSWORD not in cracked, cracked
    assert server.proc.poll() is None


def test_a_late_offer_refused_while_draining_does_not_abort_the_server(server: Server) -> None:
    # a call in progress keeps the server draining; the late offer gets 503, not a crash
    with RawSip(server.port) as sip:  # taking calls: pjsua answers the probe, no authentication asked
        sip.send(sip.request("OPTIONS", Dialog(), uri=f"sip:127.0.0.1:{server.port}"))
        probe = sip.final()
    assert probe is not None and probe.status == 200
    before = len(server.events_named("media_active"))
    call = subprocess.Popen(
        [sys.executable, "-m", "agent.app.cli", "call", server.uri, "--json", "--duration", "12",
         "--set", f"sip.registration.username={USER}", "--set", f"sip.registration.password={PASSWORD}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        server.wait_for("media_active", count=before + 1, timeout=30)
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for("draining", timeout=10)
        with RawSip(server.port) as sip:
            uri = f"sip:bedside@127.0.0.1:{server.port}"
            sip.invite(Dialog())  # no SDP: the late offer a PBX sends
            challenge = sip.final()
            assert challenge is not None and challenge.status == 401
            sip.invite(Dialog(), extra=digest_authorization(challenge.header("www-authenticate"), USER, PASSWORD, uri))
            final = sip.final()
        assert final is not None and final.status == 503 and final.header("retry-after") == "9"
        with RawSip(server.port) as sip:  # a SIP front's health probe: draining answers 503 (out of its dispatcher)
            sip.send(sip.request("OPTIONS", Dialog(), uri=f"sip:127.0.0.1:{server.port}"))
            probe = sip.final()
        assert probe is not None and probe.status == 503 and probe.header("retry-after") == "9"
        time.sleep(0.5)
        assert server.proc.poll() is None, server.log_path.read_text()[-2000:]
    finally:
        call.wait(timeout=60)
    assert server.proc.wait(timeout=60) == 0
