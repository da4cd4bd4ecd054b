"""The stored logs on the real binary: request logs in <dir>/auxiliary.db
with PocketBase's fields and our request id; GET /api/logs (paging, filter
and sort over id, created, level, message, data.*), /api/logs/stats,
/api/logs/{id}, DELETE /api/logs, each with its errors and access rules
(guest 401, user 403); warn/error lines stored; retention by age and size
with short flags; --logs-max-days 0 storing nothing; and that no password,
token, Authorization or cookie value ever reaches the file's bytes."""
import json
import os
import re
import sqlite3
import time
import urllib.parse

from ops_client import Server, error_shape, run, wait_for, SU_PASSWORD, USER_PASSWORD

DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$")


def q(s):
    return urllib.parse.quote(s, safe="")


def logs(s, su, filt="", sort="", extra=""):
    return s.json("GET", f"/api/logs?perPage=1000&filter={q(filt)}&sort={q(sort)}{extra}", token=su)


def test_logs_access():
    s = Server()
    try:
        user = s.user()
        for method, path in [("GET", "/api/logs"), ("GET", "/api/logs/stats"),
                             ("GET", "/api/logs/abc"), ("DELETE", "/api/logs")]:
            st, _, raw = s.request(method, path)
            assert st == 401, (method, path, st)
            error_shape(raw, 401)
            st, _, raw = s.request(method, path, token=user)
            assert st == 403, (method, path, st)
            error_shape(raw, 403)
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_logs_request_fields():
    s = Server()
    try:
        su = s.superuser()
        st, _, _ = s.request("GET", "/api/health?x=1", token=su,
                             headers={"User-Agent": "ops-test/1.0", "Referer": "http://app.example/p",
                                      "X-Request-Id": "req-fields-1"})
        assert st == 200
        s.request("GET", "/api/nope", headers={"X-Request-Id": "req-fields-2"})
        j = wait_for(lambda: logs(s, su, 'data.requestId = "req-fields-1"')["items"],
                     what="the health request's log")
        e = j[0]
        assert set(e) == {"id", "created", "data", "message", "level"}, e
        assert DATE.match(e["created"]), e["created"]
        assert e["level"] == 0 and e["message"] == "GET /api/health?x=1"
        d = e["data"]
        assert d["type"] == "request" and d["method"] == "GET" and d["url"] == "/api/health?x=1"
        assert d["status"] == 200 and isinstance(d["execTime"], (int, float)) and d["execTime"] >= 0
        assert d["remoteIP"] == "127.0.0.1" and d["userIP"] == "127.0.0.1"
        assert d["userAgent"] == "ops-test/1.0" and d["referer"] == "http://app.example/p"
        assert d["auth"] == "_superusers" and len(d["authId"]) == 15
        e2 = wait_for(lambda: logs(s, su, 'data.requestId = "req-fields-2"')["items"])[0]
        assert e2["level"] == 4 and e2["data"]["status"] == 404 and "auth" not in e2["data"]
        # header bytes that are not UTF-8 are stored as U+FFFD; valid UTF-8 and
        # quotes survive, and the entry stays valid JSON
        s.request("GET", "/api/health", headers={"X-Request-Id": "req-fields-3",
                                                 "User-Agent": "a\xffb \xc3\xa9 \"q\" \\"})
        e3 = wait_for(lambda: logs(s, su, 'data.requestId = "req-fields-3"')["items"])[0]
        assert e3["data"]["userAgent"] == 'a\ufffdb \u00e9 "q" \\', e3["data"]["userAgent"]
        # view by id; unknown id 404
        v = s.json("GET", "/api/logs/" + e["id"], token=su)
        assert v == e
        st, _, raw = s.request("GET", "/api/logs/nosuchid000000", token=su)
        assert st == 404
        error_shape(raw, 404)
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_logs_filter_sort_paging_stats():
    s = Server()
    try:
        su = s.superuser()
        for i in range(6):
            s.request("GET", f"/api/health?n={i}", headers={"X-Request-Id": f"fs-{i}"})
        for i in range(4):
            s.request("GET", f"/api/missing/{i}", headers={"X-Request-Id": f"fm-{i}"})
        wait_for(lambda: logs(s, su, 'data.requestId ~ "fm-"')["totalItems"] == 4)
        j = logs(s, su, 'data.requestId ~ "fs-"')
        assert j["totalItems"] == 6 and len(j["items"]) == 6
        # numeric json paths compare as numbers; level is a column
        assert logs(s, su, 'data.status >= 400 && (data.requestId ~ "fs-" || data.requestId ~ "fm-")')[
            "totalItems"] == 4
        assert logs(s, su, 'level = 4 && data.requestId ~ "fm-"')["totalItems"] == 4
        assert logs(s, su, 'message ~ "/api/missing/"')["totalItems"] == 4
        # sort both ways by created, and by a data path
        asc = [e["data"]["requestId"] for e in logs(s, su, 'data.requestId ~ "fs-"', "created")["items"]]
        desc = [e["data"]["requestId"] for e in logs(s, su, 'data.requestId ~ "fs-"', "-created")["items"]]
        assert asc == [f"fs-{i}" for i in range(6)], asc
        assert desc == list(reversed(asc))
        byurl = [e["data"]["url"] for e in logs(s, su, 'data.requestId ~ "fm-"', "-data.url")["items"]]
        assert byurl == sorted(byurl, reverse=True)
        # paging
        fs = q('data.requestId ~ "fs-"')
        p = s.json("GET", f"/api/logs?page=2&perPage=4&sort=created&filter={fs}", token=su)
        assert p["page"] == 2 and p["perPage"] == 4 and p["totalItems"] == 6 and p["totalPages"] == 2
        assert [e["data"]["requestId"] for e in p["items"]] == ["fs-4", "fs-5"]
        p = s.json("GET", "/api/logs?perPage=2&skipTotal=1", token=su)
        assert p["totalItems"] == -1 and p["totalPages"] == -1 and len(p["items"]) == 2
        # errors: bad filter, unknown field, bad sort, bad page
        for bad in ["data.status >=", "nosuch = 1", "@request.auth.id = ''"]:
            st, _, raw = s.request("GET", "/api/logs?filter=" + q(bad), token=su)
            assert st == 400, (bad, st)
            error_shape(raw, 400)
        st, _, raw = s.request("GET", "/api/logs?sort=nosuch", token=su)
        assert st == 400
        error_shape(raw, 400)
        st, _, raw = s.request("GET", "/api/logs?page=x", token=su)
        assert st == 400
        # stats: per hour, PocketBase's shape, with filter
        stats = s.json("GET", "/api/logs/stats?filter=" + q('data.requestId ~ "fs-" || data.requestId ~ "fm-"'), token=su)
        assert isinstance(stats, list) and stats
        assert sum(x["total"] for x in stats) == 10
        for x in stats:
            assert set(x) == {"total", "date"} and DATE.match(x["date"]) and x["date"].endswith(":00:00.000Z")
        st, _, raw = s.request("GET", "/api/logs/stats?filter=" + q("nosuch > 1"), token=su)
        assert st == 400
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_logs_delete():
    s = Server()
    try:
        su = s.superuser()
        for i in range(5):
            s.request("GET", "/api/health", headers={"X-Request-Id": f"del-{i}"})
        wait_for(lambda: logs(s, su, 'data.requestId ~ "del-"')["totalItems"] == 5)
        st, _, raw = s.request("DELETE", "/api/logs", token=su)
        assert st == 204 and raw == b""
        # the delete is done when it is answered
        assert logs(s, su, 'data.requestId ~ "del-"')["totalItems"] == 0
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_logs_warn_and_error_lines():
    s = Server()
    try:
        su = s.superuser()
        s.user()
        os.mkdir(os.path.join(s.dir, "mail.log"))  # the mailer cannot open it: an error line
        st, _, _ = s.request("POST", "/api/collections/users/request-password-reset",
                             body={"email": "user@example.com"})
        assert st == 204
        e = wait_for(lambda: logs(s, su, 'level = 8 && data.type = "app"')["items"],
                     what="the mailer's error line")[0]
        assert e["data"]["module"] == "mailer" and "mail.log" in e["message"], e
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_logs_secrets_never_stored():
    s = Server("--mailer", "log")
    try:
        su = s.superuser()
        user = s.user()
        secret_cookie = "cookie-value-7f3a9b"
        s.request("GET", "/api/health?token=url-token-c0ffee&x=2", token=su,
                  headers={"Cookie": "pb_auth=" + secret_cookie,
                           "Referer": "http://app.example/p?token=referer-token-beef"})
        s.request("GET", "/api/collections/users/records?Token=upper-token-1&pass%77ord=pw-in-url",
                  token=user)
        s.request("GET", "/api/metrics", token="Bearer bearer-secret-42")
        # a reset link goes to --mailer log's warn line: stderr only
        s.request("POST", "/api/collections/users/request-password-reset",
                  body={"email": "user@example.com"})
        wait_for(lambda: logs(s, su, 'data.url = "/api/collections/users/request-password-reset"')[
            "totalItems"] == 1, what="the reset request's log")
        e = logs(s, su, 'data.url ~ "/api/health"')["items"][0]
        assert e["data"]["url"] == "/api/health?token=&x=2", e["data"]["url"]
        assert e["data"]["referer"] == "http://app.example/p?token=", e["data"]["referer"]
        e = logs(s, su, 'data.url ~ "/records"')["items"][0]
        assert e["data"]["url"] == "/api/collections/users/records?Token=&pass%77ord=", e["data"]
        assert s.stop() == 0, s.log()
        assert "confirm-password-reset with token" in s.log()  # stderr has it
        raw = b""
        for name in ("auxiliary.db", "auxiliary.db-wal"):
            p = os.path.join(s.dir, name)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    raw += f.read()
        assert b"/api/health?token=" in raw  # the scan reads what was stored
        reset_tokens = re.findall(r"with token (\S+)", s.log())
        assert reset_tokens
        for secret in [su, user, secret_cookie, "url-token-c0ffee", "referer-token-beef",
                       "upper-token-1", "pw-in-url", "bearer-secret-42", SU_PASSWORD,
                       USER_PASSWORD] + reset_tokens:
            assert secret.encode() not in raw, f"{secret[:20]}... reached auxiliary.db"
            # tokens are JWTs: no piece of the signature either
            if secret.count(".") == 2:
                assert secret.split(".")[2].encode() not in raw
    finally:
        s.cleanup()


