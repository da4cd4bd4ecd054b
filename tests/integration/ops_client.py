"""What the operations tests (test_metrics.py, test_logs.py) share: the real
stagehand binary ($STAGEHAND_BIN) started on 127.0.0.1:0 with a temporary
data folder, a `users` auth collection imported with the CLI, a superuser
made with `stagehand superuser upsert`, and small HTTP helpers (urllib,
one connection per request). stop() sends SIGTERM and returns the exit
status, so each test also asserts a clean, leak-free shutdown."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

BIN = os.environ["STAGEHAND_BIN"]

SCHEMA = [{"name": "users", "type": "auth", "fields": [],
           "listRule": "", "viewRule": "", "createRule": "",
           "updateRule": None, "deleteRule": None}]

SU_EMAIL, SU_PASSWORD = "root@example.com", "root-password-1"
USER_EMAIL, USER_PASSWORD = "user@example.com", "user-password-1"


class Server:
    def __init__(self, *args):
        self.folder = tempfile.mkdtemp(prefix="stagehand-ops-")
        self.dir = os.path.join(self.folder, "data")
        schema = os.path.join(self.folder, "schema.json")
        with open(schema, "w") as f:
            json.dump(SCHEMA, f)
        subprocess.run([BIN, "collections", "import", schema, "--dir", self.dir],
                       check=True, capture_output=True)
        subprocess.run([BIN, "superuser", "upsert", SU_EMAIL, SU_PASSWORD, "--dir", self.dir],
                       check=True, capture_output=True)
        self.err = open(os.path.join(self.folder, "stderr.log"), "w+b")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--dir", self.dir] + list(args),
            stdout=subprocess.PIPE, stderr=self.err)
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            raise RuntimeError("no address: " + self.log())
        self.url = "http://" + line
        self.metrics_url = None
        if any(a.startswith("--metrics-listen") for a in args):
            extra = self.proc.stdout.readline().decode().strip()
            assert extra.startswith("metrics "), extra
            self.metrics_url = "http://" + extra.split(" ", 1)[1]

    def log(self):
        self.err.flush()
        with open(self.err.name, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        self.proc.send_signal(15)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def request(self, method, path, token=None, body=None, headers=None, base=None):
        """(status, headers, body bytes)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request((base or self.url) + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def json(self, method, path, token=None, body=None, headers=None, want=200, base=None):
        st, _, raw = self.request(method, path, token, body, headers, base)
        assert st == want, f"{method} {path}: {st} {raw[:300]!r}"
        return json.loads(raw) if raw else None

    def sign_in(self, coll, email, password):
        j = self.json("POST", f"/api/collections/{coll}/auth-with-password",
                      body={"identity": email, "password": password})
        return j["token"]

    def superuser(self):
        return self.sign_in("_superusers", SU_EMAIL, SU_PASSWORD)

    def user(self):
        st, _, raw = self.request("POST", "/api/collections/users/records",
                                  body={"email": USER_EMAIL, "password": USER_PASSWORD,
                                        "passwordConfirm": USER_PASSWORD})
        assert st in (200, 400), raw
        return self.sign_in("users", USER_EMAIL, USER_PASSWORD)


def error_shape(raw, status):
    j = json.loads(raw)
    assert j["status"] == status and isinstance(j["message"], str) and j["data"] == {}, j
    return j


def wait_for(fn, timeout=10.0, what="condition"):
    """Polls fn until it returns a true value (the log thread writes in
    batches every 200 ms); the value, or AssertionError after timeout."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def run(tests):
    """Runs each test function; prints results; exits 1 on any failure."""
    import sys
    import traceback
    failed = 0
    for t in tests:
        try:
            t()
            print(f"ok   {t.__name__}", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {t.__name__}", flush=True)
            traceback.print_exc()
    print(f"{len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
