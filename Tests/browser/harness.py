"""Shared harness of the browser tests: a real pytake-server process on a fresh database, a
loopback fake of Meta's Graph API (and of Meta's JavaScript SDK), an API client for seeding, and
headless Chromium through Selenium with screenshots.

Environment (run.py and the Swift driver set these):
    PYTAKE_BROWSER_DATABASE_URL  a superuser URL of an existing, migrated, empty database
    PYTAKE_BIN_DIR               directory holding pytake-server, pytake-admin, pytake-scheduler
    PYTAKE_SCREENSHOT_DIR        where screenshots go (default .build/browser-screenshots)
    CHROMIUM_BINARY, CHROMEDRIVER  optional browser paths
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover
    sys.exit("selenium is not installed: pip install selenium")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WAIT_SECONDS = 20
JWT_SECRET = "browser-test-secret-0123456789-abcdefghijklmnop"
ENCRYPTION_KEY = base64.b64encode(b"browser-tests-encryption-key-32b").decode()
META_APP_SECRET = "browser-test-app-secret"
META_APP_ID = "1234567890"
META_CONFIG_ID = "987654321"
ADMIN_EMAIL = "root@pytake.test"
ADMIN_PASSWORD = "correct horse battery staple"
SCREENSHOT_DIR = os.environ.get("PYTAKE_SCREENSHOT_DIR", os.path.join(ROOT, ".build", "browser-screenshots"))


def require_env(name):
    value = os.environ.get(name, "").strip()
    if not value:
        sys.exit(f"environment variable {name} is required (see {__file__})")
    return value


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- fake outside services


class FakeService:
    """A loopback HTTP server answering from a route table; it records every request.

    fake.route("GET", r"/v22.0/debug_token", 200, {...})      fixed JSON answer
    fake.route("POST", r"/v22.0/\\d+/messages", handler)      handler(request) -> (status, body, headers)
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


class PyTake:
    """pytake-server (and its CLIs) on the test database, with the fake as Meta/LancePilot."""

    def __init__(self, database_url, bin_dir, fake, extra_env=None):
        self.database_url = database_url
        self.bin_dir = bin_dir
        self.fake = fake
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATABASE_URL": database_url,
            "JWT_SECRET": JWT_SECRET,
            "PYTAKE_ENCRYPTION_KEY": ENCRYPTION_KEY,
            "PYTAKE_MIGRATIONS_DIR": os.path.join(ROOT, "migrations"),
            "PYTAKE_PUBLIC_DIR": os.path.join(ROOT, "public"),
            "HTTP_PORT": str(self.port),
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
        self.env.update(extra_env or {})
        self.process = None
        self.log_path = os.path.join(SCREENSHOT_DIR, f"server-{self.port}.log")

    def binary(self, name):
        return os.path.join(self.bin_dir, name)

    def start(self):
        os.makedirs(SCREENSHOT_DIR, exist_ok=True)
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen([self.binary("pytake-server")], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pytake-server exited with {self.process.returncode}; log:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as res:
                    if res.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"pytake-server did not become ready; log:\n{self.log()}")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def cli(self, name, *args, stdin=None, check=True):
        """Runs pytake-admin or pytake-scheduler against the test database; returns stdout."""
        result = subprocess.run([self.binary(name), *args], env=self.env, input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def psql(self, sql):
        """Runs SQL on the test database (for fixtures no API writes, such as legacy columns)."""
        result = subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-qAt", self.database_url, "-c", sql], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout.strip()


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Api:
    """A small JSON client of the PyTake API, for seeding what a test does not do by browser."""

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


def sign_webhook(body_bytes):
    return "sha256=" + hmac.new(META_APP_SECRET.encode(), body_bytes, hashlib.sha256).hexdigest()


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


# ---------------------------------------------------------------------------- the browser


def make_driver():
    options = Options()
    options.binary_location = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--lang=en-US", "--window-size=1400,900"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_script_timeout(WAIT_SECONDS)
    return driver


class Env:
    """What every test shares: one server, one fake, the admin's API client. Set by run.py."""
    pytake = None
    fake = None
    admin = None
    database_url = None
    bin_dir = None


class BrowserTest(unittest.TestCase):
    """A test with its own browser. Saves a screenshot (and the page's console) when it fails."""

    def setUp(self):
        self.driver = make_driver()
        self.base = Env.pytake.url

    def tearDown(self):
        outcome = getattr(self, "_outcome", None)
        failed = False
        if outcome is not None:
            result = getattr(outcome, "result", None)
            errors = list(getattr(result, "errors", [])) + list(getattr(result, "failures", []))
            failed = any(test is self for test, _ in errors) or not getattr(outcome, "success", True)
        if failed:
            self.shot(f"FAILED-{self.id().split('.')[-1]}")
            try:
                for entry in self.driver.get_log("browser"):
                    print(f"  console {entry.get('level')}: {entry.get('message')}", file=sys.stderr)
            except Exception:  # noqa: BLE001 - diagnostics only
                pass
        self.driver.quit()

    # -- helpers

    def shot(self, name):
        os.makedirs(SCREENSHOT_DIR, exist_ok=True)
        path = os.path.join(SCREENSHOT_DIR, f"{name}.png")
        try:
            self.driver.save_screenshot(path)
        except Exception as exc:  # noqa: BLE001
            print(f"  screenshot {name} failed: {exc}", file=sys.stderr)
        return path

    def wait_until(self, condition, message, timeout=WAIT_SECONDS):
        try:
            return WebDriverWait(self.driver, timeout).until(condition)
        except TimeoutException:
            self.fail(f"timed out after {timeout}s: {message} (url {self.driver.current_url})")

    def el(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def els(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait_css(self, css, message=None, visible=True, timeout=WAIT_SECONDS):
        cond = EC.visibility_of_element_located((By.CSS_SELECTOR, css)) if visible else EC.presence_of_element_located((By.CSS_SELECTOR, css))
        return self.wait_until(cond, message or f"{css} did not appear", timeout)

    def click(self, css, message=None):
        el = self.wait_until(EC.element_to_be_clickable((By.CSS_SELECTOR, css)), message or f"{css} not clickable")
        el.click()
        return el

    def type_into(self, css, text, clear=True):
        field = self.wait_css(css)
        if clear:
            field.clear()
        field.send_keys(text)
        return field

    def severe_logs(self, allowed=()):
        entries = self.driver.get_log("browser")
        return [e for e in entries if e.get("level") == "SEVERE" and not any(a in e.get("message", "") for a in allowed)]

    def sign_in(self, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, hash_path=None):
        """Opens the page (at `hash_path`, e.g. "#/tenants") and signs in through the form."""
        self.driver.get(self.base + "/" + (hash_path or ""))
        self.wait_until(EC.element_to_be_clickable((By.ID, "signin")), "the sign-in button never became enabled")
        self.type_into("#email", email)
        self.type_into("#password", password)
        self.click("#signin")
        self.wait_css("#whoami", "not signed in (#whoami hidden)")
        self.wait_until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#view .loading"), "the view kept loading")

    def api_as(self, email, password=ADMIN_PASSWORD):
        return Api(self.base, email, password)
