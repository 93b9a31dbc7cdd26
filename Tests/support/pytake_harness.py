"""What PyTake's process-level tests share (browser, fault, contract and scale-out tests): a
throwaway PostgreSQL cluster, the database role the processes connect as, real pytake-server /
pytake-scheduler / pytake-admin processes, a loopback fake of Meta's Graph API (and of the other
outside services), a small API client, and signed Meta webhooks.

No browser here (and no selenium import): Tests/browser/harness.py adds the browser on top.

Environment:
    PYTAKE_BIN_DIR         directory holding pytake-server, pytake-admin, pytake-scheduler (read by the runners)
    PYTAKE_SCREENSHOT_DIR  where server logs go, beside the browser tests' screenshots
                           (default .build/browser-screenshots)
    PG_BIN_DIR             where initdb/pg_ctl live (default: the newest /usr/lib/postgresql/*/bin)
"""

import base64
import faulthandler
import glob
import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
JWT_SECRET = "browser-test-secret-0123456789-abcdefghijklmnop"
ENCRYPTION_KEY = base64.b64encode(b"browser-tests-encryption-key-32b").decode()
META_APP_SECRET = "browser-test-app-secret"
META_APP_ID = "1234567890"
META_CONFIG_ID = "987654321"
ADMIN_EMAIL = "root@pytake.test"
ADMIN_PASSWORD = "correct horse battery staple"
# Server logs go beside the browser tests' screenshots (one directory to collect after a CI run).
LOG_DIR = os.environ.get("PYTAKE_SCREENSHOT_DIR", os.path.join(ROOT, ".build", "browser-screenshots"))
# The NOLOGIN group role `pytake-admin migrate` grants the application's privileges to, and the
# LOGIN role in it that the test processes connect as (see app_database_url).
APP_GROUP_ROLE = "pytake_app"
APP_LOGIN_ROLE = "pytake_login"


def _stopped_from_outside(signum, frame):
    """SIGTERM (the Swift driver's time limit): show where every thread is, stop what this run
    started (throwaway clusters, which pg_ctl detaches, and every descendant process: servers,
    nginx, browsers) and exit 124. Exiting here rather than unwinding: a test's worker threads
    and unittest's handling of exceptions could keep the interpreter alive."""
    print(f"\n---- stopped from outside (signal {signum}); every thread's stack:", file=sys.stderr, flush=True)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    for cluster in list(_LIVE_CLUSTERS):
        try:
            cluster.run("pg_ctl", "-D", cluster.data, "-m", "immediate", "-w", "stop", check=False)
            shutil.rmtree(cluster.dir, ignore_errors=True)
        except Exception as err:  # noqa: BLE001 - best effort on the way out
            print(f"could not stop the cluster in {cluster.dir}: {err}", file=sys.stderr)
    descendants = _descendants(os.getpid())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in descendants:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.time() + 5
        while sig == signal.SIGTERM and time.time() < deadline and any(os.path.exists(f"/proc/{p}") for p in descendants):
            time.sleep(0.1)
    sys.stderr.flush()
    os._exit(124)


def _descendants(root):
    """Every process below `root` (from /proc), children first listed before their own children."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent:
                found.append(pid)
                frontier.append(pid)
    return found


_LIVE_CLUSTERS = []
if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _stopped_from_outside)


def require_env(name):
    value = os.environ.get(name, "").strip()
    if not value:
        sys.exit(f"environment variable {name} is required (see {sys.argv[0]})")
    return value


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- PostgreSQL


def psql(url, sql, timeout=60):
    """Runs SQL as the URL's user (fixtures, checks, role set-up); returns the unaligned output."""
    result = subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-qAt", url, "-c", sql], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"psql failed: {result.stderr}")
    return result.stdout.strip()


def with_database(url, name):
    """The same server URL naming another database (query string kept)."""
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (("?" + query) if query else "")


