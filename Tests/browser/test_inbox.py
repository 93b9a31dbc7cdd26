#!/usr/bin/env python3
"""The agent inbox: live list and conversation (polling, no reload), replies through a Meta provider
whose Graph API is the FakeService, delivery statuses, handover, close, erasure, customer HTML shown
as text, what a viewer sees, and cursor pages. Run through run.py."""

import time

from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

import harness
from harness import ADMIN_PASSWORD, BrowserTest, Env

GRAPH_VERSION = "v22.0"  # META_GRAPH_VERSION's default (Settings.swift); the harness does not set it
# The page asks the refresh endpoint once on load whether its cookie holds a session.
RESUME_PROBE = "/api/v1/auth/refresh - Failed to load resource: the server responded with a status of 401"
PROVIDER_ERROR = "Recipient phone number not in allowed list"


def status_payload(phone_number_id, wamid, status, recipient):
    """A Meta webhook carrying one delivery status of an outbound message."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
            "statuses": [{"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": recipient}],
        }}]}],
    }


def many_messages_payload(phone_number_id, messages, contacts):
    """One webhook change with several customer messages (and their contacts)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
            "contacts": contacts,
            "messages": messages,
        }}]}],
    }


def text_message(wa_id, text, timestamp, wamid=None):
    return {"from": wa_id, "id": wamid or f"wamid.browser.{time.time_ns()}", "timestamp": str(int(timestamp)),
            "type": "text", "text": {"body": text}}


