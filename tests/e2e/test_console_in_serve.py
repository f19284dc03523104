"""``bedside serve`` with ``console.enabled``: the console answers from the server's own process
while it takes a real SIP call, and the call appears in the list and on its review page; a
console port that is taken is logged and the server still answers calls."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from tests.e2e.harness import run_call, start_server
from tests.processes import free_port

pytestmark = [pytest.mark.call, pytest.mark.slow]
PASSWORD = "correct horse battery"


def add_user(records: Path) -> None:
    bedside = str(Path(sys.executable).with_name("bedside"))
    env = {k: v for k, v in os.environ.items() if k not in ("BEDSIDE_RECORDS_KEYS", "BEDSIDE_CONFIG")}
    subprocess.run([bedside, "users", "add", "qa1", "--role", "qa", "--set", f"records.data_dir={records}"],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True, env=env, timeout=120)


def test_the_server_serves_the_console_and_its_calls_show_up(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_STREAM)
    server = start_server(tmp_path, "console.enabled=true", f"console.port={port}")
    try:
        (ready,) = server.wait_for("console_ready")
        base = f"http://127.0.0.1:{port}"
        assert ready["url"] == base + "/"
        add_user(tmp_path / "records")
        with httpx2.Client(base_url=base, timeout=10, follow_redirects=False) as c:
            assert c.get("/").status_code == 303
            assert c.post("/login", data={"name": "qa1", "password": PASSWORD}, headers={"Origin": base}).status_code == 303
            result = run_call(server.uri, "--no-transcribe", "--duration", "6")
            assert result.returncode == 0, result.stderr[-2000:]
            server.wait_for("call_ended")
            calls = c.get("/api/v1/calls").json()["calls"]
            assert len(calls) == 1
            review = c.get(f"/calls/{calls[0]['id']}")
            assert review.status_code == 200 and 'id="timeline"' in review.text
            # "Calls that sounded like this" answered from the server's search child (FAISS never
            # loads beside pjsua2): the caller said nothing, so there is no voice to compare, and
            # the search says so rather than being unavailable.
            note = review.text.split('id="similar-note">', 1)[1].split("<", 1)[0]
            assert note == "No scored caller audio in this call to compare with others.", note
            similar = c.get(f"/api/v1/calls/{calls[0]['id']}/similar")
            assert similar.status_code == 400 and "no audio embeddings" in similar.json()["detail"], similar.text
            assert 'id="call-path"' in review.text  # the graph file the server runs, with this call's way through it
    finally:
        assert server.stop() == 0


def test_a_taken_console_port_is_logged_and_calls_still_come_in(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = start_server(tmp_path, "console.enabled=true", f"console.port={port}")
        try:
            (error,) = server.wait_for("console_unavailable")
            assert "Address already in use" in error["error"] or "98" in error["error"]
            result = run_call(server.uri, "--no-transcribe", "--duration", "4")
            assert result.returncode == 0, result.stderr[-2000:]
        finally:
            assert server.stop() == 0
