"""Headless Debian Chromium driven by Playwright, started the way this machine needs it.

Without the background-networking flags Chromium keeps trying to reach Google's hosts, which
this sandbox refuses; the tests only ever open pages on 127.0.0.1.
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Screenshots land in the test's tmp dir, and also here when set (docs/ for the README).
SHOTS_ENV = "SECMON_SCREENSHOTS_DIR"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return "Debian's chromium is not installed (make test installs it)"
    return None


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, shots: Path, name: str) -> None:
    """The full page as `shots/<name>.png`, copied to $SECMON_SCREENSHOTS_DIR when set."""
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get(SHOTS_ENV)
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
