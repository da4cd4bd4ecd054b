"""GET /api/metrics on the real binary, read by a real parser of the
Prometheus text format (prometheus_client's text_string_to_metric_families,
Debian's python3-prometheus-client): the families and their types, that
counters move after requests, the access rules (guest 401, user 403,
superuser and --metrics-token 200, a wrong token 401), the separate
--metrics-listen listener, label escaping through the parser, and the
health extras a superuser gets."""
import json

from prometheus_client.parser import text_string_to_metric_families

from ops_client import Server, error_shape, run

TOKEN = "metrics-secret-0123456789"


def scrape(s, auth, base=None):
    st, h, raw = s.request("GET", "/api/metrics", token=auth, base=base)
    assert st == 200, (st, raw[:200])
    assert h["Content-Type"].startswith("text/plain; version=0.0.4"), h["Content-Type"]
    fams = {f.name: f for f in text_string_to_metric_families(raw.decode())}
    return fams, raw.decode()


def sample(fams, family, name=None, **labels):
    f = fams[family]
    for s in f.samples:
        if (name is None or s.name == name) and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


EXPECTED = {
    # prometheus_client strips _total from counter family names
    "stagehand_http_requests": "counter",
    "stagehand_http_request_duration_seconds": "histogram",
    "stagehand_http_requests_in_flight": "gauge",
    "stagehand_connections_open": "gauge",
    "stagehand_connections_refused": "counter",
    "stagehand_event_loop_lag_seconds": "histogram",
    "stagehand_writer_batch_size": "histogram",
    "stagehand_writer_commit_seconds": "histogram",
    "stagehand_writer_queue_depth": "gauge",
    "stagehand_hash_queue_depth": "gauge",
    "stagehand_hash_duration_seconds": "histogram",
    "stagehand_rate_limited": "counter",
    "stagehand_database_bytes": "gauge",
    "stagehand_database_wal_bytes": "gauge",
    "stagehand_logs_dropped": "counter",
    "stagehand_logs_queue_depth": "gauge",
    # registered with sh_metrics_add (one line each)
    "stagehand_writer_wal_truncations": "counter",
    "stagehand_logs_write_failures": "counter",
    "process_cpu_seconds": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_start_time_seconds": "gauge",
}


