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


# Loaded only where the models run: a worker that uses its front's models (node.shared_models)
# never renders audio nor decodes it, so neither scipy.signal (~75 MB, the voice's filters and
# measures) nor faster-whisper (~23 MB) is imported by the server module itself.
MODEL_RUNTIME_ONLY = ("scipy", "faster_whisper", "torch")


def test_the_server_module_leaves_the_models_runtimes_to_the_process_that_runs_them() -> None:
    code = f"""
import json, sys
import agent.app.server
from agent.services.remote_stt import RemoteStt
from agent.services.remote_tts import RemoteSynthesizer
from agent.services.remote_embedder import RemoteEmbedder
print(json.dumps([m for m in {MODEL_RUNTIME_ONLY!r} if m in sys.modules]))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
