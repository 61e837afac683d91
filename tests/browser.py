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
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(self.url + "/_stcore/health", timeout=2).read() == b"ok":
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("streamlit server did not start within 60 s")

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
    # wait until the script has finished running (no "Running..." status widget)
    deadline = time.time() + timeout_ms / 1000
    while time.time() < deadline and page.locator("[data-testid='stStatusWidget']").count():
        time.sleep(0.3)
    time.sleep(1.0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    out = SHOTS / f"{name}.png"
    page.screenshot(path=str(out), full_page=True)
    errors = page.locator("[data-testid='stException']")
    assert errors.count() == 0, f"page {path!r} shows an exception: {errors.first.inner_text()[:500]}"
    return out
