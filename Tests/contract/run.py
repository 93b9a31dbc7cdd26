#!/usr/bin/env python3
"""Contract tests: the running server against openapi.yaml, and a client generated from it.

    PYTAKE_BIN_DIR=.build/debug PYTAKE_CONTRACT_DATABASE_URL=postgres://… python3 Tests/contract/run.py

1. Starts the `pytake-server` binary (from PYTAKE_BIN_DIR, default .build/debug) on a free port,
   with a loopback fake of the WhatsApp providers' APIs, and seeds what the fuzzer needs: a
   tenant with users, providers, flows and conversations, so the ids in paths are real
   (`schemathesis.toml` names them through environment variables).
2. Runs schemathesis against the live server with `--checks all`, a fixed seed and a bounded
   number of examples, authenticated as a platform admin: the examples, coverage and fuzzing
   phases with the seeded ids pinned, then the stateful phase (chains of calls through the spec's
   links) without them. Any failure fails the run.
3. Generates a Python client with `openapi-python-client generate --fail-on-warning`, imports it,
   and drives a scenario through it: sign in, create a tenant and a provider, resolve
   credentials, create and publish a flow, read daily metrics.

PYTAKE_CONTRACT_DATABASE_URL names an existing, migrated, empty database (the Swift driver
`ContractTests` makes one from the migrated template). Without it, PYTAKE_CONTRACT_SERVER_URL (a
superuser URL of any PostgreSQL server) gets a fresh database `pytake_contract_<pid>`, migrated
with pytake-admin and dropped afterwards.

schemathesis and openapi-python-client are looked up next to this Python interpreter, then on
PATH. Optional: PYTAKE_CONTRACT_SEED (default 42), PYTAKE_CONTRACT_MAX_EXAMPLES (per operation,
default 10), PYTAKE_CONTRACT_STATEFUL_SCENARIOS (default 100), PYTAKE_CONTRACT_SKIP_FUZZ=1 /
PYTAKE_CONTRACT_SKIP_CLIENT=1 to run only one half. The server log, JUnit reports and the
generated client stay in a temporary directory when something failed (its path is printed).
Exit status 0 only when both halves pass.
"""

import base64
import datetime
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import pytake_harness as harness  # noqa: E402  (PyTake, FakeService, Api, signing helpers)

ROOT = harness.ROOT
SPEC = os.path.join(ROOT, "openapi.yaml")
JWT_SECRET = "contract-test-secret-0123456789-abcdefghijklmnop"
ENCRYPTION_KEY = base64.b64encode(b"contract-test-encryption-key-32b").decode()
META_APP_SECRET = "contract-test-app-secret"
ADMIN_EMAIL = "root@contract.test"
ADMIN_PASSWORD = "correct horse battery staple"
PHONE_NUMBER_ID = "106540352242922"


def log(message):
    print(f"[contract] {message}", flush=True)


