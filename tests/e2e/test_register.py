"""REGISTER with digest authentication against a real registrar: SIPp (Debian sip-tester) plays
a registrar that challenges with 401 and verifies the credentials. ``bedside serve`` is real."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.harness import free_sip_port, start_server

pytestmark = [pytest.mark.call, pytest.mark.slow]

SCENARIO = Path(__file__).parent / "sipp" / "uas_registrar.xml"


@pytest.mark.parametrize(("password", "expected"), [("s3cret-pw", 200), ("wrong-pw", 403)])
def test_registers_with_digest_auth(tmp_path, sipp, password, expected):
    registrar_port = free_sip_port()
    registrar = subprocess.Popen(
        [sipp, "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(registrar_port), "-m", "1",
         "-key", "user", "bedside", "-key", "pass", "s3cret-pw", "-nostdin", "-timeout", "60s"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    time.sleep(0.5)
    server = start_server(
        tmp_path, "sip.max_calls=4",
        f"sip.registration.registrar=sip:127.0.0.1:{registrar_port}",
        "sip.registration.aor=sip:bedside@127.0.0.1",
        "sip.registration.username=bedside",
        f"sip.registration.password={password}",
    )
    try:
        deadline = time.monotonic() + 20
        statuses: list[int] = []
        while time.monotonic() < deadline:
            statuses = [e["status"] for e in server.events_named("registration")]
            if any(s >= 200 and s != 401 for s in statuses):
                break
            time.sleep(0.1)
        assert expected in statuses, (statuses, server.log_path.read_text()[-2000:])
        assert "s3cret" not in server.log_path.read_text() and "wrong-pw" not in server.log_path.read_text()
        registrar.wait(20)
        assert registrar.returncode == 0
    finally:
        if registrar.poll() is None:
            registrar.kill()
        server.stop()
