"""`betpipe dashboard` started for real on 127.0.0.1, each page photographed in Debian's headless Chromium: the
screenshot exists and is not blank (a rendered page has charts, tables and text: many distinct colours).

Chromium is a system package: CI installs it (`.ci/run` runs `make ci-tools`, apt-get on Debian); `make test` never
installs one, so the test skips with that hint where the browser is missing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import Engine

from fakes.chromium import CHROMIUM, chromium
from test_dashboard import seed_everything

PAGES = {"": "Model health", "betting": "Betting", "risk": "Risk", "system": "System"}
MIN_COLOURS = 500  # the bare Streamlit shell (toolbar only) has ~200 with anti-aliasing; a drawn page 1,000+

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed: `make test` installs no system package; `make ci-tools` (as root) installs it",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def dashboard(sqlite_engine: Engine, tmp_path: Path) -> Iterator[str]:
    """`betpipe dashboard` on a seeded store, as a user starts it; stopped (by its own pid) afterwards."""
    seed_everything(sqlite_engine)
    port = _free_port()
    env = dict(os.environ, BETPIPE_DATABASE_URL=f"sqlite:///{tmp_path / 'betpipe.sqlite'}", HOME=str(tmp_path))
    command = [str(Path(sys.executable).with_name("betpipe")), "dashboard", "--port", str(port)]
    log = (tmp_path / "dashboard.log").open("w")
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"betpipe dashboard exited {process.returncode}: {(tmp_path / 'dashboard.log').read_text()}"
                )
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > give_up:
                pytest.fail("betpipe dashboard did not answer its health check")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()  # `betpipe dashboard` execs streamlit: this pid is the server
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_each_page_renders_in_headless_chromium(dashboard: str, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile") as browser:
        for path, title in PAGES.items():
            out = tmp_path / f"{path or 'model_health'}.png"
            browser.screenshot(f"{dashboard}/{path}", out, title=title, width=1400, height=1000)
            assert out.is_file()
            with Image.open(out) as image:
                assert image.size == (1400, 1000)
                colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
                assert colours is not None
                assert len(colours) >= MIN_COLOURS, f"{title}: looks blank ({len(colours)} colours)"
