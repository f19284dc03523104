"""What a SIP worker process loads: ``bedside serve``'s server module and the graph's sentence
encoder, without torch (~330 MB per process), aiortc or the web stack (the front's alone). Run in
a fresh interpreter, the way a worker starts (docs/benchmarks.md, "Memory per node")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
FRONT_ONLY = ("torch", "aiortc", "fastapi", "starlette", "uvicorn", "jinja2")


def test_a_sip_worker_imports_no_torch_no_webrtc_and_no_web_stack() -> None:
    code = f"""
import json, sys
import agent.app.server
from emotion.onnx_sentence import load_sentence_encoder
encoder = load_sentence_encoder()
encoder.encode(["I'd like to book an appointment"])
print(json.dumps({{"encoder": type(encoder).__name__, "loaded": [m for m in {FRONT_ONLY!r} if m in sys.modules]}}))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"encoder": "OnnxSentenceEncoder", "loaded": []}
