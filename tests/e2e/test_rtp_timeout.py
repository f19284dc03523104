"""A call whose RTP stops is torn down: SIPp (Debian sip-tester) answers the SDP dance and then
sends no media at all; the agent must send BYE after ``sip.rtp_timeout_s``. Real processes."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.harness import free_port, start_server

pytestmark = [pytest.mark.call, pytest.mark.slow]

SCENARIO = Path(__file__).parent / "sipp" / "uac_no_rtp.xml"


def test_call_without_rtp_is_hung_up_after_the_timeout(tmp_path, sipp):
    server = start_server(tmp_path, "sip.max_calls=4", "sip.rtp_timeout_s=3")
    try:
        started = time.monotonic()
        done = subprocess.run(
            [sipp, f"127.0.0.1:{server.port}", "-sf", str(SCENARIO), "-s", "bedside", "-m", "1",
             "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()), "-timeout", "40s",
             "-timeout_error", "-nostdin", "-trace_err", "-error_file", str(tmp_path / "sipp_err.log")],
            cwd=tmp_path, capture_output=True, timeout=60,
        )
        elapsed = time.monotonic() - started
        err = (tmp_path / "sipp_err.log").read_text() if (tmp_path / "sipp_err.log").exists() else ""
        assert done.returncode == 0, done.stdout.decode()[-1500:] + err[-1500:]
        assert 3 <= elapsed < 12, elapsed
        (timeout,) = server.wait_for("rtp_timeout")
        assert timeout["idle_s"] >= 3
        (ended,) = server.wait_for("call_ended")
        assert ended["reason"] == "rtp timeout"
    finally:
        assert server.stop() == 0
