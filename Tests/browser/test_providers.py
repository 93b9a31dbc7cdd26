#!/usr/bin/env python3
"""The providers page: provider instances (create, edit, remove, masked secrets, 422 errors next to
their fields), credential resolution (legacy tenant columns vs provider instances), test sends
through the fake provider, read-only roles, and Meta Embedded Signup with a fake JS SDK and a fake
Graph API (every step, a failing step, a cancelled login, the redirect flow's outcome).
Run through run.py."""

import json
import re
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

import harness
from harness import BrowserTest, Env

# Console lines Chrome writes for API answers the page handles itself (no credentials = 404,
# validation = 422, provider refused = 502).
HANDLED_HTTP = tuple(f"the server responded with a status of {code}" for code in (400, 404, 409, 422, 502)) + (
    # The page asks the refresh endpoint once on load whether its cookie holds a session.
    "/api/v1/auth/refresh - Failed to load resource: the server responded with a status of 401",)

FAKE_SDK = """
(function () {
  window.__fbInitCalls = [];
  window.__fbLoginCalls = 0;
  window.FB = {
    init: function (options) { window.__fbInitCalls.push(options); },
    login: function (callback, options) {
      window.__fbLoginCalls += 1;
      window.__fbLoginOptions = options;
      var s = window.__fakeSignup || {};
      if (s.hold) {  // the test answers later, through window.__fbPending
        window.__fbPending = callback;
        return;
      }
      if (s.cancel) {
        setTimeout(function () { callback({ authResponse: null, status: "unknown" }); }, 50);
        return;
      }
      window.postMessage({ type: "WA_EMBEDDED_SIGNUP", event: "FINISH",
                           data: { waba_id: s.waba_id, phone_number_id: s.phone_number_id } }, "*");
      setTimeout(function () { callback({ authResponse: { code: s.code || "fake-code" }, status: "connected" }); }, 50);
    }
  };
  if (typeof window.fbAsyncInit === "function") window.fbAsyncInit();
})();
"""

# A page of another origin (sandboxed: its origin is opaque) posting a forged FINISH event.
FORGED_FINISH_PAGE = """<!doctype html><meta charset="utf-8"><script>
parent.postMessage({type: "WA_EMBEDDED_SIGNUP", event: "FINISH", data: {waba_id: "1111", phone_number_id: "2222"}}, "*");
</script>"""


def unique(prefix):
    return f"{prefix}-{time.time_ns() % 10**10}"


def digits(n=12):
    return str(time.time_ns())[-n:]


