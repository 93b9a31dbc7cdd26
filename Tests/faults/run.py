#!/usr/bin/env python3
"""Fault tests: PyTake keeps its promises when PostgreSQL or a provider misbehaves.

    PYTAKE_BIN_DIR=.build/debug python3 Tests/faults/run.py

Starts its own throwaway PostgreSQL cluster (initdb/pg_ctl from PG_BIN_DIR or the newest
/usr/lib/postgresql/*/bin; as the `postgres` user when run as root), so it can stop and restart it,
and a real pytake-server against it, with a loopback fake of Meta's Graph API.

1. PostgreSQL stops for a few seconds while signed webhooks stream in: the server stays up, answers
   503 while the database is away (never hangs past its deadline), and every message it
   acknowledged with 200 is in the database afterwards.
2. The provider hangs: sends time out, the circuit breaker opens (503 circuit_open at once, the
   breaker gauge says so), nothing is marked sent; when the provider answers again the breaker lets
   a trial through after its cooldown and sends succeed.

Exit status 0 when every check passed.
"""

import json
import os
import socket
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import pytake_harness as harness  # noqa: E402  (Cluster, FakeService, PyTake, Api, signing helpers; no browser)

ROOT = harness.ROOT
PHONE_NUMBER_ID = "106540352242922"


def post(url, body, headers=None, timeout=30):
    req = urllib.request.Request(url, data=body, method="POST")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError) as err:
        return 0, str(err)


def metric(base, series):
    with urllib.request.urlopen(base + "/metrics", timeout=10) as res:
        for line in res.read().decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split(" ")[1])
    return 0.0


class Env:
    cluster = fake = pytake = admin = None
    tenant = None


def setUpModule():
    try:
        start()
    except BaseException:
        tearDownModule()  # unittest skips it when setUpModule fails: stop what did start
        raise


def start():
    Env.cluster = harness.Cluster(prefix="pytake-faults-pg-").init()
    database = Env.cluster.create_database("faults")
    Env.fake = harness.FakeService()
    bin_dir = os.environ.get("PYTAKE_BIN_DIR", os.path.join(ROOT, ".build", "debug"))
    Env.pytake = harness.PyTake(database, bin_dir, Env.fake, {
        "REQUEST_TIMEOUT_SECONDS": "3",
        "PROVIDER_TIMEOUT_SECONDS": "1",
        "PROVIDER_RETRY_ATTEMPTS": "1",
        "PROVIDER_BREAKER_THRESHOLD": "3",
        "PROVIDER_BREAKER_COOLDOWN_SECONDS": "2",
        "ENGINE_ENABLED": "false",
        "RATE_LIMIT_IP_PER_MINUTE": "0",
        "RATE_LIMIT_USER_PER_MINUTE": "0",
    })
    Env.pytake.cli("pytake-admin", "migrate")
    Env.pytake.cli("pytake-admin", "users", "create", "--email", harness.ADMIN_EMAIL, "--role", "platform_admin",
                   "--password-stdin", stdin=harness.ADMIN_PASSWORD + "\n")
    Env.pytake.start()
    Env.admin = harness.Api(Env.pytake.url, harness.ADMIN_EMAIL, harness.ADMIN_PASSWORD)
    Env.tenant = Env.admin.create_tenant("faults")
    Env.admin.call("POST", f"/api/v1/tenants/{Env.tenant['id']}/providers", {
        "provider_type": "meta", "name": "main", "token": "EAAG-faults-token", "config": {"phone_number_id": PHONE_NUMBER_ID},
    }, expect=201)


def tearDownModule():
    for thing in (Env.pytake, Env.fake):
        if thing:
            thing.stop()
    if Env.cluster:
        Env.cluster.destroy()