def insert_rows(path, rows):
    db = sqlite3.connect(path, timeout=10)
    db.executemany("INSERT INTO _logs(id, level, message, data, created) VALUES(?,?,?,?,?)", rows)
    db.commit()
    db.close()


def test_logs_retention_by_age():
    s = Server("--logs-max-days", "2", "--logs-prune-interval", "300ms")
    try:
        su = s.superuser()
        old = time.strftime("%Y-%m-%d %H:%M:%S.000Z", time.gmtime(time.time() - 3 * 86400))
        recent = time.strftime("%Y-%m-%d %H:%M:%S.000Z", time.gmtime(time.time() - 1 * 86400))
        insert_rows(os.path.join(s.dir, "auxiliary.db"),
                    [(f"old{i:012d}", 0, "old", '{"type":"old"}', old) for i in range(50)] +
                    [(f"new{i:012d}", 0, "recent", '{"type":"recent"}', recent) for i in range(5)])
        wait_for(lambda: logs(s, su, 'data.type = "old"')["totalItems"] == 0,
                 what="entries past --logs-max-days pruned")
        assert logs(s, su, 'data.type = "recent"')["totalItems"] == 5
        fams = s.request("GET", "/api/metrics", token=su)[2].decode()
        assert re.search(r"^stagehand_logs_pruned_total (\d+)", fams, re.M).group(1) == "50"
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_logs_retention_by_size():
    s = Server("--logs-max-size", "256k", "--logs-prune-interval", "300ms")
    try:
        su = s.superuser()
        now = time.time()
        rows = []
        for i in range(3000):  # ~3 MB of entries, oldest first
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 3000 + i)) + ".000Z"
            rows.append((f"sz{i:013d}", 0, "x" * 1000, json.dumps({"type": "bulk", "n": i}), created))
        insert_rows(os.path.join(s.dir, "auxiliary.db"), rows)

        def small():
            db = sqlite3.connect(os.path.join(s.dir, "auxiliary.db"), timeout=10)
            pc, fl, ps = (db.execute(f"PRAGMA {p}").fetchone()[0]
                          for p in ("page_count", "freelist_count", "page_size"))
            db.close()
            return (pc - fl) * ps <= 256 * 1024
        wait_for(small, what="the stored logs cut to --logs-max-size")
        j = logs(s, su, 'data.type = "bulk"', "-created")
        assert 0 < j["totalItems"] < 3000
        assert j["items"][0]["data"]["n"] == 2999  # the newest stay
        # the freed pages go back to the file system (incremental vacuum, checkpoint)
        wait_for(lambda: os.path.getsize(os.path.join(s.dir, "auxiliary.db")) < 1024 * 1024,
                 what="auxiliary.db to shrink")
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_logs_off():
    s = Server("--logs-max-days", "0")
    try:
        su = s.superuser()
        for _ in range(5):
            s.request("GET", "/api/health")
        time.sleep(0.6)  # three of the thread's batch periods
        assert logs(s, su)["totalItems"] == 0
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_logs_burst_rows_match_requests():
    # 300 pipelined requests reach the log thread in batches written as
    # INSERTs of 64, 16, 4 and 1 rows: every entry is stored once, with its
    # own url, message and request id side by side
    s = Server()
    try:
        su = s.superuser()
        import socket
        host, port = s.url[len("http://"):].split(":")
        c = socket.create_connection((host, int(port)))
        c.sendall(b"".join(b"GET /api/health?burst=%d&token=t%d HTTP/1.1\r\nHost: x\r\n"
                           b"X-Request-Id: burst-%d\r\n\r\n" % (i, i, i) for i in range(300)))
        got = b""
        c.settimeout(10)
        while got.count(b"HTTP/1.1 200") < 300:
            chunk = c.recv(65536)
            assert chunk
            got += chunk
        c.close()
        wait_for(lambda: logs(s, su, 'data.requestId ~ "burst-"')["totalItems"] == 300)
        j = logs(s, su, 'data.requestId ~ "burst-"', extra="&perPage=500")
        assert len(j["items"]) == 300
        seen = set()
        for it in j["items"]:
            n = int(it["data"]["requestId"][len("burst-"):])
            url = f"/api/health?burst={n}&token="
            assert it["data"]["url"] == url and it["message"] == "GET " + url, it
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z", it["created"]), it
            seen.add(n)
        assert seen == set(range(300))
        assert len({it["id"] for it in j["items"]}) == 300
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_logs_flood_drops_counted():
    # a queue of 8 entries: a burst of pipelined requests overflows it, and
    # the requests are still all answered
    s = Server("--logs-queue", "8")
    try:
        su = s.superuser()
        import socket
        host, port = s.url[len("http://"):].split(":")
        c = socket.create_connection((host, int(port)))
        c.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
        got = b""
        c.settimeout(10)
        while got.count(b"HTTP/1.1 200") < 200:
            chunk = c.recv(65536)
            assert chunk
            got += chunk
        c.close()
        text = s.request("GET", "/api/metrics", token=su)[2].decode()
        dropped = int(re.search(r"^stagehand_logs_dropped_total (\d+)", text, re.M).group(1))
        assert dropped > 0, text
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


if __name__ == "__main__":
    run([test_logs_access, test_logs_request_fields, test_logs_filter_sort_paging_stats,
         test_logs_delete, test_logs_warn_and_error_lines, test_logs_secrets_never_stored,
         test_logs_retention_by_age, test_logs_retention_by_size, test_logs_off,
         test_logs_burst_rows_match_requests, test_logs_flood_drops_counted])
