"""``bedside bench memory``: the resident memory of one node (``bedside serve``: its front and SIP
worker processes) idle and with N calls up at once.

For each level the bench starts ``bedside serve`` with ``sip.max_calls = N`` (the graph
responder, emotion in the front, records on a scratch SQLite file), waits for ``ready``, reads
the process tree's memory, places N calls with a small raw-SIP caller of its own (INVITE with a
PCMU offer, following the front's 302 to its workers, ACK, silence on RTP), waits until every
call has been greeted, reads the memory again, hangs up and stops the server.

Memory is read from /proc: RSS (what the issue asks for; it counts a page shared between
processes once per process) and PSS (a shared page split between the processes that share it:
the sum over a tree is what the tree really occupies). ``--server-cwd`` runs the server from
another checkout (e.g. a worktree of an older commit) with the same Python, for before/after."""

from __future__ import annotations

import argparse
import os
import re
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from agent.app.child_process import child_pids, free_port, read_events

SDP = ("v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=bench\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")


@dataclass
class TreeMemory:
    processes: int
    rss_mb: float
    pss_mb: float


def tree_pids(root: int) -> list[int]:
    pids, frontier = [root], [root]
    while frontier:
        try:
            kids = child_pids(frontier.pop())
        except OSError:
            continue  # exited meanwhile
        pids += kids
        frontier += kids
    return pids


def tree_memory(root: int) -> TreeMemory:
    rss = pss = 0
    pids = tree_pids(root)
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except FileNotFoundError:
            continue
    return TreeMemory(len(pids), rss / 1024, pss / 1024)


class Caller:
    """One call from its own SIP and RTP sockets: INVITE, 302 followed, ACK, BYE."""

    def __init__(self, port: int) -> None:
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.target = ("127.0.0.1", port)
        self.uri = f"sip:bedside@127.0.0.1:{port}"
        self.call_id, self.tag, self.to_tag, self.status = secrets.token_hex(8), secrets.token_hex(4), "", 0

    def request(self, method: str, cseq: int, body: str = "", branch: str | None = None) -> bytes:
        lhost, lport = self.sip.getsockname()
        to_tag = f";tag={self.to_tag}" if self.to_tag else ""
        kind = "Content-Type: application/sdp\r\n" if body else ""
        return (f"{method} {self.uri} SIP/2.0\r\nVia: SIP/2.0/UDP {lhost}:{lport};branch={branch or 'z9hG4bK' + secrets.token_hex(6)};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:bench@{lhost}:{lport}>;tag={self.tag}\r\nTo: <{self.uri}>{to_tag}\r\n"
                f"Call-ID: {self.call_id}\r\nCSeq: {cseq} {method if method != 'ACK' else 'INVITE'}\r\n"
                f"Contact: <sip:bench@{lhost}:{lport}>\r\n{kind}Content-Length: {len(body)}\r\n\r\n{body}").encode()

    def invite(self) -> None:
        self.branch = "z9hG4bK" + secrets.token_hex(6)
        self.sip.sendto(self.request("INVITE", 1, SDP.format(port=self.rtp.getsockname()[1]), self.branch), self.target)

    def on_response(self, data: bytes) -> bool:
        """True once the call has its final answer (200 ACKed, or a refusal)."""
        text = data.decode("utf-8", "replace")
        m = re.match(r"SIP/2\.0 (\d{3})", text)
        if not m or int(m.group(1)) < 200 or self.status:
            return False
        status = int(m.group(1))
        tag = re.search(r"^To:.*;tag=([^;>\s]+)", text, re.M | re.I)
        self.to_tag = tag.group(1) if tag else ""
        if status == 302:
            self.sip.sendto(self.request("ACK", 1, branch=self.branch), self.target)
            contact = re.search(r"^Contact:\s*<(sip:[^@]+@([^:;>]+):(\d+)[^>]*)>", text, re.M | re.I)
            if contact is None:
                self.status = status
                return True
            self.uri, self.target = contact.group(1), (contact.group(2), int(contact.group(3)))
            self.call_id, self.tag, self.to_tag = secrets.token_hex(8), secrets.token_hex(4), ""
            self.invite()
            return False
        self.status = status
        if status == 200:
            self.sip.sendto(self.request("ACK", 1), self.target)
        return True

    def hang_up(self) -> None:
        if self.status == 200:
            self.sip.sendto(self.request("BYE", 2), self.target)
        time.sleep(0.05)
        self.sip.close()
        self.rtp.close()


def place(port: int, count: int, timeout: float = 20.0) -> list[Caller]:
    callers = [Caller(port) for _ in range(count)]
    selector = selectors.DefaultSelector()
    for caller in callers:
        selector.register(caller.sip, selectors.EVENT_READ, caller)
        caller.invite()
        time.sleep(0.05)
    pending = set(callers)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, _ in selector.select(0.5):
            caller = key.data
            if caller.on_response(caller.sip.recv(65535)):
                pending.discard(caller)
    selector.close()
    return callers


def measure(calls: int, cwd: Path, workdir: Path, hold_s: float) -> dict[str, object]:
    port = free_port()
    log = workdir / f"serve-{calls}.log"
    cmd = [sys.executable, "-m", "agent.app.cli", "serve", "--sip-port", str(port), "--set", f"sip.max_calls={calls}",
           "--set", f"sip.rtp_port={free_port()}", "--set", "sip.rtp_port_range=400", "--set", "emotion.service.port=0",
           "--set", "tts.presynthesize=false", "--set", f"records.data_dir={workdir / f'records-{calls}'}",
           "--set", f"console.port={free_port(socket.SOCK_STREAM)}", "--set", "sip.rtp_timeout_s=120"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 300
        while not any(e.get("event") == "ready" for e in read_events(log)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bedside serve did not start (see {log})")
            time.sleep(0.5)
        time.sleep(3)  # settle: the workers' last allocations after ready
        idle = tree_memory(proc.pid)
        callers = place(port, calls)
        answered = sum(1 for c in callers if c.status == 200)
        time.sleep(hold_s)  # every call greeted: STT, TTS, VAD and the emotion stream all in use
        busy = tree_memory(proc.pid)
        for caller in callers:
            caller.hang_up()
        return {"calls": calls, "answered": answered, "processes": busy.processes, "idle": idle, "busy": busy}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def run_memory_bench(args: argparse.Namespace) -> int:
    levels = [int(n) for n in str(args.calls).split(",")]
    cwd = Path(args.server_cwd).resolve() if args.server_cwd else Path(__file__).resolve().parents[2]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bedside-bench-memory-") as scratch:
        for calls in levels:
            result = measure(calls, cwd, Path(scratch), args.hold)
            rows.append(result)
            idle, busy = result["idle"], result["busy"]
            print(f"{calls} calls ({result['answered']} answered), {result['processes']} processes: idle RSS "
                  f"{idle.rss_mb:.0f} MB / PSS {idle.pss_mb:.0f} MB; with the calls RSS {busy.rss_mb:.0f} MB / "
                  f"PSS {busy.pss_mb:.0f} MB", flush=True)
    table = ["| calls | answered | processes | idle RSS (MB) | idle PSS (MB) | RSS with calls (MB) | PSS with calls (MB) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        table.append(f"| {r['calls']} | {r['answered']} | {r['processes']} | {r['idle'].rss_mb:.0f} | {r['idle'].pss_mb:.0f} "
                     f"| {r['busy'].rss_mb:.0f} | {r['busy'].pss_mb:.0f} |")
    print("\n".join(table))
    if args.output:
        Path(args.output).write_text("\n".join(table) + "\n")
    return 0 if all(r["answered"] == r["calls"] for r in rows) else 1
