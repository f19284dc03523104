"""A WebRTC call from the console's softphone page in real headless Chromium to ``bedside serve``.

Chromium's fake microphone plays a real recording (``--use-file-for-fake-audio-capture``): ten
seconds of quiet while the greeting plays, then a RAVDESS actor saying "Kids are talking by the
door". The agent (echo responder) transcribes it and says it back; the page's live panel fills
in (valence, trend, the node and expression of each reply, captions, turn latency); the page
records what it heard, and that recording, downloaded as a QA engineer would, is transcribed
here: the greeting and the echoed words are in it. The call is then on its review page."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from agent.services.stt import SttConfig, WhisperTranscriber
from emotion.audio import load_audio
from tests.e2e.harness import start_server
from tests.e2e.test_console_in_serve import PASSWORD, add_user
from tests.e2e.test_webrtc_call import door_clip
from tests.processes import free_port

pytestmark = [pytest.mark.call, pytest.mark.slow]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
LEAD_S, TAIL_S = 10.0, 40.0


def caller_file(shared: Path, tmp_path: Path) -> Path:
    speech = load_audio(door_clip(shared, tmp_path))
    pcm = np.concatenate([np.zeros(int(LEAD_S * 16000)), speech, np.zeros(int(TAIL_S * 16000))]).astype(np.float32)
    path = tmp_path / "caller.wav"
    sf.write(path, pcm, 16000, subtype="PCM_16")
    return path


@pytest.fixture
def chromium(tmp_path: Path, shared: Path) -> Iterator:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.fail("chromium and chromium-driver are needed (scripts/install.sh --tests installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={caller_file(shared, tmp_path)}%noloop",
                "--allow-loopback-in-peer-connection",  # host candidates on 127.0.0.1, like the agent's
                "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.downloads = downloads
    yield driver
    driver.quit()


def heard_in(recording: Path) -> str:
    """Transcribe the page's recording (WebM/Opus) with the agent's own Whisper model."""
    with av.open(str(recording)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
        pcm = b"".join(out.to_ndarray().tobytes() for frame in container.decode(audio=0) for out in resampler.resample(frame))
    assert len(pcm) > 16000 * 2 * 5, "the recording is shorter than the greeting"
    x = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    whisper = WhisperTranscriber(SttConfig())
    # A window at a time: the greeting, then what came after it.
    texts = [whisper.transcribe((x[i:i + 16000 * 12] * 32767).astype("<i2").tobytes()).text
             for i in range(0, len(x), 16000 * 12)]
    return " ".join(texts).lower()


def test_a_call_from_the_softphone_page_in_chromium(tmp_path: Path, chromium) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port(socket.SOCK_STREAM)
    server = start_server(tmp_path, "console.enabled=true", f"console.port={port}", "console.captions=true",
                          "turn.responder=echo", "turn.reprompt_after_s=60",
                          # A failure mid-call leaves the page's call up: stop hangs it up after this, not 300 s.
                          "sip.drain_timeout_s=10")
    base = f"http://127.0.0.1:{port}"
    try:
        server.wait_for("console_ready")
        add_user(tmp_path / "records")
        wait = WebDriverWait(chromium, 60)
        chromium.get(base + "/login")
        chromium.find_element(By.NAME, "name").send_keys("qa1")
        chromium.find_element(By.NAME, "password").send_keys(PASSWORD)
        chromium.find_element(By.CSS_SELECTOR, "form#login button").click()
        wait.until(EC.url_to_be(base + "/"))
        chromium.find_element(By.LINK_TEXT, "Softphone").click()
        wait.until(EC.url_to_be(base + "/softphone"))
        chromium.find_element(By.ID, "call").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "status"), "In call"))

        # The greeting's reply message, then the caller's words coming back as captions and a turn.
        wait.until(EC.text_to_be_present_in_element((By.ID, "events"), "greeting"))
        wait.until(EC.text_to_be_present_in_element((By.ID, "captions"), "door"))
        wait.until(EC.text_to_be_present_in_element((By.ID, "events"), "turn-1"))
        wait.until(lambda d: d.find_element(By.ID, "live").get_attribute("data-updates") not in (None, "0"))
        valence = float(chromium.find_element(By.ID, "valence").text)
        assert -1 <= valence <= 1
        assert chromium.find_element(By.ID, "trend").text in ("stable", "improving", "deteriorating")
        assert chromium.find_element(By.ID, "expression").text not in ("", "–")
        # The turn's timings are journaled once its first audio has played: after the reply itself.
        wait.until(EC.text_to_be_present_in_element((By.ID, "latency"), "first audio"))
        time.sleep(6)  # the echo is spoken: let the page hear it whole
        chromium.find_element(By.ID, "hangup").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "status"), "You hung up"))

        (ended,) = server.wait_for("call_ended", timeout=30)
        assert ended["reason"] == "remote" and ended["turns"] >= 1
        (heard,) = server.wait_for("caller_said", timeout=5)
        assert "door" in heard["transcript"].lower()

        wait.until(lambda d: d.find_element(By.ID, "recording").get_attribute("data-ready") == "yes")
        chromium.find_element(By.ID, "recording").click()
        deadline = time.monotonic() + 20
        while not (files := [p for p in chromium.downloads.iterdir() if p.suffix == ".webm"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert files, "the recording was not downloaded"
        heard_by_page = heard_in(files[0])
        assert "clinic" in heard_by_page and "door" in heard_by_page, heard_by_page

        chromium.find_element(By.ID, "review").click()
        wait.until(EC.presence_of_element_located((By.ID, "timeline")))
        assert len(chromium.find_elements(By.CSS_SELECTOR, "#replies tbody tr")) >= 2
    finally:
        assert server.stop() == 0