def app_database_url(superuser_url):
    """The URL pytake-server and pytake-scheduler connect with, given the superuser URL of a migrated
    database.

    The processes refuse to connect as a superuser or a BYPASSRLS role (row-level security). When the
    migrations created the group role `pytake_app`, this makes sure a LOGIN role `pytake_login` in it
    exists (roles are cluster-wide and test runs share clusters, so creating it is idempotent and
    safe against a concurrent run) and returns the URL with that user. The role gets the superuser
    URL's password when it has one (the Swift tests' cluster uses scram-sha-256; throwaway clusters
    trust loopback). Before the migrations create `pytake_app`, the superuser URL is returned as is.
    """
    if psql(superuser_url, f"SELECT 1 FROM pg_roles WHERE rolname = '{APP_GROUP_ROLE}'") != "1":
        return superuser_url
    parts = urllib.parse.urlsplit(superuser_url)
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    secret = "" if password is None else " PASSWORD '" + password.replace("'", "''") + "'"
    # Two runs may create it at once: one wins, the other sees duplicate_object (or, in the race
    # inside the catalog, unique_violation) and uses the winner's role.
    psql(superuser_url, f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_LOGIN_ROLE}') THEN
                CREATE ROLE {APP_LOGIN_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS{secret} IN ROLE {APP_GROUP_ROLE};
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$""")
    # A role left from before the group existed (or a group re-created since) gets the membership.
    psql(superuser_url, f"""
        DO $$ BEGIN
            IF NOT pg_has_role('{APP_LOGIN_ROLE}', '{APP_GROUP_ROLE}', 'MEMBER') THEN
                GRANT {APP_GROUP_ROLE} TO {APP_LOGIN_ROLE};
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$""")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = urllib.parse.quote(APP_LOGIN_ROLE)
    if parts.password is not None:
        netloc += ":" + parts.password
    netloc += "@" + host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def pg_bin():
    if os.environ.get("PG_BIN_DIR"):
        return os.environ["PG_BIN_DIR"]
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    if not dirs:
        sys.exit("PostgreSQL server binaries not found (set PG_BIN_DIR)")
    return dirs[-1]


class Cluster:
    """A throwaway PostgreSQL cluster (trust on loopback) a test may stop and start. As root,
    initdb/pg_ctl run as the `postgres` user."""

    def __init__(self, prefix="pytake-pg-", max_connections=None):
        self.port = free_port()
        self.root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix=prefix)
        if self.root:
            shutil.chown(self.dir, "postgres")
        self.data = os.path.join(self.dir, "data")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.max_connections = max_connections

    def run(self, *args, check=True):
        cmd = [os.path.join(pg_bin(), args[0]), *args[1:]]
        if self.root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, cwd=self.dir, timeout=120)

    def init(self):
        self.run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        return self.start()

    def start(self):
        if self not in _LIVE_CLUSTERS:
            _LIVE_CLUSTERS.append(self)
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        if self.max_connections:
            options += f" -c max_connections={self.max_connections}"
        self.run("pg_ctl", "-D", self.data, "-w", "-l", os.path.join(self.dir, "log"), "-o", options, "start")
        return self

    def stop(self):
        self.run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)

    def create_database(self, name):
        """Creates a database; returns its superuser URL."""
        subprocess.run(["psql", "-qAt", self.url, "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
        return with_database(self.url, name)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in _LIVE_CLUSTERS:
            _LIVE_CLUSTERS.remove(self)


# ---------------------------------------------------------------------------- fake outside services


class FakeService:
    """A loopback HTTP server answering from a route table; it records every request.

    fake.route("GET", r"/v22.0/debug_token", 200, {...})      fixed JSON answer
    fake.route("POST", r"/v22.0/\\d+/messages", handler)      handler(request) -> (status, body, headers)
    fake.route("*", r".*", handler)                           any method, any path
    fake.file("/sdk.js", text, "text/javascript")
    Later routes win over earlier ones with the same method and pattern.
    """

    def __init__(self):
        self.routes = []
        self.requests = []
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                req = {"method": self.command, "path": path, "query": query, "headers": dict(self.headers), "body": body}
                try:
                    req["json"] = json.loads(body) if body else None
                except ValueError:
                    req["json"] = None
                with fake.lock:
                    fake.requests.append(req)
                    routes = list(reversed(fake.routes))
                for method, pattern, answer in routes:
                    if method in (self.command, "*") and re.fullmatch(pattern, path):
                        status, payload, headers = answer(req) if callable(answer) else answer
                        break
                else:
                    status, payload, headers = 404, {"error": {"message": f"fake: no route for {self.command} {path}", "code": 803}}, {}
                data = payload if isinstance(payload, bytes) else (payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
                self.send_response(status)
                headers = dict(headers or {})
                headers.setdefault("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (timeouts are what some tests provoke)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, method, pattern, status_or_handler, body=None, headers=None):
        answer = status_or_handler if callable(status_or_handler) else (status_or_handler, body if body is not None else {}, headers or {})
        with self.lock:
            self.routes.append((method, pattern, answer))

    def file(self, path, text, content_type):
        self.route("GET", re.escape(path), 200, text, {"Content-Type": content_type})

    def requests_to(self, pattern, method=None):
        with self.lock:
            return [r for r in self.requests if re.fullmatch(pattern, r["path"]) and (method is None or r["method"] == method)]

    def stop(self):
        self.server.shutdown()


# ---------------------------------------------------------------------------- PyTake processes


def default_env(fake):
    """The configuration the browser and fault tests run pytake-server with, the fake standing in
    for Meta and LancePilot (per-test overrides go in PyTake's extra_env)."""
    return {
        "JWT_SECRET": JWT_SECRET,
        "PYTAKE_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "LOG_LEVEL": "warning",
        "META_APP_ID": META_APP_ID,
        "META_APP_SECRET": META_APP_SECRET,
        "META_CONFIG_ID": META_CONFIG_ID,
        "META_VERIFY_TOKEN": "browser-verify-token",
        "META_GRAPH_URL": fake.url,
        "META_SDK_URL": fake.url + "/sdk.js",
        "LANCEPILOT_API_URL": fake.url + "/lancepilot",
        "PROVIDER_ALLOW_PRIVATE_NETWORKS": "true",
        "MODULE_ALLOW_PRIVATE_NETWORKS": "true",
        "PROVIDER_RETRY_ATTEMPTS": "1",
        "SESSION_RECHECK_SECONDS": "0",
        "METRICS_CACHE_SECONDS": "0",
        "SCHEDULER_IN_SERVER": "false",
        "LOGIN_MAX_FAILURES_PER_IP": "1000",
        # Every test talks from 127.0.0.1; the limits stay on, far above what a test does.
        "RATE_LIMIT_IP_PER_MINUTE": "100000",
        "RATE_LIMIT_IP_BURST": "10000",
        "ENGINE_POLL_MS": "50",
    }


def wait_ready(url, process, name, log, timeout=60):
    """Polls `url` until it answers 200; fails with `log()` when `process` exits or time runs out."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; log:\n{log()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as res:
                if res.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not become ready; log:\n{log()}")


class PyTake:
    """pytake-server (and its CLIs) on a test database, with the fake as Meta/LancePilot.

    `database_url` is the superuser URL: pytake-admin and psql fixtures use it; pytake-server and
    pytake-scheduler connect through app_database_url (the application role, once the migrations
    made it). `base_env` replaces default_env(fake); `extra_env` is laid over it. The server's
    output goes to `log_path` (default LOG_DIR/server-PORT.log).
    """

    def __init__(self, database_url, bin_dir, fake, extra_env=None, base_env=None, log_path=None):
        self.database_url = database_url
        self.bin_dir = bin_dir
        self.fake = fake
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATABASE_URL": database_url,
            "PYTAKE_MIGRATIONS_DIR": os.path.join(ROOT, "migrations"),
            "PYTAKE_PUBLIC_DIR": os.path.join(ROOT, "public"),
            "HTTP_PORT": str(self.port),
        }
        self.env.update(default_env(fake) if base_env is None else base_env)
        self.env.update(extra_env or {})
        self.process = None
        self.log_path = log_path or os.path.join(LOG_DIR, f"server-{self.port}.log")
        self._app_url = None

    def binary(self, name):
        return os.path.join(self.bin_dir, name)

    def app_url(self):
        """DATABASE_URL of the server and scheduler processes (see app_database_url)."""
        if self._app_url is None:
            url = app_database_url(self.database_url)
            if url == self.database_url:
                return url  # not migrated with the role yet: asked again next time
            self._app_url = url
        return self._app_url

    def process_env(self, name):
        """The environment `name` runs with: the application role for the server and the scheduler,
        the superuser for pytake-admin (migrations, users, keys)."""
        if name in ("pytake-server", "pytake-scheduler"):
            return dict(self.env, DATABASE_URL=self.app_url())
        return self.env

    def start(self):
        os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
        with open(self.log_path, "wb") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen([self.binary("pytake-server")], env=self.process_env("pytake-server"), stdout=log,
                                            stderr=subprocess.STDOUT, cwd=ROOT)
        self.wait_ready()
        return self

    def wait_ready(self, timeout=60):
        wait_ready(self.url + "/readyz", self.process, "pytake-server", self.log, timeout)
        return self

    def log(self, tail=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-tail:]
        except OSError:
            return "(no log)"

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def cli(self, name, *args, stdin=None, check=True, timeout=120):
        """Runs pytake-admin or pytake-scheduler against the test database; returns stdout."""
        result = subprocess.run([self.binary(name), *args], env=self.process_env(name), input=stdin, capture_output=True, text=True,
                                cwd=ROOT, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def psql(self, sql):
        """Runs SQL on the test database as the superuser (for fixtures no API writes, such as legacy columns)."""
        return psql(self.database_url, sql)


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Api:
    """A small JSON client of the PyTake API, for seeding what a test does not do otherwise."""

    def __init__(self, base_url, email=None, password=None):
        self.base_url = base_url
        self.token = None
        if email:
            self.token = self.call("POST", "/api/v1/auth/login", {"email": email, "password": password})["access_token"]

    def call(self, method, path, body=None, headers=None, expect=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                text = res.read().decode()
                status = res.status
        except urllib.error.HTTPError as err:
            text = err.read().decode()
            status = err.code
        parsed = json.loads(text) if text else None
        if expect is not None and status != expect:
            raise ApiError(status, text)
        if expect is None and status >= 400:
            raise ApiError(status, text)
        return parsed

    def create_tenant(self, slug, name=None, **extra):
        return self.call("POST", "/api/v1/tenants", {"name": name or slug.title(), "slug": slug, **extra})

    def create_user(self, tenant_id, email, role, password=ADMIN_PASSWORD):
        return self.call("POST", f"/api/v1/tenants/{tenant_id}/users", {"email": email, "password": password, "role": role})


# ---------------------------------------------------------------------------- Meta webhooks


def sign_webhook(body_bytes, secret=META_APP_SECRET):
    return "sha256=" + hmac.new(secret.encode(), body_bytes, hashlib.sha256).hexdigest()


def post_webhook(base_url, payload):
    """Delivers a Meta webhook payload, signed with the app secret, as Meta would."""
    body = json.dumps(payload).encode()
    req = urllib.request.Request(base_url + "/meta/webhook", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("X-Hub-Signature-256", sign_webhook(body))
    with urllib.request.urlopen(req, timeout=30) as res:
        return res.status


def meta_text_message(phone_number_id, wa_id, name, text, message_id=None, timestamp=None):
    """A WhatsApp Cloud API webhook payload carrying one customer text message."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
                    "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                    "messages": [{
                        "from": wa_id,
                        "id": message_id or f"wamid.browser.{time.time_ns()}",
                        "timestamp": str(int(timestamp or time.time())),
                        "type": "text",
                        "text": {"body": text},
                    }],
                },
            }],
        }],
    }