class FaultTests(unittest.TestCase):
    def test_database_restart_while_webhooks_stream_in(self):
        base = Env.pytake.url
        acknowledged, statuses = [], []
        stop = threading.Event()

        def stream():
            n = 0
            while not stop.is_set():
                n += 1
                wamid = f"wamid.fault.{n}.{time.time_ns()}"
                payload = harness.meta_text_message(PHONE_NUMBER_ID, f"55119{n % 7:08d}", "Fault", f"message {n}", message_id=wamid)
                body = json.dumps(payload).encode()
                started = time.time()
                status, _ = post(base + "/meta/webhook", body, {"Content-Type": "application/json",
                                                                "X-Hub-Signature-256": harness.sign_webhook(body)})
                statuses.append((status, time.time() - started))
                if status == 200:
                    acknowledged.append(wamid)
                time.sleep(0.02)

        worker = threading.Thread(target=stream)
        worker.start()
        time.sleep(2)
        Env.cluster.stop()
        time.sleep(4)  # the database is away: the server must answer, not hang
        Env.cluster.start()
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=5) as res:
                    if res.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.5)
        time.sleep(2)  # and messages flow again
        stop.set()
        worker.join()

        self.assertIsNone(Env.pytake.process.poll(), "pytake-server exited during the outage")
        codes = [s for s, _ in statuses]
        self.assertIn(503, codes, f"no 503 while the database was away: {sorted(set(codes))}")
        self.assertNotIn(0, codes, "a webhook got no answer (connection refused or hung)")
        self.assertTrue(set(codes) <= {200, 503}, f"unexpected statuses: {sorted(set(codes))}")
        slowest = max(t for _, t in statuses)
        # The deadline (3 s) bounds the wait; the margin is for a loaded machine, not a speed target.
        self.assertLess(slowest, 20, f"a webhook waited {slowest:.1f} s: the request deadline did not hold")
        after = [s for s, _ in statuses[-20:]]
        self.assertIn(200, after, "webhooks are not accepted again after the restart")
        stored = set(Env.pytake.psql("SELECT provider_message_id FROM chat_messages WHERE direction = 'inbound'").split())
        lost = [w for w in acknowledged if w not in stored]
        self.assertEqual(lost, [], f"{len(lost)} of {len(acknowledged)} acknowledged messages are not stored")
        print(f"BENCH faults_db_restart acknowledged={len(acknowledged)} refused_503={codes.count(503)} "
              f"slowest={slowest:.2f}s lost=0")

    def test_hanging_provider_opens_the_breaker_and_recovers(self):
        base = Env.pytake.url
        tid = Env.tenant["id"]
        messages_path = rf"/v\d+\.\d+/{PHONE_NUMBER_ID}/messages"

        def hang(_request):
            time.sleep(3)
            return 200, {"messages": [{"id": "wamid.too-late"}]}, {}

        Env.fake.route("POST", messages_path, hang)
        body = json.dumps(harness.meta_text_message(PHONE_NUMBER_ID, "5511988880000", "Breaker", "hello")).encode()
        status, _ = post(base + "/meta/webhook", body, {"Content-Type": "application/json", "X-Hub-Signature-256": harness.sign_webhook(body)})
        self.assertEqual(status, 200)
        conversation = next(c for c in Env.admin.call("GET", f"/api/v1/tenants/{tid}/conversations")["items"]
                            if c["customer"]["wa_id"] == "5511988880000")
        path = f"/api/v1/tenants/{tid}/conversations/{conversation['id']}/messages"
        outcomes = []
        for i in range(5):
            started = time.time()
            try:
                Env.admin.call("POST", path, {"text": f"reply {i}"})
                outcomes.append((201, None, time.time() - started))
            except harness.ApiError as err:
                outcomes.append((err.status, json.loads(err.body).get("code"), time.time() - started))
        codes = [c for _, c, _ in outcomes]
        self.assertEqual(codes[:3], ["provider_timeout"] * 3, f"outcomes: {outcomes}")
        self.assertEqual(codes[3:], ["circuit_open"] * 2, f"the breaker did not open: {outcomes}")
        self.assertEqual(metric(base, 'pytake_provider_breakers_open{provider="meta"}'), 1.0)
        sent = Env.pytake.psql(f"SELECT count(*) FROM chat_messages WHERE conversation_id = '{conversation['id']}' "
                               "AND direction = 'outbound' AND status IN ('sent', 'delivered', 'read')")
        self.assertEqual(sent, "0", "a message was marked sent although the provider never answered in time")

        # The provider recovers; after the cooldown one trial send closes the breaker.
        Env.fake.route("POST", messages_path, 200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.recovered"}]})
        time.sleep(2.2)
        reply = Env.admin.call("POST", path, {"text": "after recovery"})
        self.assertEqual(reply["status"], "sent", f"{reply}")
        self.assertEqual(metric(base, 'pytake_provider_breakers_open{provider="meta"}'), 0.0)
        print(f"BENCH faults_breaker timeouts=3 fast_refusals=2 open_refusal_ms={outcomes[-1][2] * 1000:.0f}")


if __name__ == "__main__":
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
