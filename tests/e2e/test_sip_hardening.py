"""The default ``bedside serve`` (front + two workers, ``sip.max_calls`` 8) attacked the way a
hostile or a clumsy PBX would, over loopback UDP with hand-made SIP (tests/e2e/sip_raw.py):
each of issue 14's reproducers, then the same checks after it — every process alive (or
restarted and logged), a normal call answered with the greeting within 1 s, capacity back to
``sip.max_calls``, memory back within 10 %.

What is real: the server with its real models and three pjsua2 processes, SIP datagrams
over loopback, the agent's greeting as RTP. The callers are raw sockets: they must do what SIPp
and softphones will not (never ACK, never follow a redirect, send late offers in bulk).
Emotion is off here: the emotion service's own attacks are tests/emotion/test_service_hostile.py."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import time
from collections import Counter

import pytest

from agent.app.child_process import child_pids
from tests.e2e.harness import Server, start_server
from tests.e2e.sip_fuzz import messages
from tests.e2e.sip_raw import Dialog, PlacedCall, RawSip, assert_greeting_heard, place_calls
from tests.processes import rss_kb

pytestmark = [pytest.mark.call, pytest.mark.slow]

MAX_CALLS = 8
TTL_S = 3.0  # sip.redirect_ttl_s and sip.ack_timeout_s here, to keep the test short
RETRY_AFTER = 7


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = start_server(
        tmp_path_factory.mktemp("hardening"), "emotion.service.mode=off", f"sip.max_calls={MAX_CALLS}",
        f"sip.redirect_ttl_s={TTL_S}", f"sip.ack_timeout_s={TTL_S}", f"sip.retry_after_s={RETRY_AFTER}",
        timeout=240,
    )
    yield srv
    assert srv.stop() == 0, srv.log_path.read_text()[-3000:]


def total_rss_kb(server: Server) -> int:
    return sum(rss_kb(p) for p in [server.proc.pid, *child_pids(server.proc.pid)])


def hang_up(calls: list[PlacedCall]) -> None:
    for call in calls:
        call.hang_up()


def wait_idle(server: Server, timeout: float = 15.0) -> None:
    """Until every process reports no calls (disconnects are logged per process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        incoming = [e for e in server.events_named("call_incoming") if e.get("decision") == 200]
        ended = server.events_named("call_disconnected")
        lost = sum(e["calls_lost"] for e in server.events_named("worker_died"))  # died with their process
        if len(ended) + lost >= len(incoming):
            return
        time.sleep(0.2)
    raise AssertionError(f"calls still up after {timeout} s: {len(incoming)} answered, {len(ended)} ended")


def assert_healthy(server: Server, processes: int = 3) -> None:
    """All processes alive, a normal call answered and its greeting heard within 1 s."""
    assert server.proc.poll() is None, server.log_path.read_text()[-3000:]
    assert len(child_pids(server.proc.pid)) == processes - 1
    assert_greeting_heard(server.port)
    wait_idle(server)


def assert_full_capacity(server: Server) -> None:
    """Exactly sip.max_calls calls get in at once, then they are hung up."""
    calls = place_calls(server.port, MAX_CALLS)
    try:
        assert Counter(c.status for c in calls) == {200: MAX_CALLS}, [(c.status, c.response) for c in calls]
    finally:
        hang_up(calls)
    wait_idle(server)


@pytest.fixture(scope="module")
def baseline_rss(server: Server) -> int:
    assert_healthy(server)  # one call first: lazily loaded pieces are in memory before the baseline
    return total_rss_kb(server)


def test_late_offer_invites_refused_or_redirected_do_not_crash_the_front(server: Server, baseline_rss: int) -> None:
    held = place_calls(server.port, 3)  # the front's own three calls
    try:
        assert [c.status for c in held] == [200, 200, 200] and not any(c.redirects for c in held)
        # issue 14 finding 1: this 302 to a late offer aborted the whole service, 9 runs out of 9
        redirected = place_calls(server.port, 2, late_offer=True, follow_redirects=False)
        assert [c.response.status for c in redirected if c.response] == [302, 302]
        hang_up(redirected)
    finally:
        hang_up(held)
    wait_idle(server)
    time.sleep(TTL_S + 0.5)  # the two redirects nobody followed
    assert_healthy(server)


def test_sixteen_callers_for_eight_slots_get_exactly_eight_and_503_retry_after(server: Server) -> None:
    calls = place_calls(server.port, 2 * MAX_CALLS)
    try:
        statuses = Counter(c.status for c in calls)
        assert statuses == {200: MAX_CALLS, 503: MAX_CALLS}, [(c.status, c.redirects) for c in calls]
        for call in calls:
            if call.status == 503:
                assert call.response.header("retry-after") == str(RETRY_AFTER)
        assert sum(1 for c in calls if c.status == 200 and c.redirects) == MAX_CALLS - 3  # workers took the rest
    finally:
        hang_up(calls)
    wait_idle(server)
    assert_full_capacity(server)


def test_redirects_nobody_follows_give_their_slots_back(server: Server) -> None:
    held = place_calls(server.port, 3)
    try:
        # finding 2a: every unfollowed 302 held a worker slot for good (486 with both workers idle)
        ignored = place_calls(server.port, MAX_CALLS, late_offer=True, follow_redirects=False)
        assert Counter(c.response.status for c in ignored) == {302: MAX_CALLS - 3, 503: 3}
        hang_up(ignored)
    finally:
        hang_up(held)
    wait_idle(server)
    time.sleep(TTL_S + 0.5)
    assert_full_capacity(server)


def test_answered_calls_never_acked_are_hung_up_after_the_ack_timeout(server: Server) -> None:
    before = len(server.events_named("ack_timeout"))
    unacked = place_calls(server.port, 3, ack=False)
    try:
        assert [c.status for c in unacked] == [200, 200, 200]
        server.wait_for("ack_timeout", before + 3, timeout=TTL_S + 5)  # finding 2b: held 61-67 s
    finally:
        for call in unacked:
            call.close()
    wait_idle(server)
    (call,) = place_calls(server.port, 1)
    try:
        assert call.status == 200 and call.redirects == 0  # the front's own slots are free again
    finally:
        hang_up([call])
    wait_idle(server)


def test_a_worker_port_takes_only_callers_the_front_sent_once(server: Server) -> None:
    worker_port = server.port + 1
    with RawSip(worker_port) as sip:  # finding 5: workers answered INVITEs directly
        sip.invite(Dialog(), sdp_port=40000)
        final = sip.final()
        assert final is not None and final.status == 403
    held = place_calls(server.port, 3)
    try:
        redirected = place_calls(server.port, 1, follow_redirects=False)[0]
        contact = redirected.response.header("contact").strip("<>")
        redirected.close()
        followed, replayed = RawSip(worker_port), RawSip(worker_port)
        try:
            followed.invite(Dialog(), sdp_port=40002, uri=contact)
            first = followed.final()
            replayed.invite(Dialog(), sdp_port=40004, uri=contact)
            second = replayed.final()
            assert first is not None and first.status == 200
            assert second is not None and second.status == 403  # the same ticket, a second time
        finally:
            followed.close()
            replayed.close()
    finally:
        hang_up(held)
    time.sleep(TTL_S + 1)  # the followed call was never ACKed: the worker drops it
    wait_idle(server)


def test_a_killed_worker_is_logged_and_restarted_and_only_its_calls_are_lost(server: Server) -> None:
    calls = place_calls(server.port, MAX_CALLS)
    try:
        assert Counter(c.status for c in calls) == {200: MAX_CALLS}
        workers = child_pids(server.proc.pid)
        os.kill(workers[0], signal.SIGKILL)  # finding 2c: never logged, never restarted
        died = server.wait_for("worker_died", timeout=10)[-1]
        assert died["calls_lost"] >= 1
        server.wait_for("worker_restarted", timeout=30)
        front_calls = [c for c in calls if not c.redirects]
        time.sleep(1.0)
        for call in front_calls:  # the front's calls are still up: no BYE came to them
            assert not call.sip.requests_received(0.1), "a front call was affected"
    finally:
        hang_up(calls)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the restarted worker loads its models, then reports ready
        if len(server.events_named("worker_ready")) >= 3:
            break
        time.sleep(0.5)
    wait_idle(server)
    assert_full_capacity(server)


def test_no_software_version_in_sip_headers(server: Server) -> None:
    with RawSip(server.port) as sip:
        sip.send(sip.request("OPTIONS", Dialog(), uri=f"sip:127.0.0.1:{server.port}"))
        final = sip.final()
    assert final is not None and final.status == 200
    for name in ("server", "user-agent"):
        value = final.header(name)
        assert value is None or not any(ch.isdigit() for ch in value), value


FUZZ_SEED, FUZZ_UDP, FUZZ_TCP = 1414, 1500, 150


def test_a_seeded_fuzz_of_thousands_of_messages_leaves_every_process_whole(server: Server) -> None:
    """Mutated SIP of every method at the front and at a worker, over UDP and TCP (a message
    split into random pieces on TCP). Bounded: about 3,300 messages in well under a minute."""
    rng = random.Random(FUZZ_SEED)
    for port in (server.port, server.port + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            udp.setblocking(False)
            for i, data in enumerate(messages(FUZZ_SEED + port, FUZZ_UDP, port, udp.getsockname())):
                udp.sendto(data[:65000], ("127.0.0.1", port))
                if i % 50 == 0:
                    time.sleep(0.02)  # ~2,500 datagrams/s: a flood, not a kernel-buffer overflow test
                    with contextlib.suppress(BlockingIOError):
                        while udp.recv(65535):
                            pass
        for i, data in enumerate(messages(FUZZ_SEED - port, FUZZ_TCP, port, ("127.0.0.1", 5099))):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2) as tcp:
                cut = sorted(rng.sample(range(1, max(2, len(data))), k=min(3, max(1, len(data) - 1))))
                for piece in (data[a:b] for a, b in zip([0, *cut], [*cut, len(data)], strict=True)):
                    tcp.sendall(piece)
                if i % 10 == 0:
                    time.sleep(0.05)
    time.sleep(TTL_S + 1)  # INVITEs the fuzz got answered are dropped for want of an ACK
    wait_idle(server)
    assert server.proc.poll() is None
    assert_healthy(server)
    log = server.log_path.read_text()
    assert "Traceback" not in log and "Assertion" not in log


def test_after_every_attack_the_service_is_whole(server: Server, baseline_rss: int) -> None:
    assert_healthy(server)
    after = total_rss_kb(server)
    assert after < baseline_rss * 1.10, f"RSS {baseline_rss} kB before the attacks, {after} kB after"
    assert not [e for e in server.events() if e.get("level") == "critical"]
