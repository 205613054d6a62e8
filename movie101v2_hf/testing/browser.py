"""A real browser for the pages this package writes: the system's Chromium, headless, driven by Playwright.

Nothing downloads a browser: Playwright is pointed at Debian's `chromium` (`executable_path`), started with the
flags a closed network needs. `console_errors` collects what the page logged as errors (and uncaught exceptions).

Example:
    >>> if chromium_path():  # doctest: +SKIP
    ...     with browser_page() as (page, errors):
    ...         _ = page.goto("data:text/html,<p>hi</p>")
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


def chromium_path() -> str | None:
    """The system Chromium, or None (Debian/Ubuntu: `apt-get install -y chromium`)."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@contextmanager
def browser_page(*, width: int = 1280, height: int = 900) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page of a headless system Chromium, and the list its console errors are appended to."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise FileNotFoundError("No Chromium on PATH: apt-get install -y chromium (nothing downloads a browser).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page, errors
        finally:
            browser.close()
