"""Bedside behind Kamailio: the shipped configs/kamailio/kamailio.cfg in front of two real
``bedside serve`` nodes, each in its own network namespace (tests/e2e/front.py), called by
SIPp, baresip and hand-made SIP from addresses on the same bridge, and attacked with
SIPVicious.

Real: Kamailio 5.6 (Debian), both nodes with their models and SIP worker processes (each node
takes 5 calls: its front process 3, a worker 4, admission stops at 5; the node's 302 to its
worker is followed by Kamailio), SIPp, baresip over TLS, SIPVicious from PyPI. The nodes take
SIP only from the front's address and register with it using digest authentication. Nothing
leaves the machine."""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import numpy as np
import pytest
import soundfile as sf

from tests.e2e.front import (
    NODE_PASSWORD,
    NODE_USER,
    SIP_PORT,
    TLS_PORT,
    Kamailio,
    Node,
    Topology,
    make_certificate,
    sipp_calls,
    sipp_result,
    start_kamailio,
    start_node,
    write_lists,
)
from tests.e2e.sip_fuzz import messages
from tests.e2e.sip_raw import Dialog, RawSip

pytestmark = [pytest.mark.call, pytest.mark.slow]

NODE_HTTP_PORT = 8080  # console.port's default: /health and /metrics on the node's own address
NODE_CAPACITY = 5  # sip.max_calls per node: a front process (3) and one SIP worker (4)
PROBE_INTERVAL_S = 1
INVITE_RATE = 20  # per listed source per second
VENV_BIN = Path(sys.executable).parent


def discloses_software(headers: dict[str, str]) -> bool:
    """A Server/User-Agent header naming software or a version, or the word kamailio anywhere."""
    named = " ".join(v for k, v in headers.items() if k in ("server", "user-agent"))
    return bool(re.search(r"\d", named)) or "server" in headers or any("kamailio" in v.lower() for v in headers.values())