class InboxTest(BrowserTest):
    # ------------------------------------------------------------------ fixtures

    def make_tenant(self, name):
        """A tenant with an active meta provider whose phone number id is unique to this test."""
        suffix = str(time.time_ns())[-10:]
        tenant = Env.admin.create_tenant(f"inbox-{name}-{suffix}", name=f"Inbox {name.title()}")
        number = "10654" + suffix
        Env.admin.call("POST", f"/api/v1/tenants/{tenant['id']}/providers", {
            "provider_type": "meta", "name": "Main number", "token": f"EAAG-browser-{suffix}",
            "config": {"phone_number_id": number},
        }, expect=201)
        return tenant["id"], number

    def route_sends(self, number, mode):
        """The fake Graph API's send endpoint for `number`; `mode` switches delay and failure."""
        def handler(req):
            time.sleep(mode.get("delay", 0))
            if mode.get("fail"):
                return 400, {"error": {"message": PROVIDER_ERROR, "type": "OAuthException", "code": 131030,
                                       "fbtrace_id": "AbCdEf"}}, {}
            wamid = f"wamid.out.{time.time_ns()}"
            mode.setdefault("wamids", []).append(wamid)
            to = (req.get("json") or {}).get("to", "")
            return 200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                         "messages": [{"id": wamid}]}, {}
        Env.fake.route("POST", rf"/{GRAPH_VERSION}/{number}/messages", handler)

    def deliver(self, number, wa_id, name, text, **kw):
        status = harness.post_webhook(self.base, harness.meta_text_message(number, wa_id, name, text, **kw))
        self.assertEqual(status, 200)

    def conversations(self, api, tenant_id, **query):
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return api.call("GET", f"/api/v1/tenants/{tenant_id}/conversations?limit=200&{qs}")["items"]

    def conversation_of(self, api, tenant_id, wa_id):
        for c in self.conversations(api, tenant_id):
            if c["customer"].get("wa_id") == wa_id:
                return c
        self.fail(f"no conversation of {wa_id}")

    # Page reads go through one script each, so a row or bubble re-rendered by a refresh between
    # finding it and reading it cannot fail a test with a stale element reference.

    def rows(self):
        """The list rows: id, name, unread badge text and aria-label, visible text."""
        return self.js("""
            return Array.from(document.querySelectorAll('.inbox-item')).map(a => {
              const badge = a.querySelector('.inbox-unread');
              return {id: a.dataset.id, name: a.querySelector('.inbox-item-name').textContent,
                      badge: badge ? badge.textContent : '', label: badge ? badge.getAttribute('aria-label') : '',
                      text: a.innerText};
            });""")

    def row(self, name):
        return next((r for r in self.rows() if r["name"] == name), None)

    def badge(self, name):
        r = self.row(name)
        return r["badge"] if r else None

    def open_row(self, name):
        r = self.row(name)
        self.assertIsNotNone(r, f"no row for {name}")
        self.click(f".inbox-item[data-id='{r['id']}']")

    def texts(self, css):
        return self.js("return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText)", css)

    def text(self, css):
        found = self.texts(css)
        return found[0] if found else None

    def count(self, css):
        return self.js("return document.querySelectorAll(arguments[0]).length", css)

    def bubbles(self, css=""):
        return self.count(f".inbox-messages li.inbox-msg{css}")

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    # ------------------------------------------------------------------ tests

    def test_inbox_agent_live_reply_status_handover_close(self):
        d = self.driver
        tenant_id, number = self.make_tenant("agent")
        email = f"agent-{tenant_id[:8]}@inbox.test"
        agent = Env.admin.create_user(tenant_id, email, "agent")
        colleague = Env.admin.create_user(tenant_id, f"bruno-{tenant_id[:8]}@inbox.test", "agent")
        mode = {"delay": 1.0}
        self.route_sends(number, mode)
        self.deliver(number, "5511900000001", "João Pereira", "Bom dia! Vocês abrem no sábado?", timestamp=time.time() - 3 * 3600)
        self.deliver(number, "5521988887777", "Ana Costa", "Obrigada pelo atendimento!", timestamp=time.time() - 26 * 3600)

        self.sign_in(email, ADMIN_PASSWORD, hash_path=f"#/tenants/{tenant_id}/inbox")
        self.wait_until(lambda _: self.row("João Pereira"), "the existing conversation is not listed")
        self.js("window.__inboxNoReload = 'still here'")
        self.assertFalse(self.els("[data-action=erase]"), "an agent must not see the erase button")

        # (1) A customer writes while the page is open: the row appears with its unread badge, no reload.
        started = time.time()
        self.deliver(number, "5511912345678", "Maria Silva", "Oi! Quero saber o status do meu pedido #4521")
        self.wait_until(lambda _: self.badge("Maria Silva") == "1", "the new conversation did not appear with 1 unread")
        print(f"BENCH inbox_live_new_conversation_seconds {time.time() - started:.2f} s")
        self.deliver(number, "5511912345678", "Maria Silva", "Fiz a compra ontem pelo site.")
        self.wait_until(lambda _: self.badge("Maria Silva") == "2", "the unread badge did not count the second message")
        self.assertEqual(self.js("return window.__inboxNoReload"), "still here", "the page was reloaded")
        names = [r["name"] for r in self.rows()]
        self.assertEqual(names[0], "Maria Silva", f"the newest conversation is not first: {names}")
        self.assertEqual(self.row("Maria Silva")["label"], "2 unread messages")
        self.shot("inbox-list")

        # (2) Opening it updates the address (deep link) and shows the history, oldest first.
        maria = self.conversation_of(Env.admin, tenant_id, "5511912345678")
        self.open_row("Maria Silva")
        self.wait_until(lambda _: d.current_url.endswith(f"/inbox/{maria['id']}"), "the hash does not name the conversation")
        self.wait_until(lambda _: self.bubbles(".inbox-msg-in") == 2, "the two customer messages are not shown")
        self.assertEqual(self.texts(".inbox-msg-in .inbox-msg-text"), ["Oi! Quero saber o status do meu pedido #4521", "Fiz a compra ontem pelo site."])
        self.assertEqual(self.text(".inbox-thread-name"), "Maria Silva")
        self.assertIn("+5511912345678", self.text(".inbox-thread-meta"))

        # (3) Shift+Enter adds a line, Enter sends; the reply shows at once as pending, then as sent.
        box = self.wait_css("textarea.inbox-input")
        box.send_keys("Olá Maria!")
        box.send_keys(Keys.SHIFT, Keys.ENTER)
        box.send_keys("Vou verificar agora mesmo.")
        self.assertEqual(box.get_attribute("value"), "Olá Maria!\nVou verificar agora mesmo.")
        self.assertFalse(self.bubbles(".inbox-msg-out"), "Shift+Enter sent the message")
        box.send_keys(Keys.ENTER)
        self.wait_until(lambda _: self.bubbles(".inbox-msg-out[data-status=pending]"), "the reply did not show as pending at once", timeout=3)
        self.assertEqual(box.get_attribute("value"), "", "the reply box was not cleared")
        self.wait_until(lambda _: self.bubbles(".inbox-msg-out[data-status=sent]"), "the reply never showed as sent")
        sends = [r for r in Env.fake.requests_to(rf"/{GRAPH_VERSION}/{number}/messages", "POST")]
        self.assertEqual(len(sends), 1, f"sends: {sends}")
        self.assertEqual(sends[0]["json"]["to"], "5511912345678")
        self.assertEqual(sends[0]["json"]["text"]["body"], "Olá Maria!\nVou verificar agora mesmo.")
        self.assertEqual(self.bubbles(".inbox-msg-out"), 1, "the reply is shown twice")
        self.assertEqual(self.text(".inbox-msg-out .inbox-msg-text"), "Olá Maria!\nVou verificar agora mesmo.")
        self.assertEqual(self.text(".inbox-msg-out .inbox-msg-sender"), "You")
        self.assertIn("Sent", self.text(".inbox-msg-out .inbox-status"))
        # A reply reads the chat: the badge goes away without a reload.
        self.wait_until(lambda _: self.badge("Maria Silva") == "", "the unread badge stayed after replying")

        # (4) Delivery statuses arrive by webhook and show live; nothing unchanged is re-rendered and the
        # draft in the reply box survives the refreshes.
        joao = f".inbox-item[data-id='{self.row('João Pereira')['id']}']"
        self.js("document.querySelector('.inbox-msg-in').__kept = true; document.querySelector(arguments[0]).__kept = true;", joao)
        box.send_keys("rascunho não enviado")
        wamid = mode["wamids"][0]
        self.assertEqual(harness.post_webhook(self.base, status_payload(number, wamid, "read", "5511912345678")), 200)
        self.wait_until(lambda _: self.bubbles(".inbox-msg-out[data-status=read]"), "the read status did not show")
        self.deliver(number, "5511912345678", "Maria Silva", "Perfeito, obrigada!")
        self.wait_until(lambda _: self.bubbles(".inbox-msg-in") == 3, "a new customer message did not appear live")
        self.assertEqual(box.get_attribute("value"), "rascunho não enviado", "the draft was lost by a refresh")
        self.assertTrue(self.js("return document.querySelector('.inbox-msg-in').__kept === true"),
                        "an unchanged message was re-rendered")
        self.assertTrue(self.js("return document.querySelector(arguments[0]).__kept === true", joao),
                        "an unchanged row was re-rendered")
        self.wait_until(lambda _: self.badge("Maria Silva") == "1", "the badge did not count the message after the reply")
        box.clear()

        # (5) A send the provider refuses shows as failed with the provider's error, once.
        mode.update(fail=True, delay=0)
        box.send_keys("Pode confirmar seu CPF?", Keys.ENTER)
        self.wait_until(lambda _: self.bubbles(".inbox-msg-out[data-status=failed]") == 1, "the failed send is not shown")
        self.wait_until(lambda _: PROVIDER_ERROR in (self.text(".inbox-msg-out[data-status=failed]") or ""),
                        "the provider's error is not shown on the failed reply")
        time.sleep(3)  # a refresh or two later it is still one bubble (the stored failed message took the local one's place)
        self.assertEqual(self.bubbles(".inbox-msg-out[data-status=failed]"), 1, "the failed reply is shown twice")
        self.assertFalse(self.bubbles(".inbox-msg-out[data-status=pending]"), "a reply stayed pending")
        self.assertIn(PROVIDER_ERROR, self.text(".inbox-msg-out[data-status=failed]"))
        mode.update(fail=False)
        self.shot("inbox-conversation")
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        self.shot("inbox-conversation-dark")
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

        # Switching the language re-renders the view in Portuguese, on the same conversation, with the draft.
        box.send_keys("rascunho")
        Select(self.el("#lang")).select_by_value("pt-BR")
        self.wait_until(lambda _: self.text(".inbox-header h1") == "Caixa de entrada", "the inbox is not translated")
        self.wait_until(lambda _: self.els("textarea.inbox-input") and self.el("textarea.inbox-input").get_attribute("value") == "rascunho",
                        "the draft did not survive the language switch")
        self.wait_until(lambda _: self.text(".inbox-thread-name") == "Maria Silva", "the conversation did not reopen")
        self.assertIn("Assumir", self.text("[data-action=handover]"))
        Select(self.el("#lang")).select_by_value("en")
        self.wait_until(lambda _: self.text(".inbox-header h1") == "Inbox", "the inbox is not back in English")
        box = self.wait_css("textarea.inbox-input")
        box.clear()

        # (6) Handover: taking over pauses the bot (and assigns the agent); resuming lets it answer again.
        self.click("[data-action=handover]")
        self.wait_until(lambda _: self.el("[data-action=handover]").get_attribute("aria-pressed") == "true", "the handover button did not switch")
        current = Env.admin.call("GET", f"/api/v1/tenants/{tenant_id}/conversations/{maria['id']}")
        self.assertTrue(current["bot_paused"], "bot_paused did not change on the server")
        self.assertEqual(current["assignee_id"], agent["id"], "taking over did not assign the agent")
        self.wait_until(lambda _: "Bot paused" in self.row("Maria Silva")["text"], "the row does not show the paused bot")
        # Filters: assigned to me, bot paused.
        Select(self.el("[data-filter=assignee]")).select_by_value("me")
        self.wait_until(lambda _: [r["name"] for r in self.rows()] == ["Maria Silva"], "the 'assigned to me' filter")
        Select(self.el("[data-filter=assignee]")).select_by_value("")
        Select(self.el("[data-filter=bot]")).select_by_value("active")
        self.wait_until(lambda _: self.row("Maria Silva") is None and self.row("João Pereira"), "the 'bot active' filter")
        Select(self.el("[data-filter=bot]")).select_by_value("")
        self.wait_until(lambda _: self.row("Maria Silva"), "the filters did not reset")
        # Assign to a colleague.
        Select(self.el("[data-action=assign]")).select_by_value(colleague["id"])
        self.wait_until(lambda _: Env.admin.call("GET", f"/api/v1/tenants/{tenant_id}/conversations/{maria['id']}")["assignee_id"] == colleague["id"],
                        "the conversation was not assigned to the colleague")
        self.wait_until(lambda _: colleague["email"] in self.text(".inbox-thread-meta"), "the header does not name the assignee")
        self.click("[data-action=handover]")
        self.wait_until(lambda _: self.el("[data-action=handover]").get_attribute("aria-pressed") == "false", "the bot was not resumed")
        self.assertFalse(Env.admin.call("GET", f"/api/v1/tenants/{tenant_id}/conversations/{maria['id']}")["bot_paused"])

        # (7) Close, confirmed in a dialog: the reply box goes, the row leaves the open list and is
        # found under Closed.
        self.click("[data-action=close]")
        self.wait_css("dialog.dialog", "no confirmation dialog for closing")
        self.click("dialog.dialog button[data-value=ok]")
        self.wait_until(lambda _: Env.admin.call("GET", f"/api/v1/tenants/{tenant_id}/conversations/{maria['id']}")["status"] == "closed",
                        "the conversation was not closed")
        self.wait_until(lambda _: not self.els("textarea.inbox-input") or not self.el("textarea.inbox-input").is_displayed(),
                        "the reply box is still shown on a closed conversation")
        self.assertIn("closed", self.text(".inbox-note").lower())
        self.wait_until(lambda _: self.row("Maria Silva") is None, "the closed conversation stayed in the open list")
        self.click("[data-filter=status][data-value=closed]")
        self.wait_until(lambda _: self.row("Maria Silva"), "the closed conversation is not under Closed")
        severe = self.severe_logs(allowed=(RESUME_PROBE, "status of 502"))
        self.assertEqual(severe, [], f"console errors: {severe}")

    def test_inbox_customer_html_is_shown_as_text(self):
        tenant_id, number = self.make_tenant("xss")
        email = f"agent-{tenant_id[:8]}@inbox.test"
        Env.admin.create_user(tenant_id, email, "agent")
        evil = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b>bold</b>'
        evil_name = '<i>Mallory</i><img src=y onerror="window.__xss=3">'
        self.deliver(number, "5511977776666", evil_name, evil, timestamp=time.time() - 20)
        self.deliver(number, "5511977776666", evil_name, "javascript:alert(1) <a href=\"javascript:window.__xss=4\">click</a>",
                     timestamp=time.time() - 10)
        conv = self.conversation_of(Env.admin, tenant_id, "5511977776666")
        # A deep link opens the conversation directly.
        self.sign_in(email, ADMIN_PASSWORD, hash_path=f"#/tenants/{tenant_id}/inbox/{conv['id']}")
        self.wait_until(lambda _: self.bubbles(".inbox-msg-in") == 2, "the customer's messages are not shown")
        self.assertEqual(self.texts(".inbox-msg-in .inbox-msg-text")[0], evil, "the message is not shown as literal text")
        self.assertEqual(self.text(".inbox-thread-name"), evil_name)
        self.wait_until(lambda _: self.row(evil_name), "the list does not show the literal name")
        time.sleep(3)  # a refresh cycle later, still nothing ran
        self.assertIsNone(self.js("return window.__xss"), "customer content ran as script")
        created = self.js("""
            const root = document.querySelector('.inbox');
            return Array.from(root.querySelectorAll('img, script, b, i, a[href^="javascript"], iframe, object'))
              .map(e => e.tagName);
        """)
        self.assertEqual(created, [], f"customer content created elements: {created}")
        self.assertFalse(self.els(".inbox-messages img, .inbox-messages b, .inbox-messages script"))
        severe = self.severe_logs(allowed=(RESUME_PROBE,))
        self.assertEqual(severe, [], f"console errors (an injected <img> would log a failed load): {severe}")
        self.shot("inbox-xss")

    def test_inbox_erase_customer_as_tenant_admin(self):
        tenant_id, number = self.make_tenant("erase")
        email = f"admin-{tenant_id[:8]}@inbox.test"
        Env.admin.create_user(tenant_id, email, "tenant_admin")
        self.route_sends(number, {})
        self.deliver(number, "5511955554444", "Carlos Souza", "Quero que apaguem meus dados, por favor (LGPD).")
        self.sign_in(email, ADMIN_PASSWORD, hash_path=f"#/tenants/{tenant_id}/inbox")
        self.wait_until(lambda _: self.row("Carlos Souza"), "the conversation is not listed")
        self.open_row("Carlos Souza")
        self.wait_until(lambda _: self.bubbles(".inbox-msg-in") == 1, "the message is not shown")

        # Cancelling changes nothing.
        self.click("[data-action=erase]")
        dialog = self.wait_css("dialog.inbox-erase-dialog", "no confirmation dialog for erasing")
        self.assertIn("cannot be undone", dialog.text)
        self.assertIn("Carlos Souza", dialog.text)
        self.click("dialog.inbox-erase-dialog button[data-value=cancel]")
        self.wait_until(lambda _: not self.els("dialog.inbox-erase-dialog"), "the dialog did not close")
        conv = self.conversation_of(Env.admin, tenant_id, "5511955554444")
        self.assertFalse(conv["customer"]["erased"])

        self.click("[data-action=erase]")
        self.wait_css("dialog.inbox-erase-dialog")
        self.click("dialog.inbox-erase-dialog button[data-value=erase]")
        self.wait_until(lambda _: self.text(".inbox-thread-name") == "Erased customer", "the customer does not show as erased")
        self.wait_until(lambda _: "Message erased" in (self.text(".inbox-msg-in") or ""), "the message body is still shown")
        self.assertNotIn("LGPD", self.text(".inbox-thread"))
        self.assertNotIn("5511955554444", self.text(".inbox-thread"))
        self.assertIn("erased", self.text(".inbox-note").lower())
        self.assertFalse(self.els("[data-action=erase]") and self.el("[data-action=erase]").is_displayed(), "erase still offered")
        after = Env.admin.call("GET", f"/api/v1/tenants/{tenant_id}/conversations/{conv['id']}")
        self.assertTrue(after["customer"]["erased"])
        self.assertIsNone(after["customer"].get("wa_id"))
        self.assertEqual(after["status"], "closed")
        # Erasing closes the conversation: it leaves the open list; under All it shows as erased.
        self.wait_until(lambda _: self.row("Carlos Souza") is None, "the erased customer's name is still listed")
        self.click("[data-filter=status][data-value=all]")
        self.wait_until(lambda _: self.row("Erased customer"), "the erased customer is not listed under All")

    def test_inbox_viewer_reads_only_and_pages(self):
        tenant_id, number = self.make_tenant("viewer")
        email = f"viewer-{tenant_id[:8]}@inbox.test"
        Env.admin.create_user(tenant_id, email, "viewer")
        now = time.time()
        # 30 customers (one message each) and one long conversation (120 messages, the newest).
        customers = [(f"55119{i:08d}", f"Cliente {i:02d}") for i in range(30)]
        payload = many_messages_payload(
            number,
            [text_message(wa, f"Mensagem de {name}", now - 7200 + i * 60) for i, (wa, name) in enumerate(customers)],
            [{"profile": {"name": name}, "wa_id": wa} for wa, name in customers])
        self.assertEqual(harness.post_webhook(self.base, payload), 200)
        long_wa = "5511944443333"
        long_payload = many_messages_payload(
            number, [text_message(long_wa, f"Linha {i:03d}", now - 600 + i) for i in range(120)],
            [{"profile": {"name": "Beatriz Longa"}, "wa_id": long_wa}])
        self.assertEqual(harness.post_webhook(self.base, long_payload), 200)

        self.sign_in(email, ADMIN_PASSWORD, hash_path=f"#/tenants/{tenant_id}/inbox")
        self.wait_until(lambda _: len(self.els(".inbox-item")) == 25, "the first page does not hold 25 conversations")
        self.assertEqual(self.rows()[0]["name"], "Beatriz Longa")
        self.click(".inbox-more")
        self.wait_until(lambda _: len(self.els(".inbox-item")) == 31, "load more did not add the remaining conversations")
        self.wait_until(lambda _: not self.els(".inbox-more"), "load more is still offered after the last page")
        names = [r["name"] for r in self.rows()]
        self.assertEqual(len(set(names)), 31, "a conversation is listed twice")

        # The long history: the newest 50 first, earlier ones on demand, oldest first throughout.
        self.open_row("Beatriz Longa")
        self.wait_until(lambda _: self.bubbles() == 50, "the newest 50 messages are not shown")
        texts = self.texts(".inbox-msg .inbox-msg-text")
        self.assertEqual(texts[0], "Linha 070")
        self.assertEqual(texts[-1], "Linha 119")
        scroller = self.el(".inbox-scroll")
        self.assertLess(abs(self.js("const s = arguments[0]; return s.scrollHeight - s.scrollTop - s.clientHeight;", scroller)), 4,
                        "the history does not open at the newest message")
        self.click(".inbox-earlier-button")
        self.wait_until(lambda _: self.bubbles() == 100, "show earlier did not add 50 messages")
        self.click(".inbox-earlier-button")
        self.wait_until(lambda _: self.bubbles() == 120, "show earlier did not reach the start")
        self.assertEqual(self.texts(".inbox-msg .inbox-msg-text")[0], "Linha 000")
        self.wait_css(".inbox-start", "the start of the conversation is not marked")

        # Read-only: no reply box, no write control anywhere, and a note saying why.
        self.assertFalse(self.els("textarea"), "a viewer has a reply box")
        writes = self.js("return Array.from(document.querySelectorAll('[data-write]')).map(e => e.tagName + '.' + e.className)")
        self.assertEqual(writes, [], f"write controls shown to a viewer: {writes}")
        self.assertFalse(self.els(".inbox-thread-actions"), "a viewer sees conversation actions")
        self.assertIn("Read-only", self.text(".inbox-note"))

        # Leaving the view stops the refreshes.
        self.js("""
            window.__inboxReads = 0;
            const original = window.fetch;
            window.fetch = function (url, init) {
              if (String(url).includes('/conversations')) window.__inboxReads += 1;
              return original.apply(this, arguments);
            };""")
        self.wait_until(lambda _: self.js("return window.__inboxReads") > 0, "the inbox does not refresh while open")
        self.js(f"location.hash = '#/tenants/{tenant_id}/metrics'")
        self.wait_until(lambda _: not self.els(".inbox"), "the inbox did not unmount")
        self.js("window.__inboxReads = 0")
        time.sleep(6)
        self.assertEqual(self.js("return window.__inboxReads"), 0, "the inbox kept polling after it was left")
        severe = self.severe_logs(allowed=(RESUME_PROBE,))
        self.assertEqual(severe, [], f"console errors: {severe}")