def test_metrics_families_and_types():
    s = Server("--metrics-token", TOKEN)
    try:
        su = s.superuser()
        fams, text = scrape(s, su)
        for name, typ in EXPECTED.items():
            assert name in fams, f"missing family {name}"
            assert fams[name].type == typ, (name, fams[name].type, typ)
        # every HELP/TYPE pair once, counters named _total in the text
        assert text.count("# TYPE stagehand_http_requests_total counter") == 1
        assert "stagehand_http_requests_total{" in text
        # histograms: cumulative buckets ending in +Inf equal to _count
        lag = fams["stagehand_event_loop_lag_seconds"]
        buckets = [x for x in lag.samples if x.name.endswith("_bucket")]
        assert buckets[-1].labels["le"] == "+Inf"
        values = [b.value for b in buckets]
        assert values == sorted(values)
        count = [x for x in lag.samples if x.name.endswith("_count")][0].value
        assert values[-1] == count
        assert sample(fams, "process_resident_memory_bytes") > 1 << 20
        assert sample(fams, "process_open_fds") >= 3
        assert sample(fams, "stagehand_database_bytes") > 0
        # the hash of the sign-in above was timed
        assert sample(fams, "stagehand_hash_duration_seconds",
                      "stagehand_hash_duration_seconds_count") >= 1
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_metrics_counters_move():
    s = Server("--metrics-token", TOKEN)
    try:
        auth = "Bearer " + TOKEN
        fams, _ = scrape(s, auth)
        before = sample(fams, "stagehand_http_requests", route="/api/health", method="GET",
                        status="2x") or 0
        nf_before = sample(fams, "stagehand_http_requests", route="none", method="GET",
                           status="4x") or 0
        for _ in range(5):
            assert s.request("GET", "/api/health")[0] == 200
        for _ in range(3):
            assert s.request("GET", "/api/no-such-route")[0] == 404
        st, _, _ = s.request("POST", "/api/collections/users/records",
                             body={"email": "a@example.com", "password": "pw-123456789",
                                   "passwordConfirm": "pw-123456789"})
        assert st == 200
        fams, _ = scrape(s, auth)
        after = sample(fams, "stagehand_http_requests", route="/api/health", method="GET",
                       status="2x")
        assert after == before + 5, (before, after)
        assert sample(fams, "stagehand_http_requests", route="none", method="GET",
                      status="4x") == nf_before + 3
        assert sample(fams, "stagehand_http_requests",
                      route="/api/collections/:collection/records", method="POST",
                      status="2x") == 1
        assert sample(fams, "stagehand_http_request_duration_seconds",
                      "stagehand_http_request_duration_seconds_count", route="/api/health") >= 5
        # the sign-up's write went through the writer: one batch at least
        assert sample(fams, "stagehand_writer_batch_size",
                      "stagehand_writer_batch_size_count") >= 1
        # this scrape is in flight while it is formatted
        assert sample(fams, "stagehand_http_requests_in_flight") == 1
        assert sample(fams, "stagehand_connections_open") >= 1
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_metrics_rate_limited_counted():
    s = Server("--rate-limit-all", "3/1m")
    try:
        su = s.superuser()  # superusers are never limited: it can still scrape
        codes = [s.request("GET", "/api/health")[0] for _ in range(6)]
        assert codes.count(429) >= 3, codes
        fams, _ = scrape(s, su)
        assert sample(fams, "stagehand_rate_limited", route="/api/health") >= 3
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_metrics_access():
    s = Server("--metrics-token", TOKEN)
    try:
        st, _, raw = s.request("GET", "/api/metrics")
        assert st == 401
        error_shape(raw, 401)
        st, _, raw = s.request("GET", "/api/metrics", token="Bearer wrong-token")
        assert st == 401
        error_shape(raw, 401)
        st, _, raw = s.request("GET", "/api/metrics", token=s.user())
        assert st == 403
        error_shape(raw, 403)
        assert s.request("GET", "/api/metrics", token="Bearer " + TOKEN)[0] == 200
        assert s.request("GET", "/api/metrics", token=s.superuser())[0] == 200
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()
    # without --metrics-token, no bearer token opens it
    s = Server()
    try:
        assert s.request("GET", "/api/metrics", token="Bearer ")[0] == 401
        assert s.request("GET", "/api/metrics", token="Bearer " + TOKEN)[0] == 401
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_metrics_separate_listener():
    s = Server("--metrics-token", TOKEN, "--metrics-listen", "127.0.0.1:0")
    try:
        assert s.metrics_url and s.metrics_url != s.url
        for _ in range(4):
            s.request("GET", "/api/health")
        fams, _ = scrape(s, "Bearer " + TOKEN, base=s.metrics_url)
        assert sample(fams, "stagehand_http_requests", route="/api/health", method="GET",
                      status="2x") == 4
        # the listener serves the metrics only, with the same access rules
        assert s.request("GET", "/api/health", base=s.metrics_url)[0] == 404
        assert s.request("GET", "/api/metrics", base=s.metrics_url)[0] == 401
        su = s.superuser()
        assert s.request("GET", "/api/metrics", token=su, base=s.metrics_url)[0] == 200
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_health_extras_for_superusers():
    s = Server()
    try:
        st, _, raw = s.request("GET", "/api/health")
        assert json.loads(raw) == {"code": 200, "message": "API is healthy.", "data": {}}
        st, _, raw = s.request("GET", "/api/health", token=s.user())
        assert json.loads(raw)["data"] == {}
        su = s.superuser()
        j = s.json("GET", "/api/health", token=su)
        assert j["data"] == {"canBackup": True, "realIP": "127.0.0.1",
                             "possibleProxyHeader": ""}, j
        j = s.json("GET", "/api/health", token=su, headers={"X-Forwarded-For": "10.1.2.3"})
        assert j["data"]["possibleProxyHeader"] == "X-Forwarded-For"
        assert j["data"]["realIP"] == "127.0.0.1"
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()
    # behind a trusted proxy the real address is the forwarded one
    s = Server("--trusted-proxy", "127.0.0.1/32")
    try:
        su = s.superuser()
        j = s.json("GET", "/api/health", token=su, headers={"X-Forwarded-For": "10.1.2.3"})
        assert j["data"]["realIP"] == "10.1.2.3" and j["data"]["possibleProxyHeader"] == "", j
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


def test_metrics_durations_at_any_log_level():
    """Request durations are measured whatever --log-level says (they were
    0 above info: the start time was only taken for the access log)."""
    s = Server("--metrics-token", TOKEN, "--log-level", "warn")
    try:
        auth = "Bearer " + TOKEN
        # a sign-up hashes a password: milliseconds, far above 0
        st, _, _ = s.request("POST", "/api/collections/users/records",
                             body={"email": "d@example.com", "password": "pw-123456789",
                                   "passwordConfirm": "pw-123456789"})
        assert st == 200
        fams, _ = scrape(s, auth)
        total = sample(fams, "stagehand_http_request_duration_seconds",
                       "stagehand_http_request_duration_seconds_sum",
                       route="/api/collections/:collection/records")
        assert total is not None and total > 0.0005, total
        assert s.stop() == 0, s.log()
    finally:
        s.cleanup()


if __name__ == "__main__":
    run([test_metrics_families_and_types, test_metrics_counters_move,
         test_metrics_rate_limited_counted, test_metrics_access, test_metrics_separate_listener,
         test_health_extras_for_superusers, test_metrics_durations_at_any_log_level])
