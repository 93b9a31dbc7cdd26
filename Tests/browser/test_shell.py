#!/usr/bin/env python3
"""The shell of the web admin: sign in and out, errors, storage, language, the strict CSP, token
refresh after expiry, deep links, and what a viewer can reach. Run through run.py."""

import os
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

import harness
from harness import ADMIN_EMAIL, ADMIN_PASSWORD, BrowserTest, Env, PyTake, WAIT_SECONDS

WRONG_PASSWORD = "definitely-not-the-password-\u00e7\u00e3o-42"
# The page asks the refresh endpoint, once on load, whether its cookie holds a session; without one
# Chrome logs the answer as a failed resource load.
RESUME_PROBE = "/api/v1/auth/refresh - Failed to load resource: the server responded with a status of 401"


def public_files():
    root = os.path.join(harness.ROOT, "public")
    for folder, _, files in os.walk(root):
        for name in files:
            yield os.path.join(folder, name)


class ShellTest(BrowserTest):
    def page_state(self):
        try:
            return (f"url={self.driver.current_url} form visible={self.el('#signin-form').is_displayed()} "
                    f"whoami visible={self.el('#whoami').is_displayed()} #error={self.el('#error').text!r}")
        except Exception as exc:  # noqa: BLE001
            return f"(page state unavailable: {exc})"

    def storage_state(self):
        return self.driver.execute_script(
            "return {local: window.localStorage.length, session: window.sessionStorage.length, cookie: document.cookie};")

    def test_signin_flow(self):
        d = self.driver
        # (a) The page loads, app.js enables #signin, and nothing but the resume probe is SEVERE:
        # CSP violations, 404s of assets and script errors all show up there.
        d.get(self.base + "/")
        self.wait_until(EC.element_to_be_clickable((By.ID, "signin")), "app.js did not enable #signin")
        for element_id in ("email", "password", "signin", "error", "whoami", "whoami-email",
                           "whoami-role", "whoami-tenant", "signout", "lang"):
            self.assertTrue(d.find_elements(By.ID, element_id), f"#{element_id} is missing")
        self.assertTrue(self.el("#signin-form").is_displayed(), "sign-in form is not visible on load")
        self.assertFalse(self.el("#whoami").is_displayed(), "#whoami is visible before signing in")
        Select(self.el("#lang")).select_by_value("en")
        self.wait_until(lambda _: self.el("#signin").text == "Sign in", "#signin does not say 'Sign in' in English")
        severe = self.severe_logs(allowed=(RESUME_PROBE,))
        self.assertEqual(severe, [], f"console errors on page load: {severe}")

        # (b) A wrong password shows an error and keeps the form.
        self.type_into("#email", ADMIN_EMAIL)
        self.type_into("#password", WRONG_PASSWORD)
        self.click("#signin")
        self.wait_until(lambda _: self.el("#error").text.strip() != "", "#error stayed empty after a wrong password")
        self.wait_until(lambda _: self.el("#signin").text == "Sign in", "#signin did not leave the pending state")
        self.assertTrue(self.el("#signin-form").is_displayed(), "form disappeared after a wrong password")
        self.assertFalse(self.el("#whoami").is_displayed(), "#whoami shown after a wrong password")
        self.assertIn("incorrect", self.el("#error").text)
        self.shot("signin-error")

        # (c) The right password signs in and shows who we are, the platform navigation and the
        # tenant switcher.
        self.type_into("#email", ADMIN_EMAIL)
        self.type_into("#password", ADMIN_PASSWORD)
        self.click("#signin")
        self.wait_css("#whoami", "#whoami never appeared after signing in")
        self.assertEqual(self.el("#whoami-email").text, ADMIN_EMAIL)
        self.assertIn("platform admin", self.el("#whoami-role").text.lower())
        self.assertEqual(self.el("#whoami-tenant").text, "Platform", "a platform admin has no tenant")
        self.assertFalse(self.el("#signin-form").is_displayed(), "form still visible after signing in")
        self.assertEqual(self.el("#error").text.strip(), "", "#error not cleared after signing in")
        self.assertEqual(self.el("#password").get_attribute("value"), "", "password field not cleared")
        self.wait_until(lambda _: "#/tenants" in d.current_url, "a platform admin does not land on #/tenants")
        navs = {a.get_attribute("data-nav") for a in self.els("#nav a")}
        self.assertTrue({"tenants", "overview", "jobs"} <= navs, f"platform navigation: {navs}")
        self.assertTrue(self.el("#tenant-switch").is_displayed(), "no tenant switcher for a platform admin")

        # (d) Tokens are kept in memory: no web storage, and the refresh cookie is HttpOnly.
        state = self.storage_state()
        self.assertEqual((state["local"], state["session"], state["cookie"]), (0, 0, ""), f"storage: {state}")
        cookies = {c["name"]: c for c in d.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]}
        self.assertIn("pytake_refresh", cookies, f"no refresh cookie: {list(cookies)}")
        refresh = cookies["pytake_refresh"]
        self.assertTrue(refresh["httpOnly"], "the refresh cookie is readable by scripts")
        self.assertEqual(refresh.get("sameSite"), "Strict")
        self.assertEqual(refresh.get("path"), "/api/v1/auth")

        # (e) A reload keeps the session (silent refresh from the cookie) and the deep link.
        d.get(self.base + "/#/jobs")
        self.wait_css("#whoami", "the session did not survive a reload")
        self.wait_until(lambda _: "#/jobs" in d.current_url, "the deep link was lost on reload")
        self.wait_until(lambda _: self.el("#nav a[data-nav='jobs']").get_attribute("aria-current") == "page",
                        "the deep-linked page is not the current navigation item")

        # (f) Signing out returns to the form and ends the cookie session.
        self.click("#signout")
        self.wait_css("#signin-form", "form did not come back after sign out")
        self.wait_until(EC.invisibility_of_element_located((By.ID, "whoami")), "#whoami still visible after sign out")
        self.assertEqual(self.el("#error").text.strip(), "", f"sign out reported an error: {self.el('#error').text!r}")
        self.assertEqual(self.el("#whoami-email").text, "", "identity still rendered after sign out")
        self.assertNotIn("pytake_refresh", {c["name"] for c in d.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]},
                         "refresh cookie kept after sign out")
        d.refresh()
        self.wait_until(EC.element_to_be_clickable((By.ID, "signin")), "#signin not enabled after reload")
        self.assertFalse(self.el("#whoami").is_displayed(), "signed in again after signing out and reloading")

        # (g) Switching to Brazilian Portuguese translates the page.
        Select(self.el("#lang")).select_by_value("pt-BR")
        self.wait_until(lambda _: self.el("#signin").text == "Entrar", "#signin not translated to pt-BR")
        self.assertEqual(d.execute_script("return document.documentElement.lang"), "pt-BR")
        self.assertEqual(self.el("#signin-heading").text, "Entrar")

        severe = self.severe_logs(allowed=(RESUME_PROBE,
                                           "/api/v1/auth/login - Failed to load resource: the server responded with a status of 401"))
        self.assertEqual(severe, [], f"console errors during the flow: {severe}")

    def test_markup_safety_and_csp(self):
        # Statically: no script parses strings as markup or touches web storage or document.cookie,
        # and no page has inline script, inline style or on* handler attributes.
        forbidden = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                     "localStorage", "sessionStorage", "document.cookie", "setAttribute(\"style\"")
        for path in public_files():
            if path.endswith(".js"):
                text = open(path, encoding="utf-8").read()
                for word in forbidden:
                    self.assertNotIn(word, text, f"{os.path.relpath(path, harness.ROOT)} uses {word}")
        self.driver.get(self.base + "/")
        self.wait_until(EC.element_to_be_clickable((By.ID, "signin")), "app.js did not enable #signin")
        inline = self.driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch("/", {cache: "no-store"}).then(async r => {
              const html = await r.text();
              const doc = new DOMParser().parseFromString(html, "text/html");
              const found = [];
              doc.querySelectorAll("script:not([src])").forEach(() => found.push("inline <script>"));
              doc.querySelectorAll("[style]").forEach(e => found.push("style= on <" + e.localName + ">"));
              doc.querySelectorAll("*").forEach(e => {
                for (const a of e.attributes) if (a.name.startsWith("on")) found.push(a.name + "= on <" + e.localName + ">");
              });
              done({found, csp: r.headers.get("Content-Security-Policy"), nosniff: r.headers.get("X-Content-Type-Options")});
            }).catch(e => done({found: ["fetch failed: " + e]}));
        """)
        self.assertEqual(inline["found"], [], f"index.html breaks the CSP rules: {inline['found']}")
        csp = inline["csp"] or ""
        for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
            self.assertIn(directive, csp)
        script_src = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
        self.assertNotIn("unsafe-inline", script_src)
        self.assertNotIn("unsafe-eval", script_src)
        self.assertEqual(inline["nosniff"], "nosniff")
        # The policy is enforced: an inline script injected at run time does not run.
        ran = self.driver.execute_script("""
            window.__pytakeInline = false;
            const s = document.createElement("script");
            s.textContent = "window.__pytakeInline = true";
            document.body.append(s);
            return window.__pytakeInline;
        """)
        self.assertFalse(ran, "an inline script ran: the CSP is not enforced")

    def test_public_size_and_no_external_resources(self):
        total = 0
        for path in public_files():
            total += os.path.getsize(path)
            if path.endswith((".html", ".css", ".js")):
                text = open(path, encoding="utf-8").read()
                for pattern in ("fonts.googleapis", "cdn.", "unpkg.com", "jsdelivr", "@import url(http", "src=\"http", "href=\"http"):
                    self.assertNotIn(pattern, text, f"{os.path.relpath(path, harness.ROOT)} loads an external resource ({pattern})")
        print(f"BENCH public_bytes {total} bytes (target < 300000)")
        # A budget, not a speed figure: the whole admin ships under 300 KB uncompressed.
        self.assertLess(total, 300_000, "public/ is over its 300 KB budget")

    def test_token_refresh_after_expiry(self):
        # A second server on the same database whose access tokens live 30 s (the shortest allowed).
        short = PyTake(Env.database_url, Env.bin_dir, Env.fake, {"ACCESS_TOKEN_TTL_SECONDS": "30"}).start()
        try:
            self.base = short.url
            self.sign_in(hash_path="#/jobs")
            refreshes = self.driver.execute_script("""
                window.__refreshes = 0;
                const original = window.fetch;
                window.fetch = function (url, init) {
                  if (String(url).includes("/api/v1/auth/refresh")) window.__refreshes += 1;
                  return original.apply(this, arguments);
                };
                return window.__refreshes;
            """)
            self.assertEqual(refreshes, 0)
            time.sleep(31)  # the first access token has now expired
            # Navigating fetches with the session: it must work without signing in again.
            self.driver.execute_script("location.hash = '#/tenants'")
            self.wait_until(lambda d: "#/tenants" in d.current_url and not self.els("#view .loading"), "tenants did not load")
            self.assertTrue(self.el("#whoami").is_displayed(), "signed out after the access token expired")
            self.assertFalse(self.els("#view .problem"), "an error is shown after the access token expired")
            self.assertGreaterEqual(self.driver.execute_script("return window.__refreshes"), 1, "the page never refreshed its token")
        finally:
            short.stop()

    def test_viewer_cannot_reach_write_actions(self):
        admin = Env.admin
        tenant = admin.create_tenant("viewer-shell", "Viewer Shell Co")
        other = admin.create_tenant("viewer-shell-other", "Someone Else")
        admin.create_user(tenant["id"], "viewer@viewer-shell.test", "viewer")
        admin.call("POST", f"/api/v1/tenants/{tenant['id']}/flows", {"name": "Welcome"})
        flow = admin.call("GET", f"/api/v1/tenants/{tenant['id']}/flows")["items"][0]
        self.sign_in("viewer@viewer-shell.test")
        tid = tenant["id"]
        self.wait_until(lambda d: f"#/tenants/{tid}/metrics" in d.current_url, "a viewer does not land on metrics")
        navs = {a.get_attribute("data-nav") for a in self.els("#nav a")}
        self.assertFalse({"tenants", "overview", "jobs", "audit"} & navs, f"a viewer sees admin navigation: {navs}")
        self.assertFalse(self.el("#tenant-switch").is_displayed(), "a viewer has a tenant switcher")
        pages = [f"#/tenants/{tid}/{p}" for p in ("inbox", "flows", "providers", "users", "settings", "metrics")]
        pages.append(f"#/tenants/{tid}/flows/{flow['id']}")
        for page in pages:
            self.driver.execute_script("location.hash = arguments[0]", page)
            self.wait_until(lambda d: d.current_url.endswith(page) and not self.els("#view .loading"), f"{page} did not load")
            time.sleep(0.3)  # views render their controls after their first fetch
            self.wait_until(lambda d: not self.els("#view .loading"), f"{page} kept loading")
            writes = [e.get_attribute("outerHTML")[:120] for e in self.els("[data-write]")]
            self.assertEqual(writes, [], f"{page} offers a viewer write controls")
            self.assertFalse(self.els("#view .problem"), f"{page} shows an error to a viewer: "
                             + " ".join(e.text for e in self.els("#view .problem")))
        self.shot("shell-viewer")
        # Platform pages answer "not for your role"; another tenant's pages send the viewer home.
        self.driver.execute_script("location.hash = '#/tenants'")
        self.wait_until(lambda d: self.els("#view .view-message"), "#/tenants is not refused to a viewer")
        self.driver.execute_script("location.hash = arguments[0]", f"#/tenants/{other['id']}/inbox")
        self.wait_until(lambda d: f"#/tenants/{tid}/metrics" in d.current_url, "another tenant's page was not refused")
