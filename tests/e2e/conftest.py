"""Browser tests in Debian's Chromium through pytest-playwright, against pytest-django's live_server.

Playwright's sync API runs an event loop in the test thread for as long as it is started,
and Django refuses ORM calls from a thread with a running loop unless
DJANGO_ALLOW_ASYNC_UNSAFE is set. pytest-playwright starts Playwright once per session;
here it lives for this package only, and the variable with it, so neither leaks into the
rest of the suite (``manage.py check --deploy`` in a subprocess refuses the variable).
"""

import os
from collections.abc import Callable, Generator

import pytest
from playwright.sync_api import Browser, BrowserType, Playwright, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="package")
def playwright(_pw_api_request_contexts) -> Generator[Playwright, None, None]:
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    pw = sync_playwright().start()
    if _pw_api_request_contexts:
        _pw_api_request_contexts.instrument(pw)
    try:
        yield pw
    finally:
        pw.stop()
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return getattr(playwright, browser_name)


@pytest.fixture(scope="package")
def launch_browser(browser_type_launch_args: dict, browser_type: BrowserType) -> Callable[..., Browser]:
    def launch(**kwargs) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="package")
def browser(launch_browser: Callable[..., Browser]) -> Generator[Browser, None, None]:
    browser = launch_browser()
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def browser_context_args(playwright: Playwright, device: str | None, base_url: str | None) -> dict:
    args: dict = {}
    if device:
        args.update(playwright.devices[device])
    if base_url:
        args["base_url"] = base_url
    return args


@pytest.fixture
def console_errors(page):
    """Every console error and uncaught exception on the page, as text."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors
