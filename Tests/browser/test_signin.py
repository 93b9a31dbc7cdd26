#!/usr/bin/env python3
"""Browser test of the PyTake sign-in page (headless Chromium via Selenium).

Environment:
    PYTAKE_URL              base URL of a running server, e.g. http://127.0.0.1:8080
    PYTAKE_ADMIN_EMAIL      email of a platform admin
    PYTAKE_ADMIN_PASSWORD   that admin's password
    CHROMIUM_BINARY         optional, default /usr/bin/chromium
    CHROMEDRIVER            optional, default /usr/bin/chromedriver

Run:  python3 Tests/browser/test_signin.py      (exit code 0 when every check passes)

The test makes exactly one failed sign-in per run. A later successful sign-in clears the
account's failure counter, but the per-address counter (30 failures per 15 minutes by default)
does not reset, so do not run this in a tight loop against the same server.
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
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover
    sys.exit("selenium is not installed: pip install selenium")

WAIT_SECONDS = 30
WRONG_PASSWORD = "definitely-not-the-password-\u00e7\u00e3o-42"


def require_env(name):
    value = os.environ.get(name, "").strip()
    if not value:
        sys.exit(f"environment variable {name} is required (see the docstring of {__file__})")
    return value


BASE_URL = require_env("PYTAKE_URL").rstrip("/")
ADMIN_EMAIL = require_env("PYTAKE_ADMIN_EMAIL")
ADMIN_PASSWORD = os.environ.get("PYTAKE_ADMIN_PASSWORD", "")
if not ADMIN_PASSWORD:
    sys.exit("environment variable PYTAKE_ADMIN_PASSWORD is required")


def make_driver():
    options = Options()
    options.binary_location = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--lang=en-US",
        "--window-size=1280,900",
    ):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


class SignInPageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.driver = make_driver()

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()

    # ------------------------------------------------------------------ helpers

    def wait(self, timeout=WAIT_SECONDS):
        return WebDriverWait(self.driver, timeout)

    def el(self, element_id):
        return self.driver.find_element(By.ID, element_id)

    def wait_until(self, condition, message):
        try:
            return self.wait().until(condition)
        except TimeoutException:
            self.fail(f"timed out after {WAIT_SECONDS}s: {message}\n{self.page_state()}")

    def page_state(self):
        """A short description of what the page shows, for failure messages."""
        try:
            d = self.driver
            return (
                f"  url={d.current_url}\n"
                f"  form visible={self.el('signin-form').is_displayed()} "
                f"whoami visible={self.el('whoami').is_displayed()}\n"
                f"  #signin text={self.el('signin').text!r} enabled={self.el('signin').is_enabled()}\n"
                f"  #error text={self.el('error').text!r}"
            )
        except Exception as exc:  # noqa: BLE001 - best effort diagnostics only
            return f"  (page state unavailable: {exc})"

    def severe_logs(self, allowed=()):
        """Browser console entries of level SEVERE, minus those containing any `allowed` text."""
        entries = self.driver.get_log("browser")  # reading drains the buffer
        return [
            e for e in entries
            if e.get("level") == "SEVERE" and not any(a in e.get("message", "") for a in allowed)
        ]

    def fetch_text(self, path):
        """Fetch a same-origin resource from inside the page and return its body."""
        result = self.driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            fetch(arguments[0], {cache: "no-store"})
              .then(r => r.text().then(t => done({status: r.status, text: t})))
              .catch(e => done({status: 0, text: String(e)}));
            """,
            path,
        )
        self.assertEqual(result["status"], 200, f"GET {path} returned {result['status']}: {result['text'][:200]}")
        return result["text"]

    def storage_state(self):
        return self.driver.execute_script(
            "return {local: window.localStorage.length, session: window.sessionStorage.length,"
            " cookie: document.cookie};"
        )

    def type_into(self, element_id, text):
        field = self.el(element_id)
        field.clear()
        field.send_keys(text)

    def submit(self):
        button = self.wait_until(EC.element_to_be_clickable((By.ID, "signin")), "#signin never became clickable")
        button.click()

    # ------------------------------------------------------------------ the scenario

    def test_signin_flow(self):
        d = self.driver
        d.set_script_timeout(WAIT_SECONDS)

        # (a) The page loads, app.js runs (it enables #signin) and nothing is logged as SEVERE:
        # CSP violations, 404s for assets and script errors all appear there.
        d.get(BASE_URL + "/")
        self.wait_until(EC.element_to_be_clickable((By.ID, "signin")), "app.js did not enable #signin")
        for element_id in ("email", "password", "signin", "error", "whoami", "whoami-email",
                           "whoami-role", "whoami-tenant", "signout", "lang"):
            self.assertTrue(d.find_elements(By.ID, element_id), f"#{element_id} is missing")
        self.assertTrue(self.el("signin-form").is_displayed(), "sign-in form is not visible on load")
        self.assertFalse(self.el("whoami").is_displayed(), "#whoami is visible before signing in")
        # Make the language deterministic whatever the browser locale is.
        Select(self.el("lang")).select_by_value("en")
        self.wait_until(lambda _: self.el("signin").text == "Sign in", "#signin does not say 'Sign in' in English")
        severe = self.severe_logs()
        self.assertEqual(severe, [], f"console errors on page load: {severe}")

        # (e) Markup safety, checked statically: the script never parses strings as HTML or touches
        # web storage, and the page has no inline script, inline style or on* handler attributes.
        app_js = self.fetch_text("/app.js")
        for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                          "localStorage", "sessionStorage", "document.cookie"):
            self.assertNotIn(forbidden, app_js, f"app.js must not use {forbidden}")
        self.assertIn("textContent", app_js, "app.js is expected to render values with textContent")
        inline = d.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            fetch("/", {cache: "no-store"}).then(r => r.text()).then(html => {
              const doc = new DOMParser().parseFromString(html, "text/html");
              const found = [];
              doc.querySelectorAll("script:not([src])").forEach(() => found.push("inline <script>"));
              doc.querySelectorAll("[style]").forEach(e => found.push("style= on <" + e.localName + ">"));
              doc.querySelectorAll("*").forEach(e => {
                for (const a of e.attributes) if (a.name.startsWith("on")) found.push(a.name + "= on <" + e.localName + ">");
              });
              done(found);
            }).catch(e => done(["fetch failed: " + e]));
            """
        )
        self.assertEqual(inline, [], f"index.html breaks the CSP rules: {inline}")

        # (b) A wrong password shows an error and keeps the form.
        self.type_into("email", ADMIN_EMAIL)
        self.type_into("password", WRONG_PASSWORD)
        self.submit()
        self.wait_until(lambda _: self.el("error").text.strip() != "", "#error stayed empty after a wrong password")
        self.wait_until(lambda _: self.el("signin").text == "Sign in" or "Try again" in self.el("signin").text,
                        "#signin did not leave the pending state")
        error_text = self.el("error").text.strip()
        self.assertTrue(self.el("error").is_displayed(), "#error has text but is not visible")
        self.assertTrue(self.el("signin-form").is_displayed(), "form disappeared after a wrong password")
        self.assertFalse(self.el("whoami").is_displayed(), "#whoami shown after a wrong password")
        if "Too many" in error_text:
            self.fail(f"the server is throttling sign-ins from this address; wait and retry. #error: {error_text!r}")

        # (c) The right password signs in and shows who we are.
        self.type_into("email", ADMIN_EMAIL)
        self.type_into("password", ADMIN_PASSWORD)
        self.submit()
        self.wait_until(EC.visibility_of_element_located((By.ID, "whoami")), "#whoami never appeared after signing in")
        self.assertEqual(self.el("whoami-email").text, ADMIN_EMAIL)
        role = self.el("whoami-role").text
        self.assertIn("platform admin", role.lower(), f"#whoami-role is {role!r}")
        self.assertEqual(self.el("whoami-tenant").text, "Platform", "a platform admin has no tenant")
        self.assertFalse(self.el("signin-form").is_displayed(), "form still visible after signing in")
        self.assertEqual(self.el("error").text.strip(), "", "#error not cleared after signing in")
        self.assertEqual(self.el("password").get_attribute("value"), "", "password field not cleared")

        # (d) Tokens are kept in memory only.
        state = self.storage_state()
        self.assertEqual(state["local"], 0, "localStorage is not empty")
        self.assertEqual(state["session"], 0, "sessionStorage is not empty")
        self.assertEqual(state["cookie"], "", f"document.cookie is {state['cookie']!r}")

        # (f) Signing out returns to the form.
        self.wait_until(EC.element_to_be_clickable((By.ID, "signout")), "#signout not clickable").click()
        self.wait_until(EC.visibility_of_element_located((By.ID, "signin-form")), "form did not come back after sign out")
        self.wait_until(EC.invisibility_of_element_located((By.ID, "whoami")), "#whoami still visible after sign out")
        self.assertEqual(self.el("error").text.strip(), "", f"sign out reported an error: {self.el('error').text!r}")
        self.assertEqual(self.el("whoami-email").text, "", "identity still rendered after sign out")
        state = self.storage_state()
        self.assertEqual((state["local"], state["session"], state["cookie"]), (0, 0, ""),
                         f"storage not empty after sign out: {state}")

        # (g) Switching to Brazilian Portuguese translates the UI.
        before = self.el("signin").text
        Select(self.el("lang")).select_by_value("pt-BR")
        self.wait_until(lambda _: self.el("signin").text not in ("", before),
                        f"#signin text stayed {before!r} after choosing pt-BR")
        self.assertEqual(self.el("signin").text, "Entrar")
        self.assertEqual(d.execute_script("return document.documentElement.lang"), "pt-BR")

        # No SEVERE console entries during the whole flow, apart from Chrome's own line for the
        # deliberate 401 of the wrong password.
        severe = self.severe_logs(allowed=("/api/v1/auth/login - Failed to load resource: the server responded with a status of 401",))
        self.assertEqual(severe, [], f"console errors during the flow: {severe}")


if __name__ == "__main__":
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    sys.exit(0 if result.wasSuccessful() else 1)