class ProvidersTest(BrowserTest):
    # ------------------------------------------------------------ helpers

    def page(self, tenant_id, query=""):
        return f"#/tenants/{tenant_id}/providers" + (f"?{query}" if query else "")

    def goto(self, tenant_id, query=""):
        self.driver.execute_script("location.hash = arguments[0]", self.page(tenant_id, query))
        self.wait_until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#view .loading"), "the providers page kept loading")

    def creds_card(self, provider_type):
        return self.wait_css(f".providers-creds-card[data-type='{provider_type}']")

    def wait_creds_status(self, provider_type, status):
        """Waits until every credentials request has answered and this type's card shows `status`."""
        def settled(d):
            return d.execute_script("""
                const section = document.getElementById("providers-creds");
                const card = section && section.querySelector(`.providers-creds-card[data-type="${arguments[0]}"]`);
                return Boolean(card) && section.getAttribute("aria-busy") === "false" && card.dataset.status === arguments[1];
            """, provider_type, status)
        self.wait_until(settled, f"credentials of {provider_type} never became {status!r}")
        return self.el(f".providers-creds-card[data-type='{provider_type}']")

    def card(self, name):
        # Looked up in one script: the list re-renders while a test waits on it.
        return self.driver.execute_script("""
            return [...document.querySelectorAll(".providers-card")]
              .find((card) => card.querySelector(".providers-name").textContent === arguments[0]) || null;
        """, name)

    def wait_card(self, name):
        self.wait_until(lambda _: self.el(".providers-list-section").get_attribute("aria-busy") == "false" and self.card(name) is not None,
                        f"provider card {name!r} never appeared")
        return self.card(name)

    def dialog(self):
        return self.wait_css("dialog.providers-dialog[open]")

    def fill(self, css, text):
        field = self.wait_css(f"dialog.providers-dialog[open] {css}")
        field.clear()
        field.send_keys(text)
        return field

    def submit_dialog(self):
        self.click("dialog.providers-dialog[open] button[type=submit]")

    def wait_dialog_closed(self):
        self.wait_until(lambda _: not self.els("dialog.providers-dialog"), "the dialog did not close")

    def field_error(self, name):
        return self.el(f"dialog.providers-dialog[open] [data-field='{name}'] .field-error").text

    def route_signup_graph(self, wabas, numbers):
        """The Graph endpoints Embedded Signup calls, answered like EmbeddedSignupTests does."""
        fake = Env.fake
        fake.route("GET", r"/v22\.0/oauth/access_token", 200, {"access_token": "EAAG-browser-signup-token-7777", "token_type": "bearer"})

        def debug(_req):
            targets = list(wabas)
            return 200, {"data": {"app_id": harness.META_APP_ID, "is_valid": True,
                                  "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"],
                                  "granular_scopes": [{"scope": "whatsapp_business_management", "target_ids": targets},
                                                      {"scope": "whatsapp_business_messaging", "target_ids": targets}]}}, {}
        fake.route("GET", r"/v22\.0/debug_token", debug)
        for waba, (number, verified_name) in zip(wabas, numbers):
            fake.route("GET", rf"/v22\.0/{waba}/phone_numbers", 200, {"data": [{
                "id": number, "display_phone_number": "+1 555-000-1111", "verified_name": verified_name,
                "code_verification_status": "NOT_VERIFIED", "quality_rating": "GREEN"}]})
            fake.route("POST", rf"/v22\.0/{number}/register", 200, {"success": True})
            fake.route("POST", rf"/v22\.0/{waba}/subscribed_apps", 200, {"success": True})

    def steps(self):
        return {li.get_attribute("data-step"): li.get_attribute("data-state") for li in self.els("#providers-signup li.providers-step")}

    # ------------------------------------------------------------ tests

    def test_providers_crud_credentials_and_test_message(self):
        tenant = Env.admin.create_tenant(unique("prov-crud"), name="Acme Providers")
        tid = tenant["id"]
        legacy_url = "https://legacy-uazapi.example.test"
        Env.pytake.psql(f"UPDATE clients SET api_url = '{legacy_url}', token = 'legacy-token-0000abcd', "
                        f"whatsapp_provider = 'uazapi' WHERE id = '{tid}'")
        self.sign_in(hash_path=self.page(tid))
        d = self.driver

        # Nothing but legacy columns: the list is empty, uazapi resolves from them (with a warning),
        # the other types resolve to nothing.
        self.wait_css(".providers-list-section .empty")
        uaz = self.wait_creds_status("uazapi", "legacy")
        self.assertIn(legacy_url, uaz.text)
        self.assertTrue(uaz.find_elements(By.CSS_SELECTOR, "[data-cred='api_url'] [data-source='clients.api_url']"), uaz.text)
        self.assertTrue(uaz.find_elements(By.CSS_SELECTOR, "[data-cred='token'] [data-source='clients.token']"), uaz.text)
        self.assertIn("••••abcd", uaz.text)
        warning = uaz.find_element(By.CSS_SELECTOR, ".providers-legacy-warning")
        self.assertTrue(warning.is_displayed())
        self.assertIn("legacy", warning.text.lower())
        self.wait_creds_status("meta", "none")
        self.wait_creds_status("lancepilot", "none")

        # Create a meta provider through the form (Graph URL: the platform default, i.e. the fake).
        phone_id = digits(12)
        self.click("#providers-add")
        self.dialog()
        self.click("dialog.providers-dialog[open] label[data-type='meta']")
        self.fill("input[name=name]", "Main number")
        self.fill("input[name=token]", "EAAG-browser-meta-token-ab12")
        self.fill("input[name='config.phone_number_id']", phone_id)
        self.fill("input[name='config.display_phone_number']", "+55 11 91234-5678")
        self.fill("input[name='config.waba_id']", "102290129340398")
        self.fill("input[name='config.app_secret']", "browser-app-secret-wxyz")
        self.submit_dialog()
        self.wait_dialog_closed()
        meta = self.wait_card("Main number")
        self.assertIn("••••ab12", meta.text)
        self.assertIn("••••wxyz", meta.text)
        self.assertIn(phone_id, meta.text)
        self.assertIn("+55 11 91234-5678", meta.text)
        self.assertEqual(meta.get_attribute("data-type"), "meta")
        meta_creds = self.wait_creds_status("meta", "instance")
        self.assertTrue(meta_creds.find_elements(By.CSS_SELECTOR, "[data-source='client_providers']"))
        self.assertIn("Main number", meta_creds.text)
        # uazapi still on the legacy columns.
        self.wait_creds_status("uazapi", "legacy")
        d.execute_script("document.getElementById('providers-creds').scrollIntoView({block: 'start'})")
        self.shot("providers-credentials")

        # "Move to a provider instance" opens the form for uazapi with the legacy URL filled in.
        # A bad URL comes back as a 422 next to its field; then it is created.
        self.el(".providers-creds-card[data-type='uazapi'] .providers-migrate").click()
        self.dialog()
        self.assertEqual(self.el("dialog.providers-dialog[open] input[name=provider_type]:checked").get_attribute("value"), "uazapi")
        self.assertEqual(self.el("dialog.providers-dialog[open] input[name=api_url]").get_attribute("value"), legacy_url)
        self.fill("input[name=name]", "Sales line")
        self.fill("input[name=api_url]", "ftp://not-http.example")
        self.fill("input[name=token]", "uazapi-secret-token-9f3a")
        self.fill("input[name='config.instance']", "sales")
        self.submit_dialog()
        self.wait_until(lambda _: self.field_error("api_url") != "", "no field error next to api_url after a 422")
        self.assertEqual(self.el("dialog.providers-dialog[open] input[name=api_url]").get_attribute("aria-invalid"), "true")
        self.shot("providers-form")
        uaz_path = "/" + unique("uaz")
        self.fill("input[name=api_url]", Env.fake.url + uaz_path)
        self.submit_dialog()
        self.wait_dialog_closed()
        sales = self.wait_card("Sales line")
        self.assertIn("••••9f3a", sales.text)
        self.assertIn(Env.fake.url + uaz_path, sales.text)
        self.assertNotIn("uazapi-secret-token", d.page_source)
        self.assertNotIn("EAAG-browser-meta-token", d.page_source)
        self.assertNotIn("browser-app-secret", d.page_source)
        uaz = self.wait_creds_status("uazapi", "instance")
        self.assertFalse(uaz.find_elements(By.CSS_SELECTOR, ".providers-legacy-warning"), "legacy warning kept after moving to an instance")
        self.assertTrue(uaz.find_elements(By.CSS_SELECTOR, "[data-cred='token'] [data-source='client_providers']"))
        d.execute_script("window.scrollTo(0, 0)")
        self.shot("providers-list")

        # Test message through uazapi: the fake answers a message id, the UI shows it.
        Env.fake.route("POST", re.escape(uaz_path) + "/send/text", 200, {"messageid": "uaz-msg-4242", "status": "sent"})
        sales.find_element(By.CSS_SELECTOR, ".providers-test").click()
        self.dialog()
        self.fill("input[name=to]", "5511912345678")
        self.fill("textarea[name=text]", "Hello from the browser test")
        self.submit_dialog()
        ok = self.wait_css("dialog.providers-dialog[open] .providers-test-ok", "no success after a test send")
        self.assertIn("uaz-msg-4242", ok.text)
        sent = Env.fake.requests_to(re.escape(uaz_path) + "/send/text", "POST")
        self.assertEqual(len(sent), 1, sent)
        self.assertEqual(sent[0]["json"], {"number": "5511912345678", "text": "Hello from the browser test"})
        headers = {k.lower(): v for k, v in sent[0]["headers"].items()}
        self.assertEqual(headers.get("token"), "uazapi-secret-token-9f3a")

        # The provider refuses: the problem box carries the provider's error.
        Env.fake.route("POST", re.escape(uaz_path) + "/send/text", 401, {"error": "Invalid instance token"})
        self.submit_dialog()
        problem = self.wait_css("dialog.providers-dialog[open] .providers-test-result .problem", "no problem box after a refused send")
        self.assertFalse(self.els("dialog.providers-dialog[open] .providers-test-ok"), "success kept after a failure")
        self.assertIn("Invalid instance token", problem.text)
        provider_line = problem.find_element(By.CSS_SELECTOR, ".problem-provider").text
        self.assertIn("uazapi", provider_line)
        self.assertIn("401", provider_line)
        self.assertEqual(len(Env.fake.requests_to(re.escape(uaz_path) + "/send/text", "POST")), 2)
        self.shot("providers-test-message")
        self.click("dialog.providers-dialog[open] .providers-dialog-x")
        self.wait_dialog_closed()

        # Test message through meta (Graph fake).
        Env.fake.route("POST", rf"/v22\.0/{phone_id}/messages", 200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.browser-test-1"}]})
        self.card("Main number").find_element(By.CSS_SELECTOR, ".providers-test").click()
        self.dialog()
        self.fill("input[name=to]", "+5511912345678")
        self.submit_dialog()
        ok = self.wait_css("dialog.providers-dialog[open] .providers-test-ok", "no success after a meta test send")
        self.assertIn("wamid.browser-test-1", ok.text)
        meta_sent = Env.fake.requests_to(rf"/v22\.0/{phone_id}/messages", "POST")
        self.assertEqual(len(meta_sent), 1)
        self.assertTrue(meta_sent[0]["json"]["to"].endswith("5511912345678"), meta_sent[0]["json"])
        self.assertEqual(meta_sent[0]["json"]["text"]["body"], "Hello from PyTake! This is a test message.")
        self.click("dialog.providers-dialog[open] .providers-dialog-x")
        self.wait_dialog_closed()

        # Edit: rename, leave the token empty (unchanged), switch it off.
        self.card("Sales line").find_element(By.CSS_SELECTOR, ".providers-edit").click()
        self.dialog()
        self.assertEqual(self.el("dialog.providers-dialog[open] input[name=token]").get_attribute("value"), "")
        self.assertFalse(self.els("dialog.providers-dialog[open] input[name=provider_type]"), "the type is editable")
        self.fill("input[name=name]", "Sales line (backup)")
        self.el("dialog.providers-dialog[open] input[name=active]").click()
        self.submit_dialog()
        self.wait_dialog_closed()
        edited = self.wait_card("Sales line (backup)")
        self.assertIn("••••9f3a", edited.text)
        self.assertIn("providers-card-inactive", edited.get_attribute("class"))
        stored = Env.admin.call("GET", f"/api/v1/tenants/{tid}/providers")["items"]
        backup = next(p for p in stored if p["name"] == "Sales line (backup)")
        self.assertEqual((backup["active"], backup["token_masked"], backup["config"].get("instance")), (False, "••••9f3a", "sales"))
        # Inactive: uazapi falls back to the legacy columns again, and says so.
        self.wait_creds_status("uazapi", "legacy")

        # Remove the meta provider (confirmed).
        self.card("Main number").find_element(By.CSS_SELECTOR, ".providers-remove").click()
        self.click("dialog[open] button[data-value='ok']")
        self.wait_until(lambda _: self.card("Main number") is None, "the removed provider is still listed")
        self.wait_creds_status("meta", "none")
        self.assertEqual([p["name"] for p in Env.admin.call("GET", f"/api/v1/tenants/{tid}/providers")["items"]], ["Sales line (backup)"])

        severe = self.severe_logs(allowed=HANDLED_HTTP)
        self.assertEqual(severe, [], f"console errors: {severe}")

    def test_providers_viewer_reads_only(self):
        tenant = Env.admin.create_tenant(unique("prov-viewer"))
        tid = tenant["id"]
        Env.admin.call("POST", f"/api/v1/tenants/{tid}/providers", {
            "provider_type": "lancepilot", "name": "Campaigns", "token": "lp-token-000011112222", "config": {"workspace_id": "ws-browser"}})
        email = f"viewer-{tid[:8]}@pytake.test"
        Env.admin.create_user(tid, email, "viewer")
        self.sign_in(email, hash_path=self.page(tid))
        card = self.wait_card("Campaigns")
        self.assertIn("ws-browser", card.text)
        self.assertIn("Hidden for your role", card.text)
        self.assertNotIn("2222", card.text)
        creds = self.wait_creds_status("lancepilot", "instance")
        self.assertTrue(creds.find_elements(By.CSS_SELECTOR, "[data-cred='token'] [data-source='client_providers']"))
        self.assertEqual(self.els("[data-write]"), [], "a viewer sees write controls")
        self.assertFalse(self.els("#providers-connect-meta, #providers-add, .providers-test, .providers-edit, .providers-remove"))
        self.assertTrue(self.el(".providers-readonly").is_displayed())
        # Switching the language re-renders the page in place.
        Select(self.el("#lang")).select_by_value("pt-BR")
        self.wait_until(lambda _: self.el(".providers-heading h1").text == "Provedores de WhatsApp", "the page was not translated")
        self.assertIn("Oculto para o seu perfil", self.card("Campaigns").text)
        self.assertIn("Instância de provedor", self.el(".providers-creds-card[data-type='lancepilot']").text)
        Select(self.el("#lang")).select_by_value("en")
        self.wait_until(lambda _: self.el(".providers-heading h1").text == "WhatsApp providers", "the page was not translated back")
        # The redirect flow's outcome is shown to anyone, without a retry button for a viewer.
        self.goto(tid, "signup=failed&step=subscribe&code=signup_step_failed")
        banner = self.wait_css("#providers-redirect[data-outcome='failed']")
        self.assertIn("App subscribed to the account's webhooks", banner.text)
        self.assertEqual(self.els("[data-write]"), [])

    def test_providers_embedded_signup(self):
        tenant = Env.admin.create_tenant(unique("prov-signup"), name="Acme Foods")
        tid = tenant["id"]
        waba_ok, number_ok = digits(15), digits(14)
        waba_bad, number_bad = "9" + digits(14), "8" + digits(13)
        waba_third, number_third = "7" + digits(14), "6" + digits(13)
        Env.fake.file("/sdk.js", FAKE_SDK, "text/javascript")
        Env.fake.file("/forged-finish.html", FORGED_FINISH_PAGE, "text/html")
        self.route_signup_graph([waba_ok, waba_bad, waba_third],
                                [(number_ok, "Acme Foods"), (number_bad, "Acme Backup"), (number_third, "Acme Third")])
        Env.fake.route("POST", rf"/v22\.0/{waba_bad}/subscribed_apps", 403,
                       {"error": {"message": "Permissions error", "type": "OAuthException", "code": 200}})
        exchange_before = len(Env.fake.requests_to(r"/v22\.0/oauth/access_token"))

        self.sign_in(hash_path=self.page(tid))
        self.wait_css(".providers-list-section .empty")
        d = self.driver

        # Every step succeeds and the new meta provider is listed.
        d.execute_script("window.__fakeSignup = {waba_id: arguments[0], phone_number_id: arguments[1]}", waba_ok, number_ok)
        started = time.time()
        self.click("#providers-connect-meta")
        self.wait_until(lambda _: self.el("#providers-signup").get_attribute("data-status") in ("done", "failed", "cancelled"),
                        "the signup never finished")
        print(f"BENCH providers_embedded_signup_ui_seconds {time.time() - started:.2f} s")
        self.assertEqual(self.el("#providers-signup").get_attribute("data-status"), "done", self.el("#providers-signup").text)
        steps = self.steps()
        self.assertEqual(list(steps), ["session", "sdk", "login", "waba", "exchange_code", "debug_token", "phone_numbers",
                                       "register", "subscribe", "store"])
        self.assertEqual(set(steps.values()), {"ok"}, steps)
        self.assertIn(waba_ok, self.el("#providers-signup li[data-step='waba']").text)
        name = f"WhatsApp Acme Foods ({number_ok[-6:]})"
        card = self.wait_card(name)
        provider_id = card.get_attribute("data-provider-id")
        self.assertEqual(card.get_attribute("data-type"), "meta")
        self.assertIn("••••7777", card.text)
        self.assertIn(waba_ok, card.text)
        self.assertIn("providers-card-new", card.get_attribute("class"))
        self.wait_creds_status("meta", "instance")
        self.shot("providers-signup")

        # What the page sent the SDK, and what the server asked the Graph fake.
        login = d.execute_script("return window.__fbLoginOptions")
        self.assertEqual(login["config_id"], harness.META_CONFIG_ID)
        self.assertEqual((login["response_type"], login["override_default_response_type"]), ("code", True))
        self.assertEqual(login["extras"]["sessionInfoVersion"], "3")
        init = d.execute_script("return window.__fbInitCalls[0]")
        self.assertEqual((init["appId"], init["version"], init["xfbml"]), (harness.META_APP_ID, "v22.0", False))
        exchange = Env.fake.requests_to(r"/v22\.0/oauth/access_token")[exchange_before:]
        self.assertEqual(len(exchange), 1)
        self.assertIn("code=fake-code", exchange[0]["query"])
        self.assertIn(f"client_id={harness.META_APP_ID}", exchange[0]["query"])
        self.assertNotIn("redirect_uri", exchange[0]["query"])
        self.assertTrue(Env.fake.requests_to(r"/v22\.0/debug_token"))
        numbers = Env.fake.requests_to(rf"/v22\.0/{waba_ok}/phone_numbers", "GET")
        self.assertEqual(len(numbers), 1)
        self.assertEqual({k.lower(): v for k, v in numbers[0]["headers"].items()}.get("authorization"), "Bearer EAAG-browser-signup-token-7777")
        register = Env.fake.requests_to(rf"/v22\.0/{number_ok}/register", "POST")
        self.assertEqual(len(register), 1)
        self.assertEqual(register[0]["json"]["messaging_product"], "whatsapp")
        self.assertEqual(len(Env.fake.requests_to(rf"/v22\.0/{waba_ok}/subscribed_apps", "POST")), 1)

        # Only Meta's origins (or, with a stand-in SDK, its origin and this page's) may say which
        # WABA was chosen: a forged FINISH from another origin is ignored, and the page waits for
        # the real one.
        d.execute_script("""
            window.__fakeSignup = {hold: true};
            window.__forgedSeen = false;
            window.addEventListener("message", (e) => { if (e.origin === "null") window.__forgedSeen = true; });
        """)
        self.click("#providers-connect-meta")
        self.wait_until(lambda _: d.execute_script("return typeof window.__fbPending === 'function'"), "FB.login was not called")
        d.execute_script("""
            const frame = document.createElement("iframe");
            frame.setAttribute("sandbox", "allow-scripts");
            frame.src = arguments[0];
            frame.hidden = true;
            document.body.append(frame);
        """, Env.fake.url + "/forged-finish.html")
        self.wait_until(lambda _: d.execute_script("return window.__forgedSeen"), "the forged message was never posted")
        d.execute_script("window.__fbPending({authResponse: {code: 'fake-code-3'}, status: 'connected'})")
        self.wait_until(lambda _: self.steps().get("login") == "ok", "the login callback was not taken")
        self.assertEqual(self.steps()["waba"], "running", "a FINISH event from a foreign origin was accepted")
        d.execute_script("window.postMessage({type: 'WA_EMBEDDED_SIGNUP', event: 'FINISH', data: {waba_id: arguments[0], phone_number_id: arguments[1]}}, '*')",
                         waba_third, number_third)
        self.wait_until(lambda _: self.el("#providers-signup").get_attribute("data-status") == "done", "the signup did not finish after the real FINISH")
        self.assertEqual(Env.fake.requests_to(r"/v22\.0/1111/phone_numbers"), [], "the forged WABA reached the server")
        self.assertEqual(len(Env.fake.requests_to(rf"/v22\.0/{waba_third}/phone_numbers")), 1)
        self.wait_card(f"WhatsApp Acme Third ({number_third[-6:]})")

        # A failing step (subscribed_apps answers an error) is named; nothing is stored.
        d.execute_script("window.__fakeSignup = {waba_id: arguments[0], phone_number_id: arguments[1]}", waba_bad, number_bad)
        self.click("#providers-connect-meta")
        self.wait_until(lambda _: self.el("#providers-signup").get_attribute("data-status") == "failed", "the failing signup did not fail")
        steps = self.steps()
        self.assertEqual(steps["subscribe"], "failed", steps)
        self.assertTrue(all(steps[s] == "ok" for s in ("session", "sdk", "login", "waba", "exchange_code", "debug_token", "phone_numbers", "register")), steps)
        self.assertEqual(steps["store"], "skipped")
        section = self.el("#providers-signup")
        self.assertIn("Failed at: App subscribed to the account's webhooks", section.text)
        self.assertIn("Permissions error", section.find_element(By.CSS_SELECTOR, "li[data-step='subscribe']").text)
        self.assertIn("step subscribe", section.find_element(By.CSS_SELECTOR, ".problem-provider").text)
        self.assertEqual(len(Env.fake.requests_to(rf"/v22\.0/{waba_bad}/subscribed_apps", "POST")), 1)
        self.assertEqual(len(self.els(".providers-card")), 2, "the failed signup left a provider")
        self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, "script[data-pytake-sdk]")), 1, "the SDK script was added twice")
        self.shot("providers-signup-failed")

        # The user closes Meta's window: no code, nothing sent to the server.
        exchanges = len(Env.fake.requests_to(r"/v22\.0/oauth/access_token"))
        d.execute_script("window.__fakeSignup = {cancel: true}")
        self.click("#providers-signup button[data-write]")  # "Try again"
        self.wait_until(lambda _: self.el("#providers-signup").get_attribute("data-status") == "cancelled", "the cancelled login was not reported")
        self.assertEqual(self.steps()["login"], "cancelled")
        self.assertIn("Nothing was connected", self.el("#providers-signup").text)
        self.assertEqual(len(Env.fake.requests_to(r"/v22\.0/oauth/access_token")), exchanges)
        self.assertEqual(d.execute_script("return window.__fbLoginCalls"), 4)

        # The redirect flow's outcomes, as the OAuth callback sends the browser back.
        self.goto(tid, f"signup=ok&provider={provider_id}")
        banner = self.wait_css("#providers-redirect[data-outcome='ok']")
        self.wait_until(lambda _: name in self.el("#providers-redirect").text, "the redirect banner does not name the provider")
        self.assertIn("providers-card-new", self.card(name).get_attribute("class"))
        banner.find_element(By.CSS_SELECTOR, "button").click()
        self.wait_until(lambda _: not self.els("#providers-redirect"), "the banner was not dismissed")
        self.assertNotIn("signup=", d.current_url)
        self.goto(tid, "signup=failed&step=state&code=signup_state_invalid")
        failed = self.wait_css("#providers-redirect[data-outcome='failed']")
        self.assertIn("Signup session checked", failed.text)
        self.assertIn("expired", failed.text)
        self.assertIn("signup_state_invalid", failed.text)
        self.assertTrue(failed.find_elements(By.CSS_SELECTOR, "button[data-write]"), "no retry for an admin")

        severe = self.severe_logs(allowed=HANDLED_HTTP)
        self.assertEqual(severe, [], f"console errors: {severe}")
