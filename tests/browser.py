"""Drive the real dashboard in headless Chromium (Debian's /usr/bin/chromium, never a downloaded browser).

Usage in a test::

    def test_page(app_server, browser_page):
        shot = screenshot(browser_page, app_server, "senses", wait_text="Purity", name="senses")

``app_server`` (see conftest.py) starts ``streamlit run app.py`` on a free port with a private cache;
screenshots go to ``out/screenshots/`` (git-ignored) so they can be looked at after the run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "out" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def chromium_or_skip() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent (install Debian's chromium; .ci/run does)")
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, env: dict, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
        self.log = open(env["SENSESCOPE_CACHE"] + ".server.log", "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 600  # generous: a loaded machine starts it slowly
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(self.url + "/_stcore/health", timeout=2).read() == b"ok":
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("streamlit server did not start within 10 min")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def screenshot(page, server: Server, path: str | None = "", *, wait_text: str | None = None, name: str,
               timeout_ms: int = 120_000, wait_plot: bool = True) -> Path:
    """Open ``server.url/path``, wait until the app has rendered (and ``wait_text`` and a plot are visible), then take a
    full-page screenshot. Fails if Streamlit shows an exception box. ``path=None`` stays on the current page."""
    if path is not None:
        page.goto(f"{server.url}/{path}", wait_until="domcontentloaded")
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    if wait_text:
        page.get_by_text(wait_text, exact=False).first.wait_for(timeout=timeout_ms)
    if wait_plot:
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=timeout_ms)
    wait_until_idle(page, timeout_s=timeout_ms / 1000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    out = SHOTS / f"{name}.png"
    page.screenshot(path=str(out), full_page=True)
    errors = page.locator("[data-testid='stException']")
    assert errors.count() == 0, f"page {path!r} shows an exception: {errors.first.inner_text()[:500]}"
    return out


def wait_until_idle(page, *, timeout_s: float = 600, quiet_polls: int = 3) -> None:
    """Wait until the script has finished and no background job is shown as running: neither Streamlit's "Running"
    status widget nor a spinner (the pages' job status lines, e.g. "Projecting (PCA)...") for ``quiet_polls``
    consecutive polls half a second apart (a job's follow-up rerun starts between polls). Gives up at the deadline
    without failing: the caller's own checks say what is wrong."""
    busy = "[data-testid='stStatusWidget'], [data-testid='stSpinner']"
    deadline, quiet = time.time() + timeout_s, 0
    while time.time() < deadline and quiet < quiet_polls:
        quiet = 0 if page.locator(busy).count() else quiet + 1
        time.sleep(0.5)


def wait_for_text(page, text: str, *, timeout_s: float = 600, what: str | None = None) -> None:
    """Wait until ``text`` is on the page; fail with the page's text (a loaded machine is slow, never assume speed)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if page.get_by_text(text, exact=False).count():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what or repr(text)} did not appear within {timeout_s:.0f} s; the page says:\n"
                         + page.inner_text("body")[:4000])


def fetch_every_download(page, *, refetch_after_s: float = 3.0) -> dict[str, tuple[int, int]]:
    """Click every enabled download button on the page and fetch what it serves: {label #i: (status, bytes)}.

    Streamlit answers a click on a deferred download with a /media/<id> URL that the browser then fetches; the
    download event carries that URL, which is fetched again here through the page's own session (same cookies) to
    read its status, so a file that Streamlit deleted shows up as a 404.
    """
    out: dict[str, tuple[int, int]] = {}
    fetched: dict[str, tuple[str, int, int]] = {}
    for details in page.locator("[data-testid='stExpander'] details").all():  # buttons inside expanders too
        if details.get_attribute("open") is None:
            details.locator("summary").first.click()
    time.sleep(0.5)
    boxes = page.locator("[data-testid='stDownloadButton']")
    for i in range(boxes.count()):
        visible = boxes.nth(i).locator("button:visible")
        if not visible.count():
            out[f"{boxes.nth(i).inner_text().strip()} #{i}"] = (-1, 0)  # a button the user cannot reach fails
            continue
        button = visible.first
        if button.is_disabled():
            continue
        label = f"{button.inner_text().strip()} #{i}"
        button.scroll_into_view_if_needed()
        with page.expect_download(timeout=600_000) as info:
            button.click()
        download = info.value
        response = page.request.get(download.url)
        fetched[label] = (download.url, response.status, len(response.body()))
        download.cancel()
    # Fetched again a moment later, all together (one wait, not one per button): a file must not vanish while the
    # page is merely showing a job's progress.
    time.sleep(refetch_after_s)
    for label, (url, status, size) in fetched.items():
        again = page.request.get(url)
        out[label] = (status if again.status == 200 else again.status, size)
    return out
