#!/usr/bin/env python3
"""Administration pages: tenants (create, search, edit, suspend, reactivate, pages of results),
users (create, change role, read-only for viewers), settings (time zone, follow-up policy, AI key,
field errors next to inputs) and the audit log. Run through run.py."""

import uuid

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from harness import ADMIN_PASSWORD, BrowserTest, Env, WAIT_SECONDS

AI_KEY = "sk-live-browser-SECRET-7f3a9c2e5b1d"


def unique():
    return uuid.uuid4().hex[:8]


class AdminTest(BrowserTest):
    def shot(self, name):
        """Screenshots of the finished screen, without the passing toasts."""
        try:
            self.driver.execute_script("document.querySelectorAll('.toast').forEach((t) => t.remove())")
        except Exception:  # noqa: BLE001 - cosmetics only; a failing test still gets its screenshot
            pass
        return super().shot(name)

    def wait_until(self, condition, message, timeout=WAIT_SECONDS):
        """Views re-render whole tables and forms: an element read mid-render is simply read again."""
        def settled(driver):
            try:
                return condition(driver)
            except StaleElementReferenceException:
                return False
        return super().wait_until(settled, message, timeout)

    # -- helpers

    def go(self, hash_path):
        self.driver.execute_script("location.hash = arguments[0]", hash_path)
        self.wait_until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#view .loading"), f"{hash_path} kept loading")

    def rows(self, css="#view table.data tbody tr"):
        return self.els(css)

    def dialog(self):
        return self.wait_css("dialog.adm-dialog[open]", "the form dialog did not open")

    def submit_dialog(self):
        self.click("dialog.adm-dialog[open] button[type='submit']")

    def wait_dialog_closed(self):
        self.wait_until(lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog[open]"), "the dialog did not close")

    def confirm(self):
        self.click("dialog.dialog[open] button[data-value='ok']")
        self.wait_dialog_closed()

    def field_error(self, scope, name):
        return self.el(f"{scope} [data-field='{name}'] .field-error").text.strip()

    def set_value(self, css, value):
        """For inputs whose typing depends on the browser's locale (type=time)."""
        el = self.el(css)
        self.driver.execute_script(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input', {bubbles: true}));", el, value)

    def tenant_by_slug(self, slug):
        items = Env.admin.call("GET", f"/api/v1/tenants?q={slug}&limit=5")["items"]
        return next(t for t in items if t["slug"] == slug)

    # -- tenants

    def test_admin_tenant_lifecycle(self):
        suffix = unique()
        slug = f"adm-ui-{suffix}"
        self.sign_in(hash_path="#/tenants")
        self.wait_css("#view .tenants-table", "the tenants table did not render")

        # Create through the dialog; a bad slug first shows the server's error next to the slug.
        self.click("[data-action='create-tenant']")
        self.dialog()
        self.type_into("dialog.adm-dialog [data-field='name'] input", f"Adm UI {suffix}")
        self.assertEqual(self.el("dialog.adm-dialog [data-field='slug'] input").get_attribute("value"), slug,
                         "the slug is not suggested from the name")
        self.type_into("dialog.adm-dialog [data-field='slug'] input", "Not A Slug!")
        Select(self.el("dialog.adm-dialog [data-field='timezone'] select")).select_by_value("America/Sao_Paulo")
        self.submit_dialog()
        self.wait_until(lambda _: self.field_error("dialog.adm-dialog", "slug") != "", "no field error next to the slug")
        self.assertEqual(self.el("dialog.adm-dialog [data-field='slug'] input").get_attribute("aria-invalid"), "true")
        self.type_into("dialog.adm-dialog [data-field='slug'] input", slug)
        self.submit_dialog()
        self.wait_dialog_closed()
        tenant = self.tenant_by_slug(slug)
        self.assertEqual((tenant["name"], tenant["timezone"], tenant["status"]), (f"Adm UI {suffix}", "America/Sao_Paulo", "active"))
        # The tenant switcher knows the new tenant at once.
        self.wait_until(lambda _: self.els(f"#tenant-switch option[value='{tenant['id']}']"), "the tenant switcher was not refreshed")

        # Search finds exactly it.
        self.type_into("#view input.adm-search", slug)
        row_css = f"#view tr[data-slug='{slug}']"
        self.wait_until(lambda _: len(self.rows()) == 1 and self.els(row_css), "search did not narrow the table to the new tenant")
        self.assertIn(f"Adm UI {suffix}", self.el(row_css).text)
        links = {a.get_attribute("data-link"): a.get_attribute("href") for a in self.els(f"{row_css} a[data-link]")}
        self.assertTrue(links["settings"].endswith(f"#/tenants/{tenant['id']}/settings"), links)

        # Edit the name.
        self.click(f"{row_css} [data-action='edit']")
        self.dialog()
        self.type_into("dialog.adm-dialog [data-field='name'] input", f"Adm UI {suffix} Renamed")
        self.submit_dialog()
        self.wait_dialog_closed()
        self.wait_until(lambda _: "Renamed" in self.el(row_css).text, "the row did not show the new name")
        self.assertEqual(self.tenant_by_slug(slug)["name"], f"Adm UI {suffix} Renamed")

        # Suspend (after confirming) and reactivate.
        self.click(f"{row_css} [data-action='suspend']")
        self.confirm()
        self.wait_until(lambda _: self.els(f"{row_css} [data-status='suspended']"), "the row did not show the suspension")
        self.assertEqual(Env.admin.call("GET", f"/api/v1/tenants/{tenant['id']}")["status"], "suspended")
        self.click(f"{row_css} [data-action='reactivate']")
        self.wait_until(lambda _: self.els(f"{row_css} [data-status='active']"), "the row did not show the reactivation")
        self.assertEqual(Env.admin.call("GET", f"/api/v1/tenants/{tenant['id']}")["status"], "active")

        # Delete (after confirming): the tenant leaves the list, and shows under the "deleted" filter.
        self.click(f"{row_css} [data-action='delete']")
        self.confirm()
        self.wait_until(lambda _: not self.els(row_css), "the deleted tenant is still listed")
        # A deleted tenant is gone from the API (404) until restored; the list still names it.
        Env.admin.call("GET", f"/api/v1/tenants/{tenant['id']}", expect=404)
        deleted = Env.admin.call("GET", "/api/v1/tenants?status=deleted&limit=200")["items"]
        self.assertIn(tenant["id"], [x["id"] for x in deleted])
        Select(self.el("#view select[name='status']")).select_by_value("deleted")
        self.wait_until(lambda _: self.els(f"{row_css} [data-action='restore']"), "the deleted tenant is not under the deleted filter")
        self.click(f"{row_css} [data-action='restore']")
        self.wait_until(lambda _: not self.els(f"{row_css} [data-action='restore']"), "the restored tenant is still under the deleted filter")
        self.assertEqual(Env.admin.call("GET", f"/api/v1/tenants/{tenant['id']}")["status"], "active")
        self.assertEqual(self.severe_logs(allowed=("Failed to load resource",)), [])

    def test_admin_tenant_pages(self):
        prefix = f"pg{unique()}"
        for i in range(23):
            Env.admin.create_tenant(f"{prefix}-{i:02d}", name=f"Paged {prefix.upper()} {i:02d}", timezone="Europe/Lisbon")
        self.sign_in(hash_path="#/tenants")
        self.type_into("#view input.adm-search", prefix)
        slugs = lambda: self.driver.execute_script(  # noqa: E731
            "return [...document.querySelectorAll('#view table.data tbody tr')].map(r => r.dataset.slug)")
        self.wait_until(lambda _: len(self.rows()) == 20 and all(s.startswith(prefix) for s in slugs()), "page 1 does not hold 20 tenants")
        first = slugs()
        self.assertIn("1", self.el("#view .adm-pager-label").text)
        self.assertFalse(self.el("#view [data-page='prev']").is_enabled(), "Previous is enabled on page 1")
        self.click("#view [data-page='next']")
        self.wait_until(lambda _: len(self.rows()) == 3, "page 2 does not hold the 3 remaining tenants")
        second = slugs()
        self.assertEqual(sorted(first + second), [f"{prefix}-{i:02d}" for i in range(23)], "pages overlap or miss tenants")
        self.assertFalse(self.el("#view [data-page='next']").is_enabled(), "Next is enabled on the last page")
        self.click("#view [data-page='prev']")
        self.wait_until(lambda _: slugs() == first, "Previous did not return to page 1")
        self.el("#view input.adm-search").clear()
        self.el("#view input.adm-search").send_keys(Keys.ENTER)
        self.wait_until(lambda _: len(self.rows()) == 20 and not self.els("#view [aria-busy='true']"), "clearing the search did not list every tenant")
        self.shot("admin-tenants")

    # -- users and audit

    def test_admin_users_and_audit(self):
        suffix = unique()
        tenant = Env.admin.create_tenant(f"usr-{suffix}", name=f"Users {suffix}")
        admin_email = f"ta-{suffix}@example.test"
        viewer_email = f"viewer-{suffix}@example.test"
        Env.admin.create_user(tenant["id"], admin_email, "tenant_admin")
        Env.admin.create_user(tenant["id"], viewer_email, "viewer")
        new_email = f"agent-{suffix}@example.test"

        self.sign_in(admin_email, ADMIN_PASSWORD, f"#/tenants/{tenant['id']}/users")
        self.wait_css(f"#view tr[data-email='{admin_email}']", "the tenant admin is not listed")

        # Create an agent; a short password first shows the error next to the password.
        self.click("[data-action='create-user']")
        self.dialog()
        self.type_into("dialog.adm-dialog [data-field='email'] input", new_email)
        Select(self.el("dialog.adm-dialog [data-field='role'] select")).select_by_value("agent")
        self.type_into("dialog.adm-dialog [data-field='password'] input", "short")
        self.submit_dialog()
        self.wait_until(lambda _: self.field_error("dialog.adm-dialog", "password") != "", "no field error next to the password")
        self.type_into("dialog.adm-dialog [data-field='password'] input", "a long enough passphrase 42")
        self.submit_dialog()
        self.wait_dialog_closed()
        row = f"#view tr[data-email='{new_email}']"
        self.wait_css(f"{row} [data-role='agent']", "the new agent is not listed")
        users = {u["email"]: u for u in Env.admin.call("GET", f"/api/v1/tenants/{tenant['id']}/users")["items"]}
        self.assertEqual(users[new_email]["role"], "agent")
        self.api_as(new_email, "a long enough passphrase 42")  # the password works

        # Change its role to viewer.
        self.click(f"{row} [data-action='edit']")
        self.dialog()
        Select(self.el("dialog.adm-dialog [data-field='role'] select")).select_by_value("viewer")
        self.submit_dialog()
        self.wait_dialog_closed()
        self.wait_css(f"{row} [data-role='viewer']", "the row did not show the new role")
        users = {u["email"]: u for u in Env.admin.call("GET", f"/api/v1/tenants/{tenant['id']}/users")["items"]}
        self.assertEqual(users[new_email]["role"], "viewer")

        # The client-side filter narrows the loaded page.
        self.type_into("#view input.adm-search", "agent-")
        self.wait_until(lambda _: [r.get_attribute("data-email") for r in self.rows()] == [new_email], "the filter did not narrow the list")
        self.el("#view input.adm-search").clear()
        self.el("#view input.adm-search").send_keys(Keys.ENTER)
        self.shot_after(lambda: len(self.rows()) == 3, "admin-users")

        # The audit log shows who did it.
        self.go(f"#/tenants/{tenant['id']}/audit")
        self.wait_css("#view tr[data-action='user.update']", "the audit log does not show the role change")
        create_rows = [r for r in self.els("#view tr[data-action='user.create']") if new_email in r.text]
        self.assertTrue(create_rows, "the audit log does not show the user creation")
        self.assertIn(admin_email, create_rows[0].text, "the audit entry does not name its actor")
        self.assertIn("role: agent", create_rows[0].text)
        self.shot("admin-audit")

        # A viewer sees the users and the settings without any control that writes.
        self.click("#signout")
        self.wait_css("#signin-form")
        self.type_into("#email", viewer_email)
        self.type_into("#password", ADMIN_PASSWORD)
        self.click("#signin")
        self.wait_css("#whoami")
        for page in ("users", "settings"):
            self.go(f"#/tenants/{tenant['id']}/{page}")
            self.wait_until(lambda _: self.els("#view table.data, #view form.adm-settings-form"), f"{page} did not render for a viewer")
            self.assertEqual(self.els("[data-write]"), [], f"a viewer sees write controls on {page}")
            self.assertTrue(self.els("#view .adm-readonly"), f"{page} does not say it is read-only")

    def shot_after(self, condition, name):
        self.wait_until(lambda _: condition(), f"{name}: the page did not settle")
        self.shot(name)

    # -- settings

    def test_admin_settings(self):
        suffix = unique()
        tenant = Env.admin.create_tenant(f"set-{suffix}", name=f"Settings {suffix}",
                                         tools_config={"crm": {"pipeline": "b2b"}, "followup": {"enabled": False}})
        admin_email = f"sa-{suffix}@example.test"
        Env.admin.create_user(tenant["id"], admin_email, "tenant_admin")
        self.sign_in(admin_email, ADMIN_PASSWORD, f"#/tenants/{tenant['id']}/settings")
        form = "#view form.adm-settings-form"
        self.wait_css(form, "the settings form did not render")
        self.assertIn("crm", self.el(form).text, "unknown tools_config sections are not listed as kept")

        # Switching the language keeps what was typed and translates the form.
        self.type_into(f"{form} input[name='name']", f"Padaria {suffix}")
        Select(self.el("#lang")).select_by_value("pt-BR")
        self.wait_until(lambda _: self.el("#view h1").text == "Configurações", "the settings page was not translated")
        self.assertEqual(self.el(f"{form} input[name='name']").get_attribute("value"), f"Padaria {suffix}", "the language switch lost an edit")
        self.assertIn("não salvas", self.el(f"{form} .adm-dirty").text)
        Select(self.el("#lang")).select_by_value("en")
        self.wait_until(lambda _: self.el("#view h1").text == "Settings", "the settings page did not come back to English")

        Select(self.el(f"{form} select[name='timezone']")).select_by_value("America/Sao_Paulo")
        enabled = self.el(f"{form} input[name='tools_config.followup.enabled']")
        if not enabled.is_selected():
            enabled.click()
        self.type_into(f"{form} input[name='tools_config.followup.after_hours']", "0")
        self.type_into(f"{form} input[name='tools_config.followup.max_attempts']", "3")
        self.type_into(f"{form} textarea[name='tools_config.followup.message']", "Oi {{customer_name}}, ainda por aí?")
        self.set_value(f"{form} input[name='tools_config.followup.quiet_hours.start']", "22:00")
        self.set_value(f"{form} input[name='tools_config.followup.quiet_hours.end']", "08:00")
        self.type_into(f"{form} input[name='tools_config.ai.base_url']", "https://ai.example.test/v1")
        self.type_into(f"{form} input[name='tools_config.ai.model']", "gpt-test-mini")
        self.type_into(f"{form} input[name='tools_config.ai.key']", AI_KEY)
        self.type_into(f"{form} textarea[name='tools_config.ai.system_prompt']", "You answer for a bakery.")
        self.assertIn("Unsaved", self.el(f"{form} .adm-dirty").text)

        # after_hours 0: the server's error appears next to that input, and nothing is saved.
        self.click("[data-action='save-settings']")
        after = f"{form} [data-field='tools_config.followup.after_hours']"
        self.wait_until(lambda _: self.el(f"{after} .field-error").text.strip() != "", "no error next to after_hours")
        self.assertIn("0.25", self.el(f"{after} .field-error").text)
        self.assertEqual(self.el(f"{after} input").get_attribute("aria-invalid"), "true")
        stored = Env.admin.call("GET", f"/api/v1/tenants/{tenant['id']}")
        self.assertEqual((stored["timezone"], stored["tools_config"]["followup"]), ("UTC", {"enabled": False}))

        self.type_into(f"{after} input", "1.5")
        self.click("[data-action='save-settings']")
        self.wait_until(lambda _: self.el(f"{after} .field-error").text.strip() == "" and self.el(f"{form} .adm-dirty").text.strip() == "",
                        "saving did not finish cleanly")
        stored = Env.admin.call("GET", f"/api/v1/tenants/{tenant['id']}")
        self.assertEqual((stored["name"], stored["timezone"]), (f"Padaria {suffix}", "America/Sao_Paulo"))
        self.assertEqual(stored["tools_config"]["followup"], {
            "enabled": True, "after_hours": 1.5, "max_attempts": 3, "message": "Oi {{customer_name}}, ainda por aí?",
            "quiet_hours": {"start": "22:00", "end": "08:00"}})
        self.assertEqual(stored["tools_config"]["crm"], {"pipeline": "b2b"}, "a section the form does not know was dropped")
        ai = stored["tools_config"]["ai"]
        self.assertEqual((ai["base_url"], ai["model"], ai["system_prompt"]), ("https://ai.example.test/v1", "gpt-test-mini", "You answer for a bakery."))
        self.assertEqual(ai["key"], "••••" + AI_KEY[-4:])

        # After a reload the form shows what was stored, and the key only masked.
        self.driver.refresh()
        self.wait_css(form, "the settings form did not come back after a reload")
        self.assertEqual(self.el(f"{form} input[name='tools_config.followup.after_hours']").get_attribute("value"), "1.5")
        self.assertEqual(self.el(f"{form} input[name='tools_config.followup.max_attempts']").get_attribute("value"), "3")
        self.assertEqual(self.el(f"{form} input[name='tools_config.followup.quiet_hours.start']").get_attribute("value"), "22:00")
        self.assertTrue(self.el(f"{form} input[name='tools_config.followup.enabled']").is_selected())
        self.assertEqual(Select(self.el(f"{form} select[name='timezone']")).first_selected_option.get_attribute("value"), "America/Sao_Paulo")
        self.assertEqual(self.el(f"{form} input[name='tools_config.ai.key']").get_attribute("value"), "")
        self.assertIn("••••" + AI_KEY[-4:], self.el(f"{form} [data-secret-status='aiKey']").text)
        self.assertNotIn(AI_KEY, self.driver.page_source, "the AI key is echoed in clear")
        self.assertNotIn(AI_KEY[:-4], self.driver.page_source)

        # Saving another change keeps the stored key (the masked value goes back).
        self.type_into(f"{form} input[name='tools_config.followup.max_attempts']", "2")
        self.click("[data-action='save-settings']")
        self.wait_until(lambda _: Env.admin.call("GET", f"/api/v1/tenants/{tenant['id']}")["tools_config"]["followup"]["max_attempts"] == 2,
                        "the second save did not reach the server")
        self.assertEqual(Env.admin.call("GET", f"/api/v1/tenants/{tenant['id']}")["tools_config"]["ai"]["key"], "••••" + AI_KEY[-4:],
                         "a later save dropped the stored AI key")
        self.wait_until(lambda _: self.el(f"{form} .adm-dirty").text.strip() == "", "the form stayed dirty after saving")
        self.driver.execute_script("window.scrollTo(0, 0)")
        self.shot("admin-settings")

        # The audit log records the settings changes (field names, never values).
        self.go(f"#/tenants/{tenant['id']}/audit")
        self.wait_css("#view tr[data-action='tenant.update']", "the audit log does not show the settings change")
        self.assertIn("tools_config", self.el("#view tr[data-action='tenant.update']").text)
        self.assertNotIn(AI_KEY, self.driver.page_source)
