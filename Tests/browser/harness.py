"""The browser tests' harness: headless Chromium through Selenium with screenshots, on top of the
shared process harness (Tests/support/pytake_harness.py: a real pytake-server process on a fresh
database, a loopback fake of Meta's Graph API and of Meta's JavaScript SDK, an API client for
seeding), whose names are re-exported here for the test modules.

Environment (run.py and the Swift driver set these):
    PYTAKE_BROWSER_DATABASE_URL  a superuser URL of an existing, migrated, empty database
    PYTAKE_BIN_DIR               directory holding pytake-server, pytake-admin, pytake-scheduler
    PYTAKE_SCREENSHOT_DIR        where screenshots go (default .build/browser-screenshots)
    CHROMIUM_BINARY, CHROMEDRIVER  optional browser paths
"""

import os
import sys
import unittest

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover
    sys.exit("selenium is not installed: pip install selenium")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from pytake_harness import (  # noqa: E402,F401  (re-exported: the test modules use them as harness.X)
    ADMIN_EMAIL, ADMIN_PASSWORD, ENCRYPTION_KEY, JWT_SECRET, LOG_DIR, META_APP_ID, META_APP_SECRET, META_CONFIG_ID, ROOT,
    Api, ApiError, FakeService, PyTake, app_database_url, free_port, meta_text_message, post_webhook, require_env, sign_webhook,
)

WAIT_SECONDS = 20
SCREENSHOT_DIR = LOG_DIR


# ---------------------------------------------------------------------------- the browser


def make_driver():
    options = Options()
    options.binary_location = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--lang=en-US", "--window-size=1400,900"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_script_timeout(WAIT_SECONDS)
    return driver


class Env:
    """What every test shares: one server, one fake, the admin's API client. Set by run.py."""
    pytake = None
    fake = None
    admin = None
    database_url = None
    bin_dir = None


class BrowserTest(unittest.TestCase):
    """A test with its own browser. Saves a screenshot (and the page's console) when it fails."""

    def setUp(self):
        self.driver = make_driver()
        self.base = Env.pytake.url

    def tearDown(self):
        outcome = getattr(self, "_outcome", None)
        failed = False
        if outcome is not None:
            result = getattr(outcome, "result", None)
            errors = list(getattr(result, "errors", [])) + list(getattr(result, "failures", []))
            failed = any(test is self for test, _ in errors) or not getattr(outcome, "success", True)
        if failed:
            self.shot(f"FAILED-{self.id().split('.')[-1]}")
            try:
                for entry in self.driver.get_log("browser"):
                    print(f"  console {entry.get('level')}: {entry.get('message')}", file=sys.stderr)
            except Exception:  # noqa: BLE001 - diagnostics only
                pass
        self.driver.quit()

    # -- helpers

    def shot(self, name):
        os.makedirs(SCREENSHOT_DIR, exist_ok=True)
        path = os.path.join(SCREENSHOT_DIR, f"{name}.png")
        try:
            self.driver.save_screenshot(path)
        except Exception as exc:  # noqa: BLE001
            print(f"  screenshot {name} failed: {exc}", file=sys.stderr)
        return path

    def wait_until(self, condition, message, timeout=WAIT_SECONDS):
        try:
            return WebDriverWait(self.driver, timeout).until(condition)
        except TimeoutException:
            self.fail(f"timed out after {timeout}s: {message} (url {self.driver.current_url})")

    def el(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def els(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait_css(self, css, message=None, visible=True, timeout=WAIT_SECONDS):
        cond = EC.visibility_of_element_located((By.CSS_SELECTOR, css)) if visible else EC.presence_of_element_located((By.CSS_SELECTOR, css))
        return self.wait_until(cond, message or f"{css} did not appear", timeout)

    def click(self, css, message=None):
        el = self.wait_until(EC.element_to_be_clickable((By.CSS_SELECTOR, css)), message or f"{css} not clickable")
        el.click()
        return el

    def type_into(self, css, text, clear=True):
        field = self.wait_css(css)
        if clear:
            field.clear()
        field.send_keys(text)
        return field

    def severe_logs(self, allowed=()):
        entries = self.driver.get_log("browser")
        return [e for e in entries if e.get("level") == "SEVERE" and not any(a in e.get("message", "") for a in allowed)]

    def sign_in(self, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, hash_path=None):
        """Opens the page (at `hash_path`, e.g. "#/tenants") and signs in through the form."""
        self.driver.get(self.base + "/" + (hash_path or ""))
        self.wait_until(EC.element_to_be_clickable((By.ID, "signin")), "the sign-in button never became enabled")
        self.type_into("#email", email)
        self.type_into("#password", password)
        self.click("#signin")
        self.wait_css("#whoami", "not signed in (#whoami hidden)")
        self.wait_until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#view .loading"), "the view kept loading")

    def api_as(self, email, password=ADMIN_PASSWORD):
        return Api(self.base, email, password)
