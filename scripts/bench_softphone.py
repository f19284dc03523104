"""Voice-to-voice latency measured in the page: the console's softphone in headless Chromium.

``bedside bench latency --webrtc`` measures browser calls from an aiortc caller. This measures them
where a QA engineer sits: Chromium's own WebRTC stack, its adaptive jitter buffer (NetEQ) and its
audio output path. The fake microphone plays real recorded sentences (NOIZEUS, as the SIP bench)
on a fixed schedule; in the page, two WebAudio analysers watch the microphone's stream and the
agent's stream on one clock (``performance.now()``). A turn's latency is from the moment the
microphone's level falls after a sentence (the caller stopped speaking) to the moment the agent's
stream becomes audible (-60 dBFS, as the SIP bench's caller). The analysers are installed by the
bench through the browser's driver, not by the page: the page ships no measuring code.

Needs the test install (selenium, Debian chromium + chromium-driver):

    .venv/bin/python scripts/bench_softphone.py --turns 10
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.app.audio_files import load_pcm16k  # noqa: E402
from agent.app.bench_latency import caller_sentences  # noqa: E402

LEAD_S = 9.0  # quiet while the greeting plays
GAP_S = 7.0  # quiet after each sentence: the scripted reply is about 5 s
MEASURE = """
const done = arguments[arguments.length - 1];
const orig = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
window.__bench = {events: [], mic: null};
navigator.mediaDevices.getUserMedia = async (c) => { const s = await orig(c); window.__bench.mic = s; return s; };
done(true);
"""
START = """
const done = arguments[arguments.length - 1];
const remote = document.getElementById("agent-audio").srcObject;
const bench = window.__bench;
const ctx = new AudioContext();
function analyser(stream) {
  const a = ctx.createAnalyser(); a.fftSize = 256; ctx.createMediaStreamSource(stream).connect(a); return a;
}
const mic = analyser(bench.mic), agent = analyser(remote);
const buf = new Float32Array(256);
function db(a) { a.getFloatTimeDomainData(buf); let s = 0; for (const v of buf) s += v * v; return 10 * Math.log10(s / buf.length + 1e-12); }
let micLoud = false, micQuietSince = null, agentLoud = false;
setInterval(() => {
  const t = performance.now(), m = db(mic), g = db(agent);
  if (m > -50) { if (!micLoud) bench.events.push(["caller_on", t]); micLoud = true; micQuietSince = null; }
  else if (micLoud) { if (micQuietSince === null) micQuietSince = t; if (t - micQuietSince > 300) { micLoud = false; bench.events.push(["caller_off", micQuietSince]); } }
  if (g > -60) { if (!agentLoud) bench.events.push(["agent_on", t]); agentLoud = true; }
  else if (agentLoud) { agentLoud = false; bench.events.push(["agent_off", t]); }
}, 2);
done(ctx.state);
"""


def caller_file(path: Path, turns: int) -> float:
    """Lead, then each sentence followed by a gap; returns the file's length in seconds."""
    files = caller_sentences()
    parts = [np.zeros(int(LEAD_S * 16000), np.float32)]
    for t in range(turns):
        pcm = np.frombuffer(load_pcm16k(files[t % len(files)]), "<i2").astype(np.float32) / 32768
        parts += [pcm, np.zeros(int(GAP_S * 16000), np.float32)]
    x = np.concatenate(parts)
    sf.write(path, x, 16000, subtype="PCM_16")
    return len(x) / 16000


def latencies(events: list[list]) -> list[float]:
    """For each caller sentence: from its end to the agent's next onset (before the caller's next)."""
    out = []
    for i, (kind, t) in enumerate(events):
        if kind != "caller_off":
            continue
        for later_kind, later_t in events[i + 1:]:
            if later_kind == "caller_on":
                break
            if later_kind == "agent_on" and later_t >= t:
                out.append(later_t - t)
                break
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        raise SystemExit("needs Debian chromium and chromium-driver (scripts/install.sh --tests)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    bedside = str(Path(sys.executable).with_name("bedside"))
    work = Path(tempfile.mkdtemp(prefix="bedside-softphone-bench-"))
    where = ["--set", f"records.data_dir={work / 'records'}"]
    env = {k: v for k, v in os.environ.items() if k not in ("BEDSIDE_RECORDS_KEYS", "BEDSIDE_CONFIG")}
    password = secrets.token_urlsafe(16)
    subprocess.run([bedside, "records", "migrate", *where], check=True, capture_output=True, env=env)
    subprocess.run([bedside, "users", "add", "bench", "--role", "qa", *where], input=password + "\n", text=True, check=True,
                   capture_output=True, env=env)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (work / "server.log").open("wb")
    server = subprocess.Popen([bedside, "serve", "--sip-port", "0", *where, "--set", "console.enabled=true",
                               "--set", f"console.port={port}", "--set", "turn.responder=scripted", "--set", "emotion.service.port=0",
                               "--set", "tts.presynthesize=false", "--set", "turn.reprompt_after_s=60"],
                              stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    driver = None
    try:
        deadline = time.monotonic() + 180
        while b'"console_ready"' not in (work / "server.log").read_bytes():
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: {work / 'server.log'}")
            time.sleep(0.5)
        length = caller_file(work / "caller.wav", args.turns)
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-audio-capture={work / 'caller.wav'}%noloop",
                    "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        wait = WebDriverWait(driver, 60)
        driver.get(base + "/login")
        driver.find_element(By.NAME, "name").send_keys("bench")
        driver.find_element(By.NAME, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "form#login button").click()
        wait.until(EC.url_to_be(base + "/"))
        driver.get(base + "/softphone")
        driver.execute_async_script(MEASURE)
        driver.find_element(By.ID, "call").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "status"), "In call"))
        wait.until(lambda d: d.execute_script("const a = document.getElementById('agent-audio'); return !!(a && a.srcObject)"))
        driver.execute_async_script(START)
        time.sleep(length + 2)
        events = driver.execute_script("return window.__bench.events")
        driver.find_element(By.ID, "hangup").click()
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(30)
        log.close()
    ms = latencies(events)
    if not ms:
        raise SystemExit(f"no turn measured; events: {events[:20]}")
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, int(np.ceil(0.95 * len(ordered))) - 1)]
    print(f"softphone in Chromium: {len(ms)} of {args.turns} turns measured; voice-to-voice in the page "
          f"p50 {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, min {ordered[0]:.0f}, max {ordered[-1]:.0f}")
    print(json.dumps({"turns": len(ms), "p50_ms": round(statistics.median(ms)), "p95_ms": round(p95), "ms": [round(x) for x in ms]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
