"""The README's console screenshots, taken from a running Gatehouse with the demo data.

    make run                                   # in one terminal
    .venv/bin/python docs/screenshots.py       # in another: writes docs/images/console-*.png

First the demo person signs in once with a wrong password and once with the right one (so the
dashboard and their page have something to show), then the demo administrator opens the
console's dashboard and that person's page. Headless Debian Chromium, driven by Playwright.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

IMAGES = Path(__file__).resolve().parent / "images"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1200, "height": 820}


def sign_in(page: Page, base: str, path: str, username: str, password: str) -> None:
    page.goto(base + path)
    page.wait_for_selector("input[name=username]")
    page.get_by_label("Username, email or phone number").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()


def main(base: str) -> None:
    IMAGES.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        person = browser.new_page(viewport=VIEWPORT)
        sign_in(person, base, "/account", "demo", "not-the-password")
        sign_in(person, base, "/account", "demo", "demo-password-1")
        operator = browser.new_page(viewport=VIEWPORT)
        sign_in(operator, base, "/admin", "admin", "admin-password-1")
        operator.screenshot(path=str(IMAGES / "console-dashboard.png"))
        operator.goto(base + "/admin/users?q=demo")
        with operator.expect_navigation():
            operator.get_by_role("link", name="demo", exact=True).first.click()
        operator.screenshot(path=str(IMAGES / "console-user.png"), full_page=True)
        browser.close()
    print(f"wrote {IMAGES / 'console-dashboard.png'} and {IMAGES / 'console-user.png'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://localhost:5000")
