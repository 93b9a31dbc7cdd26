#!/usr/bin/env python3
"""Runs the browser tests (Tests/browser/test_*.py) against a real pytake-server.

    PYTAKE_BIN_DIR=.build/debug PYTAKE_BROWSER_DATABASE_URL=postgres://… python3 Tests/browser/run.py [-k pattern]

PYTAKE_BROWSER_DATABASE_URL must name an existing, empty database the tests may use (the Swift
driver `BrowserTests` makes one from the migrated template). Alternatively
PYTAKE_BROWSER_SERVER_URL (a superuser URL of any PostgreSQL server) makes a fresh database
`pytake_browser_<pid>`, migrates it with pytake-admin, and drops it afterwards.

Screenshots of the main screens, and of any failure, go to PYTAKE_SCREENSHOT_DIR
(default .build/browser-screenshots). Figures are printed as `BENCH name value unit`.
Exit status 0 when every test passed.
"""

import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import ADMIN_EMAIL, ADMIN_PASSWORD, Api, Env, FakeService, PyTake  # noqa: E402


def main():
    bin_dir = os.environ.get("PYTAKE_BIN_DIR", os.path.join(harness.ROOT, ".build", "debug"))
    database_url = os.environ.get("PYTAKE_BROWSER_DATABASE_URL", "").strip()
    created = None
    if not database_url:
        server_url = harness.require_env("PYTAKE_BROWSER_SERVER_URL")
        name = f"pytake_browser_{os.getpid()}"
        subprocess.run(["psql", "-qAt", server_url, "-c", f"CREATE DATABASE {name}"], check=True)
        base, _, query = server_url.partition("?")
        database_url = base.rsplit("/", 1)[0] + "/" + name + (("?" + query) if query else "")
        created = (server_url, name)

    fake = FakeService()
    pytake = PyTake(database_url, bin_dir, fake)
    started = time.time()
    try:
        if created:
            pytake.cli("pytake-admin", "migrate")
        pytake.cli("pytake-admin", "users", "create", "--email", ADMIN_EMAIL, "--role", "platform_admin", "--password-stdin",
                   stdin=ADMIN_PASSWORD + "\n")
        pytake.start()
        Env.pytake, Env.fake, Env.database_url, Env.bin_dir = pytake, fake, database_url, bin_dir
        Env.admin = Api(pytake.url, ADMIN_EMAIL, ADMIN_PASSWORD)

        loader = unittest.TestLoader()
        args = sys.argv[1:]
        if "-k" in args:
            loader.testNamePatterns = [f"*{args[args.index('-k') + 1]}*"]
        suite = loader.discover(os.path.dirname(os.path.abspath(__file__)), pattern="test_*.py")
        result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
        print(f"BENCH browser_suite_seconds {time.time() - started:.1f} s")
        print(f"screenshots: {harness.SCREENSHOT_DIR}")
        if not result.wasSuccessful():
            print("server log (tail):\n" + pytake.log())
        return 0 if result.wasSuccessful() and result.testsRun > 0 else 1
    finally:
        pytake.stop()
        fake.stop()
        if created:
            server_url, name = created
            subprocess.run(["psql", "-qAt", server_url, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


if __name__ == "__main__":
    sys.exit(main())
