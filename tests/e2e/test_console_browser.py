"""The QA console in a real browser: Debian's Chromium, headless, driven through its chromedriver,
against ``bedside console`` running as its own process with an account made by ``bedside users``.
Sign-in refused then accepted, the session cookie as the browser holds it, a call's review with a
correction saved from its form, a role-gated page, a forged POST refused from inside the page,
sign-out."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[str]:
    bedside = str(Path(sys.executable).with_name("bedside"))
    env = {k: v for k, v in os.environ.items() if k not in ("BEDSIDE_RECORDS_KEYS", "BEDSIDE_CONFIG")}
    where = ["--set", f"records.data_dir={tmp_path}"]
    subprocess.run([bedside, "records", "migrate", *where], check=True, capture_output=True, env=env, timeout=120)
    subprocess.run([bedside, "users", "add", "dana", "--role", "admin", *where], input=PASSWORD + "\n", text=True,
                   check=True, capture_output=True, env=env, timeout=120)
    from agent.services.records.crypto import KeyRing
    from agent.services.records.store import RecordStore
    from tests.agent.services.records.test_queries import add_call

    store = RecordStore(f"sqlite:///{tmp_path / 'records.sqlite3'}", KeyRing.load(tmp_path / "records.key"))
    add_call(store, "call-urgent", datetime.now(UTC) - timedelta(hours=1), urgent=True)
    store.dispose()
    port = free_port()
    graph = tmp_path / "clinic.yaml"  # a copy: the console's editor must never touch the repo's graph
    graph.write_text((Path(__file__).resolve().parents[2] / "configs" / "graphs" / "clinic.yaml").read_text())
    proc = subprocess.Popen([bedside, "console", "--port", str(port), *where, "--set", f"graph.path={graph}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx2.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                break
        except httpx2.TransportError:
            pass
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "console exited"
        assert time.monotonic() < deadline, "console did not start"
        time.sleep(0.2)
    yield base
    proc.terminate()
    output = proc.communicate(timeout=20)[0]
    assert PASSWORD not in output


@pytest.fixture
def browser() -> Iterator:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.fail("chromium and chromium-driver are needed (scripts/install.sh --tests installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def sign_in(driver, name: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form#login button").click()


def test_sign_in_roles_forgery_and_sign_out_in_chromium(console: str, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    browser.get(console + "/")
    wait.until(EC.url_to_be(console + "/login"))
    sign_in(browser, "dana", "not the password")
    assert "Wrong name or password" in wait.until(EC.presence_of_element_located((By.ID, "error"))).text
    assert browser.get_cookies() == []

    sign_in(browser, "dana", PASSWORD)
    wait.until(EC.url_to_be(console + "/"))
    assert "Welcome, dana" in browser.find_element(By.TAG_NAME, "h1").text
    assert browser.find_element(By.ID, "who").text == "dana (admin)"
    (cookie,) = browser.get_cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("bedside_session", True, "Strict")
    assert browser.execute_script("return document.cookie") == ""  # page scripts cannot read it

    browser.find_element(By.LINK_TEXT, "Calls").click()
    wait.until(EC.url_to_be(console + "/calls"))
    browser.find_element(By.CSS_SELECTOR, 'tr[data-call="call-urgent"] a').click()
    wait.until(EC.url_to_be(console + "/calls/call-urgent"))
    plot = browser.find_element(By.ID, "timeline")
    assert plot.size["width"] > 300 and plot.size["height"] > 80
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline polyline")) == 3
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline path.burst")) == 1
    shot = Image.open(io.BytesIO(plot.screenshot_as_png)).convert("L")
    lo, hi = shot.getextrema()
    assert hi - lo > 100, "the plot rendered blank"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#replies tbody tr")) == 2

    # A correction, as QA makes it: the moment by its time, what it was; the page keeps it.
    from selenium.webdriver.support.ui import Select

    browser.find_element(By.NAME, "at").send_keys("0:03")
    Select(browser.find_element(By.NAME, "affect")).select_by_value("neutral")
    Select(browser.find_element(By.NAME, "burst")).select_by_value("none")
    browser.find_element(By.ID, "save-correction").click()
    row = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '#corrections-table tr[data-seq="1"]')))
    assert "neutral, no burst" in row.text and "dana" in row.text

    # The graph page: drawn, coloured; an edit with an error is shown with its line and changes nothing.
    browser.find_element(By.LINK_TEXT, "Graph").click()
    wait.until(EC.url_to_be(console + "/graph"))
    drawing = browser.find_element(By.ID, "graph")
    # the live view's script ran under the page's CSP and asked the API
    wait.until(EC.text_to_be_present_in_element((By.ID, "live-summary"), "No calls in progress."))
    assert drawing.size["width"] > 300 and len(browser.find_elements(By.CSS_SELECTOR, "#graph g.node")) > 10
    editor = browser.find_element(By.ID, "graph-text")
    text = editor.get_property("value")
    assert "start: greeting" in text
    browser.execute_script("arguments[0].value = arguments[1]", editor, text.replace("start: greeting", "start: nowhere", 1))
    browser.find_element(By.ID, "graph-apply").click()
    errors = wait.until(EC.presence_of_element_located((By.ID, "upload-errors"))).text
    assert "clinic.yaml:39:" in errors and "nowhere" in errors, errors
    assert "Not applied" in browser.find_element(By.ID, "notice").text

    browser.find_element(By.LINK_TEXT, "Staff").click()
    wait.until(EC.url_to_be(console + "/staff"))
    assert "dana" in browser.find_element(By.ID, "staff").text

    fetch = """const done = arguments[arguments.length - 1];
        fetch(arguments[0], {method: arguments[1], headers: arguments[2]}).then(r => done(r.status));"""
    assert browser.execute_async_script(fetch, "/api/v1/me", "GET", {}) == 200
    assert browser.execute_async_script(fetch, "/logout", "POST", {}) == 403  # no CSRF token: refused
    token = browser.find_element(By.CSS_SELECTOR, 'meta[name="csrf-token"]').get_attribute("content")
    assert browser.execute_async_script(fetch, "/api/v1/staff", "GET", {"X-CSRF-Token": token}) == 200

    browser.find_element(By.ID, "sign-out").click()
    wait.until(EC.url_to_be(console + "/login"))
    browser.get(console + "/staff")
    wait.until(EC.url_to_be(console + "/login"))
    assert browser.execute_async_script(fetch, "/api/v1/me", "GET", {}) == 401
