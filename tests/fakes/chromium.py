"""Screenshots of a live page in Debian's headless Chromium, driven over the DevTools protocol on 127.0.0.1.

``chromium --screenshot --virtual-time-budget`` does not work for Streamlit: the page is drawn from websocket
messages, which virtual time does not wait for, so it photographs an empty shell. Here the browser loads the page,
the helper polls the DOM until the app has finished running and its charts have stopped changing, then captures.
Never reaches beyond 127.0.0.1; the browser profile lives in the caller's temporary directory.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
READY = """(() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main || !main.innerText.includes(%s)) return -1;
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  if (status && /running/i.test(status.innerText)) return -1;
  if (document.querySelector('[data-testid="stSkeleton"]')) return -1;
  return document.querySelectorAll('canvas, svg, [data-testid="stDataFrame"]').length;
})()"""


class Browser:
    def __init__(self, socket: Any) -> None:
        self.socket, self.next_id = socket, 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.socket.recv(timeout=60))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (what the user's browser drew, not what the server sent)."""
        found = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return found.get("result", {}).get("value")

    def screenshot(self, url: str, out: Path, *, title: str, width: int, height: int, deadline: float = 90) -> None:
        """Load ``url``, wait until the page shows ``title`` and stops changing, save a PNG of the viewport."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        give_up = time.monotonic() + deadline
        last, stable = -2, 0
        while stable < 3:
            if time.monotonic() > give_up:
                raise TimeoutError(f"{url} did not finish rendering {title!r} within {deadline:g} s")
            time.sleep(0.5)
            found = self.call("Runtime.evaluate", expression=READY % json.dumps(title), returnByValue=True)
            count = int(found.get("result", {}).get("value", -1))
            stable = stable + 1 if count >= 0 and count == last else 0
            last = count
        time.sleep(1.0)  # charts animate in
        shot = self.call("Page.captureScreenshot", format="png")
        out.write_bytes(base64.b64decode(shot["data"]))


@contextmanager
def chromium(profile: Path) -> Iterator[Browser]:
    """A headless Chromium on a free DevTools port (root needs --no-sandbox), stopped on exit."""
    assert CHROMIUM is not None
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
    args += ["--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}"]
    process = subprocess.Popen([*args, "about:blank"], stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        port = None
        for line in process.stderr:
            match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if match:
                port = int(match.group(1))
                break
        if port is None:
            raise RuntimeError("chromium did not start its DevTools endpoint")
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(t for t in targets if t.get("type") == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
            browser = Browser(socket)
            browser.call("Page.enable")
            yield browser
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