class Front:
    def __init__(self, topo: Topology, kamailio: Kamailio, nodes: dict[str, Node], directory: Path) -> None:
        self.topo, self.kamailio, self.nodes, self.directory = topo, kamailio, nodes, directory
        self._runs = 0

    def run_dir(self, what: str) -> Path:
        self._runs += 1
        return self.directory / f"{self._runs:02d}-{what}"

    def node_states(self) -> dict[str, str]:
        """Node name -> dispatcher flags (A active, I inactive, P probing, ...)."""
        listing = self.kamailio.rpc(self.topo, "dispatcher.list")
        states = {}
        for uri, flags in re.findall(r"URI: sip:([\d.]+):\d+\s+FLAGS: (\w+)", listing):
            name = next(n for n in ("node-a", "node-b") if self.topo.address(n) == uri)
            states[name] = flags
        return states

    def loads(self) -> dict[str, int]:
        """Node name -> calls the dispatcher counts against it."""
        listing = self.kamailio.rpc(self.topo, "dispatcher.list")
        found = re.findall(r"DUID: ([\w-]+).*?DLGLOAD: (\d+)", listing, re.S)
        return {duid: int(load) for duid, load in found}

    def wait_idle(self, timeout: float = 15.0) -> None:
        """Until the front counts no call against any node (every BYE passed it)."""
        deadline = time.monotonic() + timeout
        while any(self.loads().values()):
            assert time.monotonic() < deadline, self.loads()
            time.sleep(0.2)

    def wait_state(self, node: str, active: bool, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.node_states().get(node, "").startswith("A") == active:
                return
            time.sleep(0.2)
        raise AssertionError(f"{node} not {'active' if active else 'inactive'} in {timeout}s: {self.node_states()}")

    def restart(self, name: str) -> Node:
        node = start_node(self.topo, name, self.directory / f"{name}-{self._runs}", f"sip.max_calls={NODE_CAPACITY}")
        self.nodes[name] = node
        return node


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    for tool in ("kamailio", "kamcmd", "sipp", "openssl", "baresip"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            pytest.fail(f"{tool} is not installed (scripts/install.sh --tests installs it)")
    directory = tmp_path_factory.mktemp("front")
    topo = Topology.create()
    kamailio = None
    nodes: dict[str, Node] = {}
    try:
        cfg = directory / "kamailio"
        write_lists(cfg, topo, NODE_CAPACITY)
        certificate = make_certificate(cfg, topo.address("front"))
        kamailio = start_kamailio(topo, cfg, certificate, PROBE_INTERVAL_S, INVITE_RATE)
        for name in ("node-a", "node-b"):
            nodes[name] = start_node(topo, name, directory / name, f"sip.max_calls={NODE_CAPACITY}")
        fr = Front(topo, kamailio, nodes, directory)
        fr.wait_state("node-a", active=True)
        fr.wait_state("node-b", active=True)
        yield fr
    finally:
        for node in nodes.values():
            if node.proc.poll() is None:
                node.stop(timeout=60)
        if kamailio is not None:
            kamailio.stop()
        topo.destroy()


def answered(front: Front) -> dict[str, int]:
    return {name: node.calls_answered() for name, node in front.nodes.items()}


def test_twice_a_nodes_capacity_completes_split_across_both_nodes(front: Front) -> None:
    before = answered(front)
    result = sipp_calls(front.topo, front.run_dir("spread"), 2 * NODE_CAPACITY, hold_ms=4000, rate=20)
    assert result.returncode == 0 and result.successful == 2 * NODE_CAPACITY, result.output[-4000:]
    front.wait_idle()  # every call's load given back at its BYE
    after = answered(front)
    taken = {name: after[name] - before[name] for name in after}
    assert taken == {"node-a": NODE_CAPACITY, "node-b": NODE_CAPACITY}, taken  # call load: least loaded first
    # each node's fifth call was its front's 302 to its worker, followed by Kamailio
    for node in front.nodes.values():
        assert any(e.get("decision") == 302 for e in node.events_named("call_incoming")), node.log_path


def test_nodes_register_with_digest_and_take_sip_only_from_the_front(front: Front) -> None:
    locations = front.kamailio.rpc(front.topo, "ul.dump")
    assert locations.count("Contact:") >= 2, locations  # both nodes registered (after a 401 challenge)
    for node in front.nodes.values():
        statuses = [e.get("status") for e in node.events_named("registration")]
        assert statuses[:1] == [401] or 200 in statuses, statuses
        assert 200 in statuses, statuses
    # the PBX calling a node directly, around the front: refused
    node_a = front.topo.address("node-a")
    with RawSip(SIP_PORT, host=node_a, bind=front.topo.address("pbx")) as sip:
        sip.invite(Dialog(), sdp_port=40000, uri=f"sip:bedside@{node_a}:{SIP_PORT}")
        final = sip.final()
    assert final is not None and final.status == 403


def test_an_unlisted_source_gets_403_for_a_call_and_no_answer_to_anything_else(front: Front) -> None:
    target = front.topo.address("front")
    with RawSip(SIP_PORT, host=target, bind=front.topo.address("outsider")) as sip:
        sip.invite(Dialog(), sdp_port=40000)
        refused = sip.final()
        for method in ("OPTIONS", "REGISTER", "MESSAGE"):
            sip.send(sip.request(method, Dialog(), uri=f"sip:bedside@{target}"))
            assert sip.final(timeout=1.5) is None, method
    assert refused is not None and refused.status == 403
    assert not discloses_software(refused.headers), refused.headers  # no Server header, no version
    assert "refused INVITE from unlisted source" in front.kamailio.log()


def test_sipvicious_finds_no_extension_no_version_and_cracks_nothing(front: Front, tmp_path: Path) -> None:
    target = f"{front.topo.address('front')}:{SIP_PORT}"
    outsider = front.topo.address("outsider")
    found = sipvicious("svmap", "-b", outsider, target, "--timeout", "2")
    assert "kamailio" not in found.lower() and not re.search(r"\d+\.\d+\.\d+\.\d+:\d+\s*\|", found), found
    wars = sipvicious("svwar", "-b", outsider, "-m", "INVITE", "-e", "100-120,bedside,admin", target, "--force")
    assert not re.search(r"\|\s*(bedside|admin|1\d\d)\s*\|\s*(reqauth|noauth)", wars), wars
    # svcrack from a node's own address (the only place REGISTER is heard): a dictionary against the
    # node user; after 5 failures the source is refused, and the real password is long and random
    words = tmp_path / "words.txt"
    words.write_text("\n".join(["123456", "password", "bedside", "admin", "change-me", "letmein", "qwerty",
                                "clinic", "secret", "node", NODE_PASSWORD]))
    node_a = front.topo.address("node-a")
    cracked = sipvicious("svcrack", "-u", NODE_USER, "-d", str(words), "-b", node_a, "-P", "15060", "--maximumtime", "5",
                         target, netns=front.topo.ns("node-a"), timeout=25)
    assert NODE_PASSWORD not in cracked and "since we last received a response" in cracked, cracked  # locked out: silence
    assert front.kamailio.log().count(f"REGISTER authentication failed from {node_a}") <= 6


def sipvicious(tool: str, *args: str, netns: str | None = None, timeout: float = 120) -> str:
    """The tool's output; one still running after ``timeout`` (svcrack waits on after a target goes
    silent) is stopped and what it printed so far is returned."""
    cmd = [str(VENV_BIN / f"sipvicious_{tool}"), *args]
    if netns is not None:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as stopped:
        return (stopped.stdout or b"").decode(errors="replace") + (stopped.stderr or b"").decode(errors="replace")
    return done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")


def test_a_flood_is_limited_and_the_pbx_still_gets_through(front: Front) -> None:
    target = front.topo.address("front")
    calls = sipp_calls(front.topo, front.run_dir("during-flood"), 4, hold_ms=3000, rate=4, start=True)
    # a listed trunk sending 3x its INVITE budget in a second (to a user no node serves: no call is made)
    with RawSip(SIP_PORT, host=target, bind=front.topo.address("trunk2")) as sip:
        for _ in range(3 * INVITE_RATE):
            sip.invite(Dialog(user="nobody"), sdp_port=40000)
        answers = [r for r in sip.responses(timeout=4.0) if r.status >= 200]
    limited = [r for r in answers if r.status == 503]
    assert len(limited) >= INVITE_RATE, [r.status for r in answers]
    assert all(r.header("retry-after") for r in limited)
    # an unlisted source flooding: 403 at first, then silence (pike)
    with RawSip(SIP_PORT, host=target, bind=front.topo.address("outsider")) as sip:
        for _ in range(100):
            sip.invite(Dialog(), sdp_port=40000)
        flood_answers = [r for r in sip.responses(timeout=2.0) if r.status >= 200]
        sip.invite(Dialog(), sdp_port=40000)
        after = sip.final(timeout=1.5)
    assert len(flood_answers) < 50 and after is None, (len(flood_answers), after)
    result = sipp_result(calls)
    assert result.returncode == 0 and result.successful == 4, result.output[-4000:]


def test_a_call_over_tls_through_the_front(front: Front, tmp_path: Path, baresip: str) -> None:
    from tests.e2e.test_softphones import _baresip_modules

    before = sum(answered(front).values())
    config = tmp_path / "baresip"
    config.mkdir()
    pbx = front.topo.address("pbx")
    tone = tmp_path / "caller.wav"  # 6 s the caller plays; baresip hangs up when it ends
    sf.write(tone, (0.1 * np.sin(2 * np.pi * 440 * np.arange(6 * 8000) / 8000)).astype(np.float32), 8000, subtype="PCM_16")
    (config / "config").write_text(
        f"poll_method\t\tepoll\nsip_listen\t\t{pbx}:0\ncall_local_timeout\t30\ncall_max_calls\t\t1\n"
        f"audio_source\t\taufile,{tone}\naudio_player\t\taubridge,sink\naudio_alert\t\taubridge,sink\n"
        "ausrc_srate\t\t8000\nauplay_srate\t\t8000\nausrc_channels\t\t1\nauplay_channels\t\t1\n"
        f"module_path\t\t{_baresip_modules()}\nmodule\t\t\tg711.so\nmodule\t\t\taufile.so\nmodule\t\t\taubridge.so\n"
        "module_tmp\t\taccount.so\nmodule_app\t\tmenu.so\n")
    (config / "accounts").write_text(f"<sip:qa@{pbx}>;regint=0;answermode=manual;audio_codecs=PCMU/8000/1\n")
    uri = f"sip:bedside@{front.topo.address('front')}:{TLS_PORT};transport=tls"
    log = tmp_path / "baresip.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([baresip, "-f", str(config), "-e", f"/dial {uri}", "-t", "12"], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        proc.wait(40)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text(errors="replace")
    assert sum(answered(front).values()) == before + 1, text[-3000:]
    assert re.search(r"established|Call established", text, re.IGNORECASE), text[-3000:]


def test_fuzz_and_late_offers_through_the_front_leave_everything_answering(front: Front) -> None:
    """The hardening guarantees hold behind the front: mutated SIP from the listed PBX and from an
    outsider, then late-offer calls (no SDP in the INVITE, as many PBXs send) and a plain one."""
    target = front.topo.address("front")
    for source, seed in (("pbx", 20), ("outsider", 21)):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((front.topo.address(source), 0))
            udp.setblocking(False)
            for i, data in enumerate(messages(seed, 400, SIP_PORT, udp.getsockname())):
                udp.sendto(data[:65000], (target, SIP_PORT))
                if i % 40 == 0:
                    time.sleep(0.05)
                    with contextlib.suppress(BlockingIOError):
                        while udp.recv(65535):
                            pass
    time.sleep(10)  # INVITEs the fuzz got answered are hung up for want of an ACK (sip.ack_timeout_s)
    assert front.kamailio.proc.poll() is None, front.kamailio.log()[-3000:]
    for node in front.nodes.values():
        assert node.proc.poll() is None, node.log_path.read_text()[-3000:]
    late = sipp_calls(front.topo, front.run_dir("late-offer"), 2, hold_ms=2000, late_offer=True)
    assert late.returncode == 0 and late.successful == 2, late.output[-4000:]
    plain = sipp_calls(front.topo, front.run_dir("after-fuzz"), 2, hold_ms=1000)
    assert plain.returncode == 0 and plain.successful == 2, plain.output[-4000:]
    for node in front.nodes.values():
        log = node.log_path.read_text(errors="replace")
        assert "Traceback" not in log and "Assertion" not in log, node.log_path
    front.wait_idle()  # no load left behind by the fuzz: the nodes stay fully usable


def test_a_draining_node_finishes_its_calls_while_new_ones_go_to_the_other(front: Front) -> None:
    long_calls = sipp_calls(front.topo, front.run_dir("before-drain"), 4, hold_ms=8000, rate=10, start=True)
    node_b = front.nodes["node-b"]
    before_b = node_b.calls_answered()
    deadline = time.monotonic() + 20
    while node_b.calls_answered() - before_b < 2:  # call load: two of the four on each node
        assert time.monotonic() < deadline, answered(front)
        time.sleep(0.2)
    node_b.proc.send_signal(signal.SIGTERM)
    node_b.wait_for("draining", timeout=10)
    health = httpx2.get(f"http://{node_b.address}:{NODE_HTTP_PORT}/health", timeout=5)  # for orchestrators
    assert health.status_code == 503 and health.json()["status"] == "draining" and health.json()["active_calls"] >= 1
    front.wait_state("node-b", active=False, timeout=5 * PROBE_INTERVAL_S + 3)
    a_before, b_before = front.nodes["node-a"].calls_answered(), node_b.calls_answered()
    new_calls = sipp_calls(front.topo, front.run_dir("while-draining"), 3, hold_ms=1500, rate=10)
    assert new_calls.returncode == 0 and new_calls.successful == 3, new_calls.output[-4000:]
    assert node_b.calls_answered() == b_before
    assert front.nodes["node-a"].calls_answered() == a_before + 3
    first = sipp_result(long_calls)
    assert first.returncode == 0 and first.successful == 4, first.output[-4000:]  # the drained node's calls finished
    assert node_b.proc.wait(60) == 0
    # back after the upgrade: the front's next OPTIONS finds it and it takes calls again
    front.restart("node-b")
    front.wait_state("node-b", active=True, timeout=5 * PROBE_INTERVAL_S + 3)


def test_a_killed_node_loses_only_its_own_calls(front: Front) -> None:
    node_a, node_b = front.nodes["node-a"], front.nodes["node-b"]
    a0, b0 = node_a.calls_answered(), node_b.calls_answered()
    long_calls = sipp_calls(front.topo, front.run_dir("before-kill"), 4, hold_ms=8000, rate=10, start=True)
    deadline = time.monotonic() + 20
    while node_a.calls_answered() - a0 + node_b.calls_answered() - b0 < 4:
        assert time.monotonic() < deadline, answered(front)
        time.sleep(0.2)
    on_a = node_a.calls_answered() - a0
    assert on_a >= 1 and node_b.calls_answered() - b0 >= 1
    node_a.kill()
    killed_at = time.monotonic()
    b_before = node_b.calls_answered()
    # two more: node-b holds at most 3 of the 4 (call load), so 5 fits its capacity whatever the split was
    new_calls = sipp_calls(front.topo, front.run_dir("after-kill"), 2, hold_ms=1500, rate=10)
    assert new_calls.returncode == 0 and new_calls.successful == 2, new_calls.output[-4000:]
    assert node_b.calls_answered() == b_before + 2
    front.wait_state("node-a", active=False, timeout=max(0.0, killed_at + 3 * PROBE_INTERVAL_S + 3 - time.monotonic()))
    first = sipp_result(long_calls)
    assert first.failed == on_a and first.successful == 4 - on_a, first.output[-4000:]
