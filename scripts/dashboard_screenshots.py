"""Photograph every dashboard page in headless Chromium into docs/dashboard/ (the screenshots docs/monitoring.md
links): ``python scripts/dashboard_screenshots.py URL [OUT]`` with ``betpipe dashboard`` already serving URL.

Uses the test suite's DevTools driver (tests/fakes/chromium.py), which waits until Streamlit has drawn the page.
Full-page captures: each page is measured first, then photographed at its own height. Only talks to 127.0.0.1.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.chromium import CHROMIUM, chromium

PAGES = {"model_health": ("", "Model health"), "betting": ("betting", "Betting"), "risk": ("risk", "Risk")}
PAGES |= {"system": ("system", "System")}
WIDTH = 1400
HEIGHT = """Math.ceil(Math.max(...['[data-testid="stMain"]', '[data-testid="stMainBlockContainer"]']
  .map(s => document.querySelector(s)).filter(Boolean).map(e => Math.max(e.scrollHeight, e.offsetHeight + 120))))"""


def main(url: str, out: Path) -> int:
    if CHROMIUM is None:
        print("chromium is not installed (Debian: apt-get install chromium)", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile, chromium(Path(profile)) as browser:
        for name, (path, title) in PAGES.items():
            target = out / f"{name}.png"
            browser.screenshot(f"{url}/{path}", target, title=title, width=WIDTH, height=1000)
            height = max(1000, min(6000, int(browser.evaluate(HEIGHT))))
            browser.screenshot(f"{url}/{path}", target, title=title, width=WIDTH, height=height)
            print(f"{target} ({WIDTH}x{height})")
    return 0


if __name__ == "__main__":
    if not 2 <= len(sys.argv) <= 3:
        print(__doc__.splitlines()[0], file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(sys.argv[1].rstrip("/"), Path(sys.argv[2] if len(sys.argv) == 3 else "docs/dashboard")))
