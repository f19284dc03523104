"""Hosts for the front's tests: network namespaces the test makes itself, joined by a bridge,
with Kamailio (the shipped configs/kamailio/kamailio.cfg) and real ``bedside serve`` nodes in
them. Nothing leaves the machine: the bridge has no uplink, and the namespaces and the bridge
are deleted at the end.

    namespace front    <prefix>.2    Kamailio
    namespace node-a   <prefix>.11   bedside serve
    namespace node-b   <prefix>.12   bedside serve
    the test's own namespace, on the bridge:
                       <prefix>.50   the clinic's PBX (listed: may place calls; SIPp, baresip)
                       <prefix>.51   a second listed trunk (its INVITE budget is tested)
                       <prefix>.66   anyone else on the network (not listed; SIPVicious)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import REPO, LoggedProcess

KAMAILIO_CFG = REPO / "configs" / "kamailio" / "kamailio.cfg"
HOSTS = {"front": 2, "node-a": 11, "node-b": 12}  # each in its own namespace
CALLERS = {"pbx": 50, "trunk2": 51, "outsider": 66}  # addresses of the test's namespace, on the bridge
NODE_USER, NODE_PASSWORD = "bedside-node", "a long random node secret"
SIP_PORT, TLS_PORT = 5060, 5061


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@dataclass
class Topology:
    """Namespaces named ``<tag>-<host>`` on a bridge ``<tag>br``; ``prefix`` is a /24's first three octets."""

    tag: str
    prefix: str
    made: list[str] = field(default_factory=list)

    @classmethod
    def create(cls) -> Topology:
        if shutil.which("ip") is None or os.geteuid() != 0:
            raise RuntimeError("the front's tests make network namespaces: they need `ip` (iproute2) and root")
        pid = os.getpid()
        topo = cls(tag=f"bs{pid % 100000}", prefix=f"10.{200 + pid % 50}.{pid % 250}")
        try:
            topo._build()
        except BaseException:
            topo.destroy()
            raise
        return topo

    def address(self, host: str) -> str:
        return f"{self.prefix}.{HOSTS.get(host) or CALLERS[host]}"

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def _build(self) -> None:
        bridge = f"{self.tag}br"
        _ip("link", "add", bridge, "type", "bridge")
        self.made.append(f"link:{bridge}")
        for caller in CALLERS:
            _ip("addr", "add", f"{self.address(caller)}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for host, n in HOSTS.items():
            ns, outer, inner = self.ns(host), f"{self.tag}h{n}", f"{self.tag}n{n}"
            _ip("netns", "add", ns)
            self.made.append(f"netns:{ns}")
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            self.made.append(f"link:{outer}")
            _ip("link", "set", inner, "netns", ns)
            _ip("link", "set", outer, "master", bridge, "up")
            _ip("-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", inner)
            _ip("-n", ns, "link", "set", inner, "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def destroy(self) -> None:
        for item in reversed(self.made):
            kind, _, name = item.partition(":")
            if kind == "netns":
                pids = _ip("netns", "pids", name, check=False).stdout.split()
                for pid in pids:  # whatever a failed test left running in it
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                _ip("netns", "del", name, check=False)
            else:
                _ip("link", "del", name, check=False)
        self.made.clear()

    def exec(self, host: str) -> list[str]:
        """The command prefix that runs a program on ``host`` (callers run in the test's namespace)."""
        return [] if host in CALLERS else ["ip", "netns", "exec", self.ns(host)]


@dataclass
class Kamailio:
    proc: subprocess.Popen[bytes]
    log_path: Path
    ctl: str  # kamcmd -s

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rpc(self, topo: Topology, *command: str) -> str:
        done = subprocess.run([*topo.exec("front"), "kamcmd", "-s", self.ctl, *command], capture_output=True,
                              text=True, timeout=10)
        return done.stdout + done.stderr

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


NODES = ("node-a", "node-b")


def write_lists(directory: Path, topo: Topology, node_capacity: int, dispatched: tuple[str, ...] = NODES) -> None:
    """The front's lists: ``dispatched`` nodes take calls (scripts/bench_front.py uses one of them);
    the PBX and trunk2 may place calls and every node may register."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dispatcher.list").write_text("".join(
        f"1 sip:{topo.address(n)}:{SIP_PORT} 0 0 duid={n};maxload={node_capacity}\n" for n in dispatched))
    (directory / "address.list").write_text(
        f"1 {topo.address('pbx')} 32\n1 {topo.address('trunk2')} 32\n" + "".join(f"2 {topo.address(n)} 32\n" for n in NODES))


def make_certificate(directory: Path, common_name: str) -> tuple[Path, Path]:
    """A self-signed certificate for the front's TLS listener (openssl, as docs/deployment.md shows)."""
    cert, key = directory / "front.crt", directory / "front.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    f"/CN={common_name}", "-addext", f"subjectAltName=IP:{common_name}", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def start_kamailio(topo: Topology, directory: Path, tls: tuple[Path, Path] | None, probe_interval: int = 1,
                   invite_rate: int = 20) -> Kamailio:
    ctl = f"unix:{directory / 'kamailio_ctl'}"
    defines = [f"FRONT_IP={topo.address('front')}", f'CFG_DIR="{directory}"', f'CTL_SOCKET="{ctl}"',
               f"PROBE_INTERVAL={probe_interval}", f"INVITE_RATE={invite_rate}", f'NODE_USER="{NODE_USER}"',
               f'NODE_PASSWORD="{NODE_PASSWORD}"']
    if tls is not None:
        cert, key = tls
        (directory / "tls.cfg").write_text(
            "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
            f"private_key = {key}\ncertificate = {cert}\n\n[client:default]\nmethod = TLSv1.2+\n"
            "verify_certificate = no\nrequire_certificate = no\n")
        defines.append("WITH_TLS")
    cmd = [*topo.exec("front"), "kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-m", "64", "-M", "8",
           "-Y", str(directory), "-P", str(directory / "kamailio.pid")]
    for define in defines:
        cmd += ["-A", define]
    log_path = directory / "kamailio.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    front = Kamailio(proc, log_path, ctl)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"kamailio exited {proc.returncode}:\n{front.log()[-3000:]}")
        if front.rpc(topo, "core.version").startswith("kamailio"):
            return front
        time.sleep(0.2)
    front.stop()
    raise AssertionError(f"kamailio did not answer on its control socket:\n{front.log()[-3000:]}")


@dataclass
class Node(LoggedProcess):
    name: str = ""
    address: str = ""

    def kill(self) -> None:
        """kill -9 the node: its front and its SIP worker processes at once."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def calls_answered(self) -> int:
        return sum(1 for e in self.events_named("call_incoming") if e.get("decision") == 200)


def start_node(topo: Topology, name: str, directory: Path, *settings: str, timeout: float = 180.0) -> Node:
    """``bedside serve`` on ``name``'s address, taking SIP only from the front, registering with it."""
    address = topo.address(name)
    front = topo.address("front")
    directory.mkdir(parents=True, exist_ok=True)
    cmd = [*topo.exec(name), sys.executable, "-m", "agent.app.cli", "serve", "--sip-port", str(SIP_PORT),
           "--set", f"sip.host={address}", "--set", f'sip.allowed_sources=["{front}/32"]',
           "--set", "sip.rtp_port=40000", "--set", "sip.rtp_port_range=200",
           "--set", f"sip.registration.registrar=sip:{front}:{SIP_PORT}",
           "--set", f"sip.registration.aor=sip:bedside@{front}",
           "--set", f"sip.registration.username={NODE_USER}", "--set", f"sip.registration.password={NODE_PASSWORD}",
           "--set", "emotion.service.mode=off", "--set", "turn.responder=scripted", "--set", "tts.presynthesize=false",
           "--set", f"records.data_dir={directory / 'records'}", "--set", f"console.host={address}"]
    for item in settings:
        cmd += ["--set", item]
    log_path = directory / "node.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    node = Node(proc, log_path, name=name, address=address)
    node.wait_ready(timeout, f"bedside node {name}")
    return node


@dataclass
class SippResult:
    returncode: int
    stats: dict[str, int]
    output: str

    @property
    def successful(self) -> int:
        return self.stats.get("SuccessfulCall(C)", 0)

    @property
    def failed(self) -> int:
        return self.stats.get("FailedCall(C)", 0)


def sipp_calls(topo: Topology, directory: Path, calls: int, *, source: str = "pbx", hold_ms: int = 3000,
               rate: float = 10.0, caller: str = "front-test", timeout_s: int = 120, late_offer: bool = False,
               start: bool = False) -> SippResult | subprocess.Popen[bytes]:
    """SIPp at ``source``'s address places ``calls`` calls to the front, all at once (up to ``rate``
    per second), each held ``hold_ms``; ``late_offer``: INVITEs without SDP. ``start``: return the
    running process (``sipp_result`` reads it)."""
    directory.mkdir(parents=True, exist_ok=True)
    scenario = Path(__file__).parent / "sipp" / ("uac_late_offer_via_front.xml" if late_offer else "uac_via_front.xml")
    cmd = ["sipp", f"{topo.address('front')}:{SIP_PORT}", "-sf", str(scenario), "-s", "bedside",
           "-i", topo.address(source), "-p", "0", "-m", str(calls), "-l", str(calls), "-r", str(rate), "-rp", "1000",
           "-d", str(hold_ms), "-key", "caller", caller, "-nostdin",
           "-timeout", f"{timeout_s}s", "-timeout_error", "-trace_stat", "-stf", str(directory / "stat.csv"),
           "-fd", "1", "-trace_err", "-error_file", str(directory / "errors.log"), "-max_recv_loops", "100"]
    out = (directory / "sipp.out").open("wb")
    proc = subprocess.Popen(cmd, cwd=directory, stdout=out, stderr=subprocess.STDOUT)
    proc.directory = directory  # type: ignore[attr-defined]
    if start:
        return proc
    return sipp_result(proc, timeout_s + 30)


def sipp_result(proc: subprocess.Popen[bytes], timeout: float = 150) -> SippResult:
    directory: Path = proc.directory  # type: ignore[attr-defined]
    rc = proc.wait(timeout)
    stats: dict[str, int] = {}
    stat_file = directory / "stat.csv"
    if stat_file.exists():
        lines = [line for line in stat_file.read_text().splitlines() if line.strip()]
        if len(lines) >= 2:
            header, last = lines[0].split(";"), lines[-1].split(";")
            for key, value in zip(header, last, strict=False):
                if value.strip().isdigit():
                    stats[key] = int(value)
    output = (directory / "sipp.out").read_text(errors="replace")
    errors = directory / "errors.log"
    if errors.exists():
        output += "\n--- errors ---\n" + errors.read_text(errors="replace")[-4000:]
    return SippResult(rc, stats, output)
