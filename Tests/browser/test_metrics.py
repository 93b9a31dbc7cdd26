#!/usr/bin/env python3
"""Metrics pages and job runs: customer messages delivered by Meta's webhook, counted by the
scheduler's metrics job, shown as totals and SVG charts (tenant page and platform overview), and
the job run listed on the job runs page, which refreshes itself. Run through run.py."""

import datetime
import json
import time
import uuid

from selenium.webdriver.common.action_chains import ActionChains
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

import harness
from harness import BrowserTest, Env, WAIT_SECONDS

DELIVERED = 3  # customer messages in the seeded tenant
CUSTOMERS = 2


def run_metrics_job():
    out = Env.pytake.cli("pytake-scheduler", "--once", "metrics")
    run = json.loads(out.strip().splitlines()[-1])
    assert run["status"] == "succeeded", run
    return run


class MetricsTest(BrowserTest):
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

    def go(self, hash_path):
        self.driver.execute_script("location.hash = arguments[0]", hash_path)

    def card(self, metric):
        return self.el(f"#view .mx-card[data-metric='{metric}'] .mx-card-value")

    def seed_activity(self):
        suffix = uuid.uuid4().hex[:8]
        tenant = Env.admin.create_tenant(f"mx-{suffix}", name=f"Metrics {suffix}", timezone="UTC")
        phone = "1065" + str(int(suffix, 16))[:10]
        Env.admin.call("POST", f"/api/v1/tenants/{tenant['id']}/providers", {
            "provider_type": "meta", "name": "Main number", "token": "EAAG-browser-metrics-token",
            "config": {"phone_number_id": phone}}, expect=201)
        customers = [(f"5511{int(suffix, 16) % 10**8:08d}{i}", f"Customer {i}") for i in range(CUSTOMERS)]
        for i in range(DELIVERED):
            wa_id, name = customers[i % CUSTOMERS]
            status = harness.post_webhook(Env.pytake.url, harness.meta_text_message(phone, wa_id, name, f"Hello {i}"))
            self.assertEqual(status, 200)
        return tenant

    def test_metrics_pages_and_job_runs(self):
        tenant = self.seed_activity()
        started = time.time()
        run = run_metrics_job()
        print(f"BENCH metrics_job_cli_seconds {time.time() - started:.2f} s")
        today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
        report = Env.admin.call("GET", f"/api/v1/tenants/{tenant['id']}/metrics/daily?from={today}&to={today}")
        self.assertEqual(report["totals"]["messages_in"], DELIVERED, f"the metrics job did not count the messages: {report}")

        # The tenant page: totals, the bars of today, the time zone and freshness, the table.
        self.sign_in(hash_path=f"#/tenants/{tenant['id']}/metrics")
        started = time.time()
        self.wait_until(lambda _: self.els("#view .mx-card[data-metric='messages_in']") and self.card("messages_in").text == str(DELIVERED),
                        "the messages-in total is not what was delivered")
        print(f"BENCH metrics_page_render_seconds {time.time() - started:.2f} s")
        self.assertEqual(self.card("conversations_started").text, str(report["totals"]["conversations_started"]))
        self.assertEqual(self.el("#view .mx-meta-zone").get_attribute("data-timezone"), "UTC")
        self.assertIn("UTC", self.el("#view .mx-meta-zone").text)
        self.assertTrue(self.el("#view .mx-meta-computed").get_attribute("data-computed-through"), "computed_through is not shown")
        self.assertEqual(self.el("#view .mx-meta-range").get_attribute("data-to"), today)
        self.assertEqual(self.el("#view .mx-meta-range").get_attribute("data-from"),
                         (datetime.date.fromisoformat(today) - datetime.timedelta(days=6)).isoformat(), "the default range is not the last 7 days")

        chart = "#view figure.mx-chart[data-chart='messages']"
        bar = self.el(f"{chart} rect.mx-bar[data-series='messages_in'][data-day='{today}']")
        self.assertEqual(bar.get_attribute("data-value"), str(DELIVERED))
        self.assertGreater(float(bar.get_attribute("height")), 20, "today's bar is not drawn to scale")
        self.assertEqual(len(self.els(f"{chart} rect.mx-bar[data-series='messages_in']")), 7, "one bar per day expected")
        empty_day = self.els(f"{chart} rect.mx-bar[data-series='messages_in'][data-value='0']")
        self.assertTrue(empty_day and float(empty_day[0].get_attribute("height")) == 0)
        svg = self.el(f"{chart} svg")
        self.assertEqual(svg.get_attribute("role"), "img")
        self.assertIn(f"Messages in: {DELIVERED}", svg.get_attribute("aria-label"))
        ticks = [t.text for t in self.els(f"{chart} .mx-tick-y")]
        self.assertIn("0", ticks)
        self.assertIn(str(DELIVERED), ticks, f"the value axis does not reach the data: {ticks}")

        # The tooltip follows the pointer over today's column.
        hit = self.els(f"{chart} rect.mx-hit")[-1]
        ActionChains(self.driver).move_to_element(hit).perform()
        tip = self.wait_css(f"{chart} .mx-tooltip", "no tooltip on hover")
        self.assertIn(str(DELIVERED), tip.text)
        self.assertIn("Messages in", tip.text)
        self.shot("metrics-tenant")
        ActionChains(self.driver).move_to_element(self.el("#view h1")).perform()

        # …and the arrow keys, from the day with data to the one before.
        self.driver.execute_script("arguments[0].focus()", svg)
        self.wait_until(lambda _: self.el(f"{chart} .mx-tooltip").is_displayed() and str(DELIVERED) in self.el(f"{chart} .mx-tooltip").text,
                        "focusing the chart does not show the last day with data")
        ActionChains(self.driver).send_keys(Keys.ARROW_LEFT).perform()
        yesterday = datetime.date.fromisoformat(today) - datetime.timedelta(days=1)
        self.wait_until(lambda _: yesterday.strftime("%B") in self.el(f"{chart} .mx-tooltip").text
                        and str(yesterday.day) in self.el(f"{chart} .mx-tooltip-day").text, "the left arrow does not move to the previous day")

        # The data table alternative.
        self.click(f"{chart} .mx-toggle")
        table = self.wait_css(f"{chart} table.mx-table", "the data table did not open")
        self.assertEqual(table.find_elements(By.CSS_SELECTOR, "tfoot td")[0].text, str(DELIVERED))
        self.assertFalse(self.el(f"{chart} .mx-plot").is_displayed(), "the chart stays visible with the table")
        self.click(f"{chart} .mx-toggle")
        self.wait_css(f"{chart} svg")

        # Another range: 30 days, one bar per day.
        self.click("#view .mx-seg[data-range='30']")
        self.wait_until(lambda _: len(self.els(f"{chart} rect.mx-bar[data-series='messages_in']")) == 30, "the 30-day range did not load")
        self.assertEqual(self.card("messages_in").text, str(DELIVERED))

        # A tenant without activity shows the empty state.
        quiet = Env.admin.create_tenant(f"mx-quiet-{uuid.uuid4().hex[:8]}", name="Quiet tenant")
        self.go(f"#/tenants/{quiet['id']}/metrics")
        self.wait_css("#view .mx-empty .empty", "no empty state for a tenant without activity")
        self.assertEqual(self.card("messages_in").text, "0")
        self.assertFalse(self.els("#view .mx-chart"), "charts are drawn without data")

        # The platform overview (platform_admin).
        self.go("#/overview")
        self.wait_until(lambda _: self.els("#view .mx-meta-tenants") and self.els("#view figure.mx-chart[data-chart='messages']"),
                        "the overview did not render")
        self.assertGreaterEqual(int(self.card("messages_in").get_attribute("data-value")), DELIVERED)
        self.assertGreaterEqual(int(self.el("#view .mx-meta-tenants").get_attribute("data-value")), 1)
        self.assertIn("with activity", self.el("#view .mx-meta-tenants").text)
        overview_bar = self.el(f"#view rect.mx-bar[data-series='messages_in'][data-day='{today}']")
        self.assertGreaterEqual(int(overview_bar.get_attribute("data-value")), DELIVERED)
        self.assertEqual(self.el("#view .mx-meta-zone").get_attribute("data-timezone"), "")
        self.assertEqual(len(self.els("#view figure.mx-chart[data-chart='first_response'] .mx-legend li")), 1, "the overview has no median")
        self.shot("metrics-overview")

        # Job runs: the run triggered above, succeeded; filters; auto-refresh picks up a new run.
        self.go("#/jobs")
        row = f"#view tr[data-run-id='{run['run_id']}']"
        self.wait_css(row, "the metrics run is not listed")
        self.assertEqual(self.el(row).get_attribute("data-status"), "succeeded")
        self.assertEqual(self.el(row).get_attribute("data-job"), "metrics")
        self.assertIn("Succeeded", self.el(row).text)
        self.assertIn("Manual", self.el(row).text)
        Select(self.el("#view select[name='job']")).select_by_value("metrics")
        self.wait_until(lambda _: self.els(row) and all(r.get_attribute("data-job") == "metrics" for r in self.els("#view tbody tr")),
                        "the job filter did not apply")
        Select(self.el("#view select[name='status']")).select_by_value("failed")
        self.wait_until(lambda _: not self.els(row), "the status filter did not apply")
        Select(self.el("#view select[name='status']")).select_by_value("")
        self.wait_css(row)
        second = run_metrics_job()
        self.wait_css(f"#view tr[data-run-id='{second['run_id']}'][data-status='succeeded']",
                      "the job runs page did not refresh itself", timeout=15)
        self.shot("jobs")
        self.assertEqual(self.severe_logs(allowed=("Failed to load resource",)), [])
