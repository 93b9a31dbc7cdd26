#!/usr/bin/env python3
"""The flows list and the flow builder: building a flow by mouse (palette drag and drop, port
connections, forms from module manifests, undo/redo), saving, publishing, simulating with the path
highlighted, rollback; inline problems; draft conflicts; the read-only canvas of viewers; and the
time a 200-node flow takes to become interactive. Run through run.py."""

import json
import os
import tempfile
import time

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from harness import BrowserTest, Env, ApiError

RESUME_PROBE = "/api/v1/auth/refresh - Failed to load resource: the server responded with a status of 401"


def node(id, type, config=None, x=0, y=0):
    return {"id": id, "type": type, "config": config or {}, "position": {"x": x, "y": y}}


def edge(a, b, outcome="next"):
    return {"from": a, "outcome": outcome, "to": b}


VALID = {
    "nodes": [node("start", "start"), node("hello", "send_message", {"text": "Hello {{customer_name}}!"}, 280, 0), node("bye", "end", x=560)],
    "edges": [edge("start", "hello"), edge("hello", "bye")],
}


class BuilderTest(BrowserTest):
    # ------------------------------------------------------------ helpers

    def tenant(self, name, role="tenant_admin"):
        slug = f"bld-{name}-{time.time_ns() % 10**9}"
        tenant = Env.admin.create_tenant(slug)
        email = f"{role}@{slug}.test"
        Env.admin.create_user(tenant["id"], email, role)
        return tenant["id"], email

    def flows_path(self, tid):
        return f"/api/v1/tenants/{tid}/flows"

    def open_builder(self, tid, fid):
        self.driver.execute_script("location.hash = arguments[0]", f"#/tenants/{tid}/flows/{fid}")
        self.wait_css(".bld-root[data-ready]", "the builder never became ready")

    def node_ids(self):
        return [e.get_attribute("data-node-id") for e in self.els("#bld-canvas [data-node-id]")]

    def edge_count(self):
        return len(self.els("#bld-canvas [data-edge-from]"))

    def wait_nodes(self, n, message):
        self.wait_until(lambda _: len(self.node_ids()) == n, f"{message}: canvas has {len(self.node_ids())} nodes, expected {n}")

    def wait_edges(self, n, message):
        self.wait_until(lambda _: self.edge_count() == n, f"{message}: canvas has {self.edge_count()} edges, expected {n}")

    def svg(self):
        return self.el("#bld-canvas svg")

    def drag_from_palette(self, type_, dx, dy, module=None):
        """Drags a palette item onto the canvas, dropping it (dx, dy) from the canvas's centre."""
        css = f'[data-palette-type="{type_}"]' + (f'[data-palette-module="{module}"]' if module else "")
        item = self.wait_css(css)
        ActionChains(self.driver).click_and_hold(item).move_by_offset(15, 5).move_by_offset(40, 0) \
            .move_to_element_with_offset(self.svg(), dx, dy).release().perform()

    def node_el(self, node_id):
        return self.el(f'#bld-canvas [data-node-id="{node_id}"]')

    def click_node(self, node_id):
        tab = self.el('.bld-tab[data-tab="inspector"]')
        if "is-active" not in tab.get_attribute("class"):
            tab.click()
        box = self.el(f'#bld-canvas [data-node-id="{node_id}"] .bld-node-title')
        ActionChains(self.driver).move_to_element(box).click().perform()
        self.wait_until(lambda _: "is-selected" in (self.attr(f'#bld-canvas [data-node-id="{node_id}"]', "class") or ""), f"{node_id} was not selected")
        self.wait_css(f'#bld-panel .bld-inspector[data-node-id="{node_id}"]', f"the inspector does not show {node_id}")

    def connect(self, from_id, outcome, to_id):
        port = self.el(f'#bld-canvas [data-node-id="{from_id}"] [data-port="{outcome}"] .bld-port-dot')
        target = self.el(f'#bld-canvas [data-node-id="{to_id}"] .bld-node-title')
        ActionChains(self.driver).click_and_hold(port).move_by_offset(25, 10).move_by_offset(10, 10) \
            .move_to_element(target).release().perform()

    def attr(self, css, name):
        """An attribute read in one script call (elements that re-render cannot go stale in between)."""
        return self.driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;", css, name)

    def text(self, css):
        return self.driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", css)

    def published(self):
        return self.attr("#bld-published", "data-version")

    def dirty_state(self):
        return self.attr("#bld-dirty", "data-dirty")

    def wait_saved(self, message):
        self.wait_until(lambda _: self.dirty_state() == "0" and self.attr('[data-action="save"]', "disabled") is None, message)

    def keys(self, *chords):
        """Sends a chord like (Keys.CONTROL, "z") or (Keys.CONTROL, Keys.SHIFT, "z") to the page."""
        chain = ActionChains(self.driver)
        *mods, key = chords
        for m in mods:
            chain.key_down(m)
        chain.send_keys(key)
        for m in reversed(mods):
            chain.key_up(m)
        chain.perform()

    def focus_canvas(self):
        """Clicks an empty corner of the canvas (keyboard shortcuts go to the canvas, not to a form field)."""
        bg = self.el("#bld-canvas .bld-bg")
        size = bg.size
        ActionChains(self.driver).move_to_element_with_offset(bg, -size["width"] // 2 + 12, -size["height"] // 2 + 12).click().perform()

    def dialog_button(self, value):
        self.wait_css("dialog[open]", "no dialog opened")
        self.click(f'dialog[open] button[value="{value}"]')
        self.wait_until(lambda _: not self.els("dialog[open]"), "the dialog did not close")

    def no_severe_logs(self):
        severe = self.severe_logs(allowed=(RESUME_PROBE, "status of 409", "status of 422"))
        self.assertEqual(severe, [], f"console errors: {severe}")

    # ------------------------------------------------------------ build a flow by mouse

    def test_build_publish_simulate_and_rollback(self):
        d = self.driver
        tid, email = self.tenant("build")
        api = self.api_as(email)
        # Two flows already exist, so the list has something to show.
        welcome = api.call("POST", self.flows_path(tid), {"name": "Welcome", "trigger": {"type": "keywords", "keywords": ["hi", "hello"]}, "definition": VALID})
        api.call("POST", f"{self.flows_path(tid)}/{welcome['id']}/publish", expect=201)
        support = api.call("POST", self.flows_path(tid), {"name": "Support (draft)"})

        self.sign_in(email, hash_path=f"#/tenants/{tid}/flows")
        self.wait_css("#flows-list table", "the flows list did not load")
        rows = self.els("#flows-list tbody tr")
        self.assertEqual(len(rows), 2)
        self.assertIn("Live · v1", rows[0].text)
        self.assertIn("Keywords: hi, hello", rows[0].text)
        self.assertIn("1 problem", rows[1].text)
        self.shot("flows-list")
        # Deleting asks first; cancelling keeps the flow, confirming removes it.
        self.click(f'#flows-list tr[data-flow-id="{support["id"]}"] [data-action="delete"]')
        self.dialog_button("cancel")
        self.assertEqual(len(self.els("#flows-list tbody tr")), 2)
        self.click(f'#flows-list tr[data-flow-id="{support["id"]}"] [data-action="delete"]')
        self.dialog_button("ok")
        self.wait_until(lambda _: len(self.els("#flows-list tbody tr")) == 1, "the deleted flow is still listed")
        api.call("GET", f"{self.flows_path(tid)}/{support['id']}", expect=404)

        # Create a flow through the form: it opens in the builder with its lone start node.
        self.click("#flows-new")
        self.type_into("#flows-name", "Greeter")
        self.click("#flows-create")
        self.wait_css(".bld-root[data-ready]", "the new flow did not open in the builder")
        fid = d.current_url.rsplit("/", 1)[-1]
        self.assertEqual(self.node_ids(), ["start"])
        self.assertEqual(self.el(".bld-title").text, "Greeter")

        # Zoom out twice with the buttons, then move the start node to the top left by dragging it.
        self.click('[data-action="zoom-out"]')
        self.click('[data-action="zoom-out"]')
        self.wait_until(lambda _: self.el(".bld-zoom-label").text == "69%", "zoom buttons did not zoom out")
        before = self.node_el("start").get_attribute("transform")
        ActionChains(d).click_and_hold(self.el('[data-node-id="start"] .bld-node-title')).move_by_offset(-60, -30) \
            .move_by_offset(-155, -60).release().perform()
        self.wait_until(lambda _: self.node_el("start").get_attribute("transform") != before, "dragging did not move the start node")

        # Nodes from the palette, by drag and drop.
        self.drag_from_palette("ask", 0, -90)
        self.wait_nodes(2, "dropping an ask node")
        self.drag_from_palette("module", 215, -90, module="cache")
        self.wait_nodes(3, "dropping a cache module node")
        self.drag_from_palette("send_message", 0, 70)
        self.wait_nodes(4, "dropping a send_message node")
        self.drag_from_palette("end", 215, 70)
        self.wait_nodes(5, "dropping an end node")
        self.assertEqual(sorted(self.node_ids()), ["ask_1", "cache_1", "end_1", "send_message_1", "start"])
        self.assertEqual(self.dirty_state(), "1", "no unsaved-changes indicator after editing")

        # Undo / redo with the keyboard: the last drop goes away and comes back.
        self.keys(Keys.CONTROL, "z")
        self.wait_nodes(4, "Ctrl+Z did not undo the last drop")
        self.keys(Keys.CONTROL, Keys.SHIFT, "z")
        self.wait_nodes(5, "Ctrl+Shift+Z did not redo the drop")

        # Copy and paste make a copy with a new id; the Delete key removes it again.
        self.click_node("ask_1")
        self.keys(Keys.CONTROL, "c")
        self.keys(Keys.CONTROL, "v")
        self.wait_nodes(6, "Ctrl+V did not paste the copied node")
        self.assertIn("ask_2", self.node_ids())
        self.assertEqual([e.get_attribute("data-node-id") for e in self.els("#bld-canvas .bld-node.is-selected")], ["ask_2"])
        self.keys(Keys.DELETE)
        self.wait_nodes(5, "the Delete key did not delete the pasted node")

        # Connections, by dragging from each outcome port onto the next node.
        self.connect("start", "next", "ask_1")
        self.wait_edges(1, "start → ask")
        self.connect("ask_1", "next", "cache_1")
        self.wait_edges(2, "ask → cache")
        self.connect("cache_1", "success", "send_message_1")
        self.wait_edges(3, "cache success → send")
        self.connect("cache_1", "error", "end_1")
        self.wait_edges(4, "cache error → end")
        self.connect("send_message_1", "next", "end_1")
        self.wait_edges(5, "send → end")
        # Undo / redo with the buttons.
        self.click('[data-action="undo"]')
        self.wait_edges(4, "the undo button did not remove the last connection")
        self.click('[data-action="redo"]')
        self.wait_edges(5, "the redo button did not restore the connection")

        # Configure the nodes through their forms (the module's form comes from its manifest).
        self.click_node("ask_1")
        self.type_into('#bld-panel [data-field="question"] textarea', "What is your name?")
        self.type_into('#bld-panel [data-field="variable"] input', "name")
        self.click_node("cache_1")
        operation = Select(self.el('#bld-panel [data-field="with.operation"] select'))
        self.assertIn("list", [o.get_attribute("value") for o in operation.options], "the cache form lacks the manifest's enum")
        operation.select_by_value("set")
        self.type_into('#bld-panel [data-field="with.key"] input', "name")
        self.type_into('#bld-panel [data-field="with.value"] input', "{{name}}")
        self.type_into('#bld-panel [data-field="save_as"] input', "stored")
        self.assertTrue(self.els('#bld-panel [data-field="with.ttl_seconds"] input[type="number"]'), "integer fields are not number inputs")
        self.click_node("send_message_1")
        self.type_into('#bld-panel [data-field="text"] textarea', "Nice to meet you, {{name}}!")
        self.wait_until(lambda _: "Nice to meet" in self.text('#bld-canvas [data-node-id="send_message_1"]'), "the canvas node does not show its new text")
        self.shot("builder-canvas")

        # Save: the API has the flow as drawn, without problems.
        self.click('[data-action="save"]')
        self.wait_saved("the draft was not saved")
        flow = api.call("GET", f"{self.flows_path(tid)}/{fid}")
        self.assertEqual(flow["problems"], [], f"the saved draft has problems: {flow['problems']}")
        self.assertEqual(len(flow["definition"]["nodes"]), 5)
        self.assertEqual({(e["from"], e["outcome"], e["to"]) for e in flow["definition"]["edges"]}, {
            ("start", "next", "ask_1"), ("ask_1", "next", "cache_1"), ("cache_1", "success", "send_message_1"),
            ("cache_1", "error", "end_1"), ("send_message_1", "next", "end_1")})
        cache = next(n for n in flow["definition"]["nodes"] if n["id"] == "cache_1")
        self.assertEqual(cache["config"], {"module": "cache", "with": {"operation": "set", "key": "name", "value": "{{name}}"}, "save_as": "stored"})

        # Publish: version 1.
        self.click('[data-action="publish"]')
        self.wait_until(lambda _: self.published() == "1", "publishing did not show version 1")
        self.assertEqual(api.call("GET", f"{self.flows_path(tid)}/{fid}")["published_version"], 1)
        v1 = api.call("GET", f"{self.flows_path(tid)}/{fid}/versions")["items"]
        self.assertEqual([v["version"] for v in v1], [1])

        # Simulate: the bot asks, then greets by name; the nodes taken are highlighted.
        self.click('.bld-tab[data-tab="simulator"]')
        self.type_into("#bld-sim-input", "hi")
        self.click("#bld-sim-send")
        self.wait_until(lambda _: "What is your name?" in self.text("#bld-sim-chat"), "the bot did not ask the question")
        self.type_into("#bld-sim-input", "Ana")
        self.click("#bld-sim-send")
        self.wait_until(lambda _: "Nice to meet you, Ana!" in self.text("#bld-sim-chat"), "the bot did not greet Ana")
        path = {e.get_attribute("data-node-id") for e in self.els("#bld-canvas .bld-node.is-path")}
        self.assertEqual(path, {"start", "ask_1", "cache_1", "send_message_1", "end_1"})
        self.assertEqual([e.get_attribute("data-node-id") for e in self.els("#bld-canvas .bld-node.is-current")], ["end_1"])
        taken = {(e.get_attribute("data-edge-from"), e.get_attribute("data-edge-to")) for e in self.els("#bld-canvas .bld-edge.is-path")}
        self.assertEqual(taken, {("start", "ask_1"), ("ask_1", "cache_1"), ("cache_1", "send_message_1"), ("send_message_1", "end_1")})
        self.assertIn("Flow completed", self.el("#bld-sim-status").text)
        self.shot("builder-simulator")

        # Change the message and publish version 2 (publishing saves first).
        self.click_node("send_message_1")
        self.type_into('#bld-panel [data-field="text"] textarea', "Welcome aboard, {{name}}!")
        self.click('[data-action="publish"]')
        self.wait_until(lambda _: self.published() == "2", "publishing did not show version 2")

        # Roll back to version 1 from the version history.
        self.click('.bld-tab[data-tab="versions"]')
        self.wait_css('#bld-versions [data-version="2"].is-live', "version 2 is not shown as live")
        self.wait_css('#bld-versions [data-action="rollback"][data-version="1"]')
        self.shot("builder-versions")
        self.click('#bld-versions [data-action="rollback"][data-version="1"]')
        self.dialog_button("ok")
        self.wait_until(lambda _: self.published() == "3", "the rollback did not publish version 3")
        self.wait_css('#bld-versions [data-version="3"].is-live', "the version list did not refresh after the rollback")
        versions = api.call("GET", f"{self.flows_path(tid)}/{fid}/versions")["items"]
        self.assertEqual([v["version"] for v in versions], [3, 2, 1])
        by = {v["version"]: v for v in versions}
        self.assertEqual(by[3]["copied_from"], 1)
        self.assertEqual(by[3]["definition"], by[1]["definition"], "the published version is not version 1's definition")
        self.assertNotEqual(by[2]["definition"], by[1]["definition"])
        self.assertEqual(api.call("GET", f"{self.flows_path(tid)}/{fid}")["published_version"], 3)
        self.no_severe_logs()

    # ------------------------------------------------------------ inline problems

    def test_inline_problems_on_their_nodes(self):
        tid, email = self.tenant("problems")
        api = self.api_as(email)
        broken = {
            "nodes": [{"id": "start", "type": "start"}, {"id": "ask", "type": "ask", "config": {"question": "Nome?", "variable": "name"}},
                      {"id": "odd", "type": "teleport"}, {"id": "say", "type": "send_message", "config": {"text": "Oi {{nickname}}"}}],
            "edges": [edge("start", "ask"), edge("ask", "nowhere")],
        }
        flow = api.call("POST", self.flows_path(tid), {"name": "Broken", "definition": broken, "trigger": {"type": "regex", "pattern": "(["}})
        self.sign_in(email, hash_path=f"#/tenants/{tid}/flows")
        self.open_builder(tid, flow["id"])

        def badge(node_id):
            found = self.els(f'#bld-canvas [data-node-id="{node_id}"] .bld-badge')
            return int(found[0].get_attribute("data-count")) if found else 0

        self.assertEqual({n: badge(n) for n in ("start", "ask", "odd", "say")}, {"start": 0, "ask": 2, "odd": 2, "say": 3})
        self.assertIn("has-problem", self.node_el("say").get_attribute("class"))
        self.assertNotIn("has-problem", self.node_el("start").get_attribute("class"))
        self.assertEqual(self.el("#bld-problem-count").text, "8")

        # The list groups them: the trigger is a flow-level problem; a node's entry selects it.
        self.click('.bld-tab[data-tab="problems"]')
        flow_group = self.wait_css('#bld-panel [data-group="flow"]')
        self.assertIn("regular expression", flow_group.text)
        say = self.el('#bld-panel [data-group="node"][data-node="say"]')
        self.assertEqual({e.get_attribute("data-code") for e in say.find_elements(By.CSS_SELECTOR, "[data-code]")},
                         {"missing_outcome", "undefined_variable", "unreachable_node"})
        self.click('#bld-panel .bld-problem-node[data-node="say"]')
        self.wait_until(lambda _: "is-selected" in self.node_el("say").get_attribute("class"), "the problem did not select its node")

        # Publishing refuses the draft and reports the problems again, from the 422.
        self.click('[data-action="publish"]')
        self.wait_until(lambda _: "Reported when publishing" in self.text("#bld-panel"), "publish problems were not shown")
        self.assertEqual(badge("say"), 3)

        # Fixing the text on the node through its form, then checking (save + validate), clears that problem.
        self.click_node("say")
        self.assertIn("not set anywhere", self.el("#bld-panel").text, "the node's problems are not in its inspector")
        self.type_into('#bld-panel [data-field="text"] textarea', "Oi {{name}}")
        self.click('[data-action="validate"]')
        self.wait_until(lambda _: badge("say") == 2, "checking did not update the node's problems")
        codes = {p["code"] for p in api.call("POST", f"{self.flows_path(tid)}/{flow['id']}/validate")["problems"] if p.get("node_id") == "say"}
        self.assertEqual(codes, {"missing_outcome", "unreachable_node"})
        self.no_severe_logs()

    # ------------------------------------------------------------ conflicts

    def test_save_conflict_keeps_the_users_work(self):
        tid, email = self.tenant("conflict")
        api = self.api_as(email)
        flow = api.call("POST", self.flows_path(tid), {"name": "Shared", "definition": VALID})
        path = f"{self.flows_path(tid)}/{flow['id']}"
        self.sign_in(email, hash_path=f"#/tenants/{tid}/flows")
        self.open_builder(tid, flow["id"])
        self.wait_nodes(3, "the seeded flow")

        # The user adds a node (a click on a palette item adds it in the middle) …
        self.click('[data-palette-type="wait"]')
        self.wait_nodes(4, "clicking a palette item")
        self.assertEqual(self.dirty_state(), "1")
        # Leaving the page keeps the unsaved work: coming back restores it (and says so).
        self.click("#bld-back")
        self.wait_css("#flows-list table")
        self.open_builder(tid, flow["id"])
        self.wait_css(".bld-banner", "restored work is not announced")
        self.assertIn("wait_1", self.node_ids(), "the unsaved node was lost when leaving the page")
        self.assertEqual(self.dirty_state(), "1")
        # … while someone else saves the draft through the API.
        api.call("PUT", path, {"name": "Shared (edited elsewhere)"}, headers={"If-Match": str(flow["revision"])})

        self.click('[data-action="save"]')
        dialog = self.wait_css("dialog[open].bld-conflict-dialog", "the conflict was not reported")
        self.assertIn("saved by someone else", dialog.text)
        self.assertIn("revision 2", dialog.text)
        self.dialog_button("cancel")
        # Nothing is lost: the node is still there, and still marked unsaved.
        self.assertEqual(len(self.node_ids()), 4)
        self.assertIn("wait_1", self.node_ids())
        self.assertEqual(self.dirty_state(), "1")
        self.assertIn("is-conflict", self.el("#bld-dirty").get_attribute("class"))

        # Saving again offers the choice again; overwriting stores the user's version.
        self.click('[data-action="save"]')
        self.wait_css("dialog[open].bld-conflict-dialog")
        self.dialog_button("overwrite")
        self.wait_saved("overwriting did not save")
        stored = api.call("GET", path)
        self.assertEqual(stored["revision"], 3)
        self.assertIn("wait_1", [n["id"] for n in stored["definition"]["nodes"]])
        # A stale save through the API is refused in turn.
        with self.assertRaises(ApiError) as stale:
            api.call("PUT", path, {"name": "Late"}, headers={"If-Match": "2"})
        self.assertEqual(stale.exception.status, 409)
        self.no_severe_logs()

    # ------------------------------------------------------------ import / export

    def test_import_export_and_language_switch_keep_the_draft(self):
        tid, email = self.tenant("io")
        api = self.api_as(email)
        folder = tempfile.mkdtemp(prefix="bld-")
        first = os.path.join(folder, "imported.flow.json")
        with open(first, "w") as f:
            json.dump({"name": "Imported", "trigger": {"type": "keywords", "keywords": ["menu"]}, "definition": VALID,
                       "test_cases": [{"describe": "greets", "messages": ["menu"], "expect": {"replies_contain": "Hello"}}]}, f)
        self.sign_in(email, hash_path=f"#/tenants/{tid}/flows")
        self.wait_css("#flows-list .empty", "the empty state of the flows list")

        # Import on the list creates the flow (name, trigger, definition, test cases) and opens it.
        self.el("#flows-import-file").send_keys(first)
        self.wait_css(".bld-root[data-ready]", "the imported flow did not open")
        self.assertEqual(sorted(self.node_ids()), ["bye", "hello", "start"])
        fid = self.driver.current_url.rsplit("/", 1)[-1]
        stored = api.call("GET", f"{self.flows_path(tid)}/{fid}")
        self.assertEqual((stored["name"], stored["trigger"]["keywords"], len(stored["test_cases"])), ("Imported", ["menu"], 1))

        # The test case passes from the Tests tab.
        self.click('.bld-tab[data-tab="tests"]')
        self.click("#bld-tests-run")
        self.wait_css('.bld-case[data-case="0"] [data-result="pass"]', "the imported test case did not pass")

        # Export hands the draft to a Blob download.
        self.driver.execute_script("""
            window.__exported = null;
            const original = URL.createObjectURL;
            URL.createObjectURL = (blob) => { blob.text().then((t) => { window.__exported = t; }); return original(blob); };""")
        self.click('[data-action="export"]')
        self.wait_until(lambda d: d.execute_script("return window.__exported"), "nothing was exported")
        exported = json.loads(self.driver.execute_script("return window.__exported"))
        self.assertEqual(exported["name"], "Imported")
        self.assertEqual(exported["definition"]["edges"], VALID["edges"])
        self.assertEqual(exported["test_cases"][0]["describe"], "greets")

        # Import in the builder replaces the canvas (after confirming); it is an edit like any other.
        second = os.path.join(folder, "other.json")
        with open(second, "w") as f:
            json.dump({"nodes": [{"id": "start", "type": "start"}, {"id": "only", "type": "end"}], "edges": [edge("start", "only")]}, f)
        self.el("#bld-import-file").send_keys(second)
        self.dialog_button("ok")
        self.wait_until(lambda _: sorted(self.node_ids()) == ["only", "start"], "the builder import did not replace the canvas")
        self.assertEqual(self.dirty_state(), "1")

        # Switching the language keeps the unsaved draft (no remount) and translates the builder.
        Select(self.el("#lang")).select_by_value("pt-BR")
        self.wait_until(lambda _: self.text('[data-action="save"]') == "Salvar", "the builder was not translated")
        self.assertEqual(sorted(self.node_ids()), ["only", "start"], "the language switch lost the unsaved draft")
        self.assertEqual(self.dirty_state(), "1")
        self.assertEqual(self.text("#bld-dirty"), "Alterações não salvas")
        self.focus_canvas()
        self.keys(Keys.CONTROL, "z")
        self.wait_until(lambda _: sorted(self.node_ids()) == ["bye", "hello", "start"], "undo did not bring the previous canvas back")
        Select(self.el("#lang")).select_by_value("en")
        self.no_severe_logs()

    # ------------------------------------------------------------ viewers

    def test_viewer_gets_a_read_only_canvas(self):
        tid, email = self.tenant("viewer", role="viewer")
        flow = Env.admin.call("POST", self.flows_path(tid), {"name": "Read me", "definition": VALID})
        self.sign_in(email, hash_path=f"#/tenants/{tid}/flows")
        self.wait_css("#flows-list table", "the viewer's flows list did not load")
        self.assertEqual(self.els("[data-write]"), [], "write controls shown to a viewer on the list")
        self.open_builder(tid, flow["id"])
        self.assertEqual(self.els("[data-write]"), [], "write controls shown to a viewer in the builder")
        self.assertEqual(self.els("#bld-palette"), [], "a viewer sees the palette")
        self.assertEqual(self.els('.bld-tab[data-tab="simulator"]'), [], "a viewer sees the simulator (admins only)")
        # Selecting works, and shows a disabled form; dragging a node does not move it; panning does.
        self.click_node("hello")
        self.assertTrue(self.el('#bld-panel [data-field="text"] textarea').get_attribute("disabled") is not None)
        before = self.node_el("hello").get_attribute("transform")
        world = self.el("#bld-canvas .bld-world").get_attribute("transform")
        ActionChains(self.driver).click_and_hold(self.el('[data-node-id="hello"] .bld-node-title')).move_by_offset(40, 40).move_by_offset(40, 40).release().perform()
        self.assertEqual(self.node_el("hello").get_attribute("transform"), before, "a viewer moved a node")
        bg = self.el("#bld-canvas .bld-bg")
        ActionChains(self.driver).move_to_element_with_offset(bg, 0, 200).click_and_hold().move_by_offset(30, 20).move_by_offset(30, 20).release().perform()
        self.wait_until(lambda _: self.el("#bld-canvas .bld-world").get_attribute("transform") != world, "a viewer cannot pan")
        self.keys(Keys.DELETE)
        self.assertEqual(len(self.node_ids()), 3, "a viewer deleted a node")
        # Rubber-band selection (Shift+drag on the background) and wheel zoom work read-only too.
        ActionChains(self.driver).key_down(Keys.SHIFT).move_to_element_with_offset(bg, -300, -240).click_and_hold() \
            .move_by_offset(300, 240).move_by_offset(300, 240).release().key_up(Keys.SHIFT).perform()
        self.wait_until(lambda _: len(self.els("#bld-canvas .bld-node.is-selected")) == 3, "the rubber band did not select the nodes")
        zoom = self.el(".bld-zoom-label").text
        ActionChains(self.driver).scroll_from_origin(ScrollOrigin.from_element(bg), 0, -300).perform()
        self.wait_until(lambda _: self.el(".bld-zoom-label").text != zoom, "the wheel did not zoom")
        self.no_severe_logs()

    # ------------------------------------------------------------ benchmark

    def test_benchmark_200_nodes(self):
        tid, email = self.tenant("bench")
        api = self.api_as(email)
        nodes = [node("start", "start")]
        for i in range(1, 199):
            nodes.append(node(f"m{i}", "send_message", {"text": f"Message {i} for {{{{customer_name}}}}"}, (i % 20) * 260, (i // 20) * 110))
        nodes.append(node("end", "end", x=0, y=11 * 110))
        ids = [n["id"] for n in nodes]
        edges = [edge(a, b) for a, b in zip(ids, ids[1:])]
        flow = api.call("POST", self.flows_path(tid), {"name": "Big", "definition": {"nodes": nodes, "edges": edges}})
        self.assertEqual(flow["problems"], [])
        self.sign_in(email, hash_path=f"#/tenants/{tid}/flows")
        self.wait_css("#flows-list table")
        url = f"{self.base}/#/tenants/{tid}/flows/{flow['id']}"

        def interactive():
            """Waits for the ready mark, then clicks a node; returns (mark ms since navigation start, click-to-selected ms)."""
            self.wait_css(".bld-root[data-ready]", "the builder never became ready", visible=False)
            self.assertEqual(len(self.node_ids()), 200)
            self.driver.execute_script("""
                const g = document.querySelector('#bld-canvas [data-node-id="m2"]');
                window.__down = 0; window.__selected = 0;
                document.addEventListener("pointerdown", () => { window.__down = performance.now(); }, {capture: true, once: true});
                new MutationObserver((_, obs) => {
                  if (g.classList.contains("is-selected")) { window.__selected = performance.now(); obs.disconnect(); }
                }).observe(g, {attributes: true, attributeFilter: ["class"]});""")
            ActionChains(self.driver).move_to_element(self.el('[data-node-id="m2"] .bld-node-box')).click().perform()
            self.wait_until(lambda _: "is-selected" in self.node_el("m2").get_attribute("class"), "the 200-node canvas did not respond")
            return self.driver.execute_script("""
                const mark = performance.getEntriesByName("builder-interactive").pop();
                return [mark.startTime - (window.__navStart || 0), window.__selected - window.__down];""")

        # A full page load of the deep link (the session resumes from the cookie), from navigation start.
        self.driver.get("about:blank")
        self.driver.get(url)
        load_ms, click_ms = interactive()
        # And an in-app navigation from the flows list (a hash change), from the moment it starts.
        self.driver.execute_script("location.hash = arguments[0]", f"#/tenants/{tid}/flows")
        self.wait_css("#flows-list table")
        self.driver.execute_script("window.__navStart = performance.now(); location.hash = arguments[0];", f"#/tenants/{tid}/flows/{flow['id']}")
        self.wait_until(lambda d: d.execute_script("return performance.getEntriesByName('builder-interactive').length") >= 2, "no second mark")
        nav_ms, click2_ms = interactive()
        print(f"BENCH builder_200_nodes_interactive_ms {load_ms:.0f} ms (full page load of the deep link, session resume included; target < 1000)")
        print(f"BENCH builder_200_nodes_in_app_navigation_ms {nav_ms:.0f} ms (from the flows list; target < 1000)")
        print(f"BENCH builder_200_nodes_click_to_select_ms {max(click_ms, click2_ms):.0f} ms")
        # Figures only: speed targets are judged from these printed lines, never asserted (a loaded
        # CI machine must not fail the suite). What is asserted above is that all 200 nodes render
        # and respond.
        self.no_severe_logs()