def tool(name):
    """An executable installed with this interpreter (a virtual environment), else from PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if not found:
        sys.exit(f"{name} is not installed: pip install schemathesis openapi-python-client")
    return found


# ---------------------------------------------------------------------------- fake providers


def fake_providers():
    """Meta's Graph API, Uazapi and LancePilot on loopback: every send succeeds with a message id,
    in whichever shape the sender reads (Meta `messages[0].id`, Uazapi `messageid`, LancePilot
    `data.id`). Nothing a fuzzed request triggers leaves the machine through the seeded providers."""
    fake = harness.FakeService()
    counter = {"n": 0}
    lock = threading.Lock()

    def answer(_request):
        with lock:
            counter["n"] += 1
            n = counter["n"]
        return 200, {
            "messaging_product": "whatsapp",
            "messages": [{"id": f"wamid.contract.{n}"}],
            "messageid": f"uazapi-{n}",
            "data": {"id": f"lancepilot-{n}"},
            "success": True,
        }, {}

    fake.route("*", r".*", answer)
    return fake


# ---------------------------------------------------------------------------- the server


def server_env(fake):
    """pytake-server's configuration for the fuzzer (instead of the browser tests' default_env)."""
    return {
        "JWT_SECRET": JWT_SECRET,
        "PYTAKE_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "LOG_LEVEL": "warning",
        # The fuzzer sends thousands of requests from one address and one user.
        "RATE_LIMIT_IP_PER_MINUTE": "0",
        "RATE_LIMIT_USER_PER_MINUTE": "0",
        "LOGIN_MAX_FAILURES_PER_IP": "10000",
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": "10000",
        "ACCESS_TOKEN_TTL_SECONDS": "3600",
        # Embedded Signup configured, so its operations run their checks instead of 503.
        "META_APP_ID": "1234567890",
        "META_CONFIG_ID": "987654321",
        "META_APP_SECRET": META_APP_SECRET,
        "META_VERIFY_TOKEN": "contract-verify-token",
        "META_GRAPH_URL": fake.url,
        "LANCEPILOT_API_URL": fake.url + "/lancepilot",
        "PROVIDER_ALLOW_PRIVATE_NETWORKS": "true",
        "PROVIDER_RETRY_ATTEMPTS": "1",
        "PROVIDER_TIMEOUT_SECONDS": "3",
        "SESSION_RECHECK_SECONDS": "0",
        "METRICS_CACHE_SECONDS": "0",
        "SCHEDULER_IN_SERVER": "false",
        # Conversations stay as seeded: no bot turns race the fuzzer.
        "ENGINE_ENABLED": "false",
    }


class Api(harness.Api):
    """Just enough HTTP to seed the database before the fuzzer and the generated client run."""

    def call(self, method, path, body=None, headers=None):
        try:
            return super().call(method, path, body, headers)
        except harness.ApiError as err:
            raise RuntimeError(f"seeding: {method} {path} answered {err.status}: {err.body}") from None


def post_webhook(base_url, phone_number_id, wa_id, name, text):
    """A customer's message, signed with the app secret as Meta signs it."""
    payload = harness.meta_text_message(phone_number_id, wa_id, name, text, message_id=f"wamid.seed.{wa_id}.{time.time_ns()}")
    body = json.dumps(payload).encode()
    req = urllib.request.Request(base_url + "/meta/webhook", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("X-Hub-Signature-256", harness.sign_webhook(body, META_APP_SECRET))
    with urllib.request.urlopen(req, timeout=30) as res:
        receipt = json.loads(res.read())
    if receipt.get("stored") != 1:
        raise RuntimeError(f"seeding: the webhook stored nothing: {receipt}")


WELCOME_FLOW = {
    "nodes": [
        {"id": "start", "type": "start", "config": {}, "position": {"x": 0, "y": 0}},
        {"id": "hello", "type": "send_message", "config": {"text": "Hello {{customer_name}}!"}, "position": {"x": 200, "y": 0}},
        {"id": "bye", "type": "end", "config": {}, "position": {"x": 400, "y": 0}},
    ],
    "edges": [{"from": "start", "outcome": "next", "to": "hello"}, {"from": "hello", "outcome": "next", "to": "bye"}],
}


def seed(server, fake):
    """What the fuzzer's path parameters point at. Destructive operations get their own victims,
    so the main tenant, provider, flow and conversation stay usable for every other operation."""
    admin = Api(server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
    tenant = admin.call("POST", "/api/v1/tenants", {"name": "Contract", "slug": "contract", "timezone": "America/Sao_Paulo"})["id"]
    spare_tenant = admin.call("POST", "/api/v1/tenants", {"name": "Contract spare", "slug": "contract-spare"})["id"]
    users = f"/api/v1/tenants/{tenant}/users"
    agent = admin.call("POST", users, {"email": "agent@contract.test", "password": ADMIN_PASSWORD, "role": "agent"})["id"]
    spare_user = admin.call("POST", users, {"email": "spare@contract.test", "password": ADMIN_PASSWORD, "role": "viewer"})["id"]
    # The session logout may end (it signs its user out everywhere): not the fuzzer's own.
    admin.call("POST", users, {"email": "leaving@contract.test", "password": ADMIN_PASSWORD, "role": "tenant_admin"})
    logout_token = Api(server.url, "leaving@contract.test", ADMIN_PASSWORD).token

    providers = f"/api/v1/tenants/{tenant}/providers"
    meta = admin.call("POST", providers, {"provider_type": "meta", "name": "Main number", "priority": 10, "token": "EAAG-contract-token-1234",
                                          "config": {"phone_number_id": PHONE_NUMBER_ID, "waba_id": "102290129340398"}})["id"]
    admin.call("POST", providers, {"provider_type": "uazapi", "name": "Uazapi line", "api_url": fake.url + "/uazapi",
                                   "token": "uazapi-contract-token", "config": {"instance": "sales"}})
    admin.call("POST", providers, {"provider_type": "lancepilot", "name": "LancePilot line", "token": "lancepilot-contract-token",
                                   "config": {"workspace_id": "contract-ws"}})
    spare_provider = admin.call("POST", providers, {"provider_type": "lancepilot", "name": "Spare line", "active": False,
                                                    "token": "spare-contract-token", "config": {"workspace_id": "spare-ws"}})["id"]
    # Updates would point the main number at made-up hosts; they get a meta provider of their own.
    edited_provider = admin.call("POST", providers, {"provider_type": "meta", "name": "Edited number", "active": False,
                                                     "token": "EAAG-edited-token-5678", "config": {"phone_number_id": "106540352242923"}})["id"]

    flows = f"/api/v1/tenants/{tenant}/flows"
    flow = admin.call("POST", flows, {"name": "Welcome", "trigger": {"type": "default"}, "definition": WELCOME_FLOW})["id"]
    admin.call("POST", f"{flows}/{flow}/publish")
    spare_flow = admin.call("POST", flows, {"name": "Spare", "definition": WELCOME_FLOW})["id"]

    for wa_id, name in (("5511900000001", "Ana"), ("5511900000002", "Bruno"), ("5511900000003", "Carla")):
        post_webhook(server.url, PHONE_NUMBER_ID, wa_id, name, "Oi")
    conversations = {c["customer"]["wa_id"]: c for c in admin.call("GET", f"/api/v1/tenants/{tenant}/conversations")["items"]}
    if len(conversations) != 3:
        raise RuntimeError(f"seeding: expected 3 conversations, found {len(conversations)}")

    # One metrics run, so job runs and daily figures have rows to list.
    server.cli("pytake-scheduler", "--once", "metrics", timeout=180)

    return {
        "PYTAKE_CONTRACT_TOKEN": admin.token,
        "PYTAKE_CONTRACT_LOGOUT_TOKEN": logout_token,
        "PYTAKE_CONTRACT_TENANT": tenant,
        "PYTAKE_CONTRACT_SPARE_TENANT": spare_tenant,
        "PYTAKE_CONTRACT_USER": agent,
        "PYTAKE_CONTRACT_SPARE_USER": spare_user,
        "PYTAKE_CONTRACT_PROVIDER": meta,
        "PYTAKE_CONTRACT_SPARE_PROVIDER": spare_provider,
        "PYTAKE_CONTRACT_EDITED_PROVIDER": edited_provider,
        "PYTAKE_CONTRACT_FLOW": flow,
        "PYTAKE_CONTRACT_SPARE_FLOW": spare_flow,
        "PYTAKE_CONTRACT_CONVERSATION": conversations["5511900000001"]["id"],
        "PYTAKE_CONTRACT_CLOSE_CONVERSATION": conversations["5511900000002"]["id"],
        "PYTAKE_CONTRACT_CUSTOMER": conversations["5511900000003"]["customer"]["id"],
    }


# ---------------------------------------------------------------------------- 2. fuzzing


PIN_MARKER = "# ---- pinned ids:"


def fuzz(server, seeded, workdir):
    """The examples, coverage and fuzzing phases with the seeded ids pinned, then the stateful
    phase (chains of calls following the spec's links) without pins: see schemathesis.toml."""
    seed_value = os.environ.get("PYTAKE_CONTRACT_SEED", "42")
    max_examples = os.environ.get("PYTAKE_CONTRACT_MAX_EXAMPLES", "10")
    # A stateful "example" is a whole scenario of several calls.
    scenarios = os.environ.get("PYTAKE_CONTRACT_STATEFUL_SCENARIOS", "100")
    config = os.path.join(HERE, "schemathesis.toml")
    with open(config) as f:
        text = f.read()
    if PIN_MARKER not in text:
        raise RuntimeError(f"{config} lost its '{PIN_MARKER}' line")
    unpinned = os.path.join(workdir, "schemathesis-stateful.toml")
    with open(unpinned, "w") as f:
        f.write(text[:text.index(PIN_MARKER)])
    env = dict(os.environ, **seeded, NO_COLOR="1")
    ok = True
    for label, config_file, phases, examples in (("generated requests", config, "examples,coverage,fuzzing", max_examples),
                                                 ("stateful sequences", unpinned, "stateful", scenarios)):
        command = [
            tool("schemathesis"), "--config-file", config_file, "run", SPEC, "--url", server.url, "--checks", "all",
            "--phases", phases, "--seed", seed_value, "--max-examples", examples,
            "--report", "junit", "--report-junit-path", os.path.join(workdir, f"junit-{phases.split(',')[0]}.xml"),
        ]
        log(f"schemathesis ({label}: {phases}), seed {seed_value}, --max-examples {examples}")
        started = time.time()
        result = subprocess.run(command, env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(result.stdout, flush=True)
        log(f"schemathesis ({label}) exited {result.returncode} after {time.time() - started:.0f} s")
        ok = ok and result.returncode == 0
    return ok


# ---------------------------------------------------------------------------- 3. generated client


def generate_client(workdir):
    out = os.path.join(workdir, "client")
    config = os.path.join(workdir, "client-config.yaml")
    with open(config, "w") as f:
        # No formatter run afterwards: the client is imported, not read.
        f.write("post_hooks: []\npackage_name_override: pytake_client\nproject_name_override: pytake-client\n")
    result = subprocess.run([tool("openapi-python-client"), "generate", "--path", SPEC, "--fail-on-warning",
                             "--config", config, "--output-path", out],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(result.stdout, flush=True)
    if result.returncode != 0:
        raise AssertionError(f"openapi-python-client exited {result.returncode}")
    sys.path.insert(0, out)
    return importlib.import_module("pytake_client")


def expect(response, status, what):
    if response.status_code != status:
        raise AssertionError(f"{what}: expected {status}, got {int(response.status_code)}: {response.content[:500]!r}")
    log(f"  ok: {what} ({status})")
    return response.parsed


def scenario(server, fake):
    client_package = generate_client(tempfile.mkdtemp(prefix="client-", dir=os.environ.get("PYTAKE_CONTRACT_WORKDIR")))
    from pytake_client import AuthenticatedClient, Client
    from pytake_client.api.auth import get_me, login
    from pytake_client.api.flows import create_flow, publish_flow, validate_flow
    from pytake_client.api.metrics import get_daily_metrics
    from pytake_client.api.providers import create_provider, resolve_credentials
    from pytake_client.api.tenants import create_tenant
    from pytake_client import models as m
    from pytake_client.types import UNSET

    log(f"scenario through the generated client ({client_package.__name__})")
    anonymous = Client(base_url=server.url, raise_on_unexpected_status=True)
    pair = expect(login.sync_detailed(client=anonymous, body=m.LoginRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)),
                  200, "sign in")
    assert isinstance(pair, m.TokenPair) and pair.token_type == m.TokenPairTokenType.BEARER and pair.expires_in > 0, pair
    api = AuthenticatedClient(base_url=server.url, token=pair.access_token, raise_on_unexpected_status=True)

    me = expect(get_me.sync_detailed(client=api), 200, "who am I")
    assert me.email == ADMIN_EMAIL and me.role == m.Role.PLATFORM_ADMIN, me

    tenant = expect(create_tenant.sync_detailed(client=api, body=m.TenantCreate(
        name="Scenario", slug="scenario", timezone=m.TimeZoneName("Europe/Lisbon"))), 201, "create a tenant")
    assert tenant.slug == "scenario" and tenant.timezone == "Europe/Lisbon" and tenant.status == m.TenantStatus.ACTIVE, tenant

    provider = expect(create_provider.sync_detailed(tenant.id, client=api, body=m.ProviderCreate(
        provider_type=m.WhatsAppProvider.META, name="Scenario number", token="EAAG-scenario-token-9876", priority=5,
        config=m.ProviderConfigInput(phone_number_id="109000000000001", display_phone_number="+55 11 90000-0001"))),
        201, "create a provider")
    assert provider.provider_type == m.WhatsAppProvider.META and provider.active and provider.priority == 5, provider
    assert provider.token_masked == "••••9876", provider.token_masked
    assert provider.config.phone_number_id == "109000000000001", provider.config

    credentials = expect(resolve_credentials.sync_detailed(tenant.id, m.WhatsAppProvider.META, client=api), 200, "resolve credentials")
    assert str(credentials.provider_id) == str(provider.id) and credentials.token_masked == "••••9876", credentials
    # Without its own api_url a meta provider sends to META_GRAPH_URL (here the fake).
    assert credentials.api_url == fake.url and credentials.source.token == "client_providers" and not credentials.mixed, credentials
    missing = expect(resolve_credentials.sync_detailed(tenant.id, m.WhatsAppProvider.LANCEPILOT, client=api), 404,
                     "resolve credentials of a type the tenant lacks")
    assert isinstance(missing, m.Problem) and missing.code == "no_credentials", missing

    definition = m.FlowDefinition.from_dict(WELCOME_FLOW)
    flow = expect(create_flow.sync_detailed(tenant.id, client=api, body=m.FlowCreate(
        name="Welcome", trigger=m.FlowTrigger(type_=m.FlowTriggerType.DEFAULT), definition=definition)), 201, "create a flow")
    assert flow.problems == [] and flow.published_version in (None, UNSET) and len(flow.definition.nodes) == 3, flow
    validation = expect(validate_flow.sync_detailed(tenant.id, flow.id, client=api), 200, "validate the flow")
    assert validation.valid and validation.problems == [], validation
    version = expect(publish_flow.sync_detailed(tenant.id, flow.id, client=api), 201, "publish the flow")
    assert version.version == 1 and str(version.flow_id) == str(flow.id) and str(version.published_by) == str(me.id), version

    today = datetime.date.today()
    first = today - datetime.timedelta(days=6)
    report = expect(get_daily_metrics.sync_detailed(tenant.id, client=api, from_=first, to=today), 200, "read daily metrics")
    assert report.from_ == first and report.to == today and len(report.days) == 7, report
    assert report.timezone == "Europe/Lisbon" and report.totals.messages_in == 0, report
    assert all(day.conversations_started == 0 for day in report.days), report.days
    log("scenario passed")


# ---------------------------------------------------------------------------- main


def main():
    bin_dir = os.path.abspath(os.environ.get("PYTAKE_BIN_DIR", os.path.join(ROOT, ".build", "debug")))
    database_url = os.environ.get("PYTAKE_CONTRACT_DATABASE_URL", "").strip()
    created = None
    if not database_url:
        server_url = os.environ.get("PYTAKE_CONTRACT_SERVER_URL", "").strip()
        if not server_url:
            sys.exit("set PYTAKE_CONTRACT_DATABASE_URL (a migrated, empty database) or PYTAKE_CONTRACT_SERVER_URL (see run.py)")
        name = f"pytake_contract_{os.getpid()}"
        subprocess.run(["psql", "-qAt", server_url, "-c", f"CREATE DATABASE {name}"], check=True)
        database_url = harness.with_database(server_url, name)
        created = (server_url, name)

    workdir = tempfile.mkdtemp(prefix="pytake-contract-")
    os.environ["PYTAKE_CONTRACT_WORKDIR"] = workdir
    fake = fake_providers()
    server = harness.PyTake(database_url, bin_dir, fake, base_env=server_env(fake), log_path=os.path.join(workdir, "server.log"))
    started = time.time()
    fuzz_ok = client_ok = True
    try:
        if created:
            log(f"migrating {created[1]}")
            server.cli("pytake-admin", "migrate", timeout=180)
        server.cli("pytake-admin", "users", "create", "--email", ADMIN_EMAIL, "--role", "platform_admin", "--password-stdin",
                   stdin=ADMIN_PASSWORD + "\n", timeout=180)
        server.start()
        log(f"pytake-server ready at {server.url} (log: {server.log_path})")
        seeded = seed(server, fake)
        log(f"seeded tenant {seeded['PYTAKE_CONTRACT_TENANT']} with users, providers, flows and conversations")

        if os.environ.get("PYTAKE_CONTRACT_SKIP_FUZZ") != "1":
            fuzz_ok = fuzz(server, seeded, workdir)
        if os.environ.get("PYTAKE_CONTRACT_SKIP_CLIENT") != "1":
            try:
                scenario(server, fake)
            except Exception as error:  # noqa: BLE001 - reported, then the run fails
                traceback.print_exc(file=sys.stdout)
                log(f"scenario FAILED: {error}")
                client_ok = False
        if not (fuzz_ok and client_ok):
            print("server log (tail):\n" + server.log(6000), flush=True)
    except BaseException:
        fuzz_ok = client_ok = False
        raise
    finally:
        server.stop()
        fake.stop()
        if created:
            server_url, name = created
            subprocess.run(["psql", "-qAt", server_url, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)
        if fuzz_ok and client_ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"logs, reports and the generated client: {workdir}")
    log(f"fuzzing {'passed' if fuzz_ok else 'FAILED'}, generated client {'passed' if client_ok else 'FAILED'} "
        f"({time.time() - started:.0f} s)")
    return 0 if fuzz_ok and client_ok else 1


if __name__ == "__main__":
    sys.exit(main())
