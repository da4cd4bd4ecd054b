#!/usr/bin/env python3
"""report.py: the report step of scripts/bench.

Reads the raw outputs of one run in bench/out/<run>/ (meta.env, runs.tsv and the wrk outputs it
names, the once-scenarios' *.env / *.tsv / raw files, callgrind out files) and the targets in
bench/targets.json, and prints the Markdown tables the README shows: medians over rounds,
ratios against the peer measured in the same run, each target met or missed. It measures
nothing itself, so a run can be reported again (or by a newer report.py) at any time.

    report.py summary OUT               the whole report (scripts/bench saves it as summary.md)
    report.py wrk FILE TICKS CLK_TCK    one wrk output as a log line (req/s, p50, p99, CPU)
    report.py missed OUT SCENARIO       exit 0 if SCENARIO misses one of its targets so far
    report.py callgrind OUT TARGET SRV  instructions/request of one callgrind target

Python 3 standard library only (Debian's python3).
"""

import json
import os
import re
import statistics
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b,
       ">": lambda a, b: a > b, "==": lambda a, b: a == b}
UNIT_US = {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


# ------------------------------------------------------------------ raw outputs

def parse_wrk(text):
    """wrk's output -> {req, rps, p50, p99, err, bad}, or None if it has no summary.

    err counts socket errors plus non-2xx/3xx responses, bad the latter alone. A percentile
    wrk printed as 0.00us (its coordinated-omission correction going wrong, wg/wrk#236) or
    did not print is None."""
    r = {"p50": None, "p99": None, "err": 0, "bad": 0}
    for line in text.splitlines():
        m = re.match(r"\s+(50|99)(?:\.0+)?%\s+([0-9.]+)([a-z]+)", line)
        if m:
            v = float(m.group(2)) * UNIT_US.get(m.group(3), 0)
            r["p" + m.group(1)] = v if v > 0 else None
        m = re.match(r"\s*(\d+) requests in", line)
        if m:
            r["req"] = int(m.group(1))
        m = re.match(r"Requests/sec:\s+([0-9.]+)", line)
        if m:
            r["rps"] = float(m.group(1))
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", line)
        if m:
            r["err"] += sum(int(x) for x in m.groups())
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", line)
        if m:
            r["err"] += int(m.group(1))
            r["bad"] += int(m.group(1))
    return r if "req" in r and "rps" in r else None


def read_kv(path):
    """key=value lines -> dict; a key given several times -> list of its values."""
    d = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                k, sep, v = line.rstrip("\n").partition("=")
                if not sep:
                    continue
                if k in d:
                    d[k] = (d[k] if isinstance(d[k], list) else [d[k]]) + [v]
                else:
                    d[k] = v
    return d


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def fields(line):
    """'name k=v k=v ...' -> {k: float} (the summary lines of auth_client / auth_login.lua)."""
    return {k: float(v) for k, v in re.findall(r"(\w+)=(-?[0-9.]+)", line or "")}


def first_line(text, prefix):
    return next((line for line in text.splitlines() if line.startswith(prefix)), None)


def callgrind_ir(path):
    """Total instructions (Ir) of a callgrind out file (its summary/totals line)."""
    for line in read(path).splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    return None


# ------------------------------------------------------------------ one run

class Run:
    def __init__(self, out):
        self.out = out
        self.meta = read_kv(os.path.join(out, "meta.env"))
        with open(os.path.join(BENCH_DIR, "targets.json")) as f:
            self.targets = json.load(f)
        self.clk = float(self.meta.get("clk_tck", 100))
        self.runs = {}  # (scenario, server) -> [per-round dict]
        self.order = []  # scenarios in run order
        self.command = {}  # scenario -> wrk command (of its subject)
        for sc, srv, rnd, raw, ticks, cmd in read_tsv(os.path.join(out, "runs.tsv")):
            w = parse_wrk(read(os.path.join(out, raw)))
            if w is None:
                continue
            w["cpu"] = int(ticks) / self.clk * 1e6 / w["req"] if w["req"] > 0 else None
            w["round"] = int(rnd)
            self.runs.setdefault((sc, srv), []).append(w)
            if sc not in self.order:
                self.order.append(sc)
                self.command[sc] = cmd
        self.skipped = read_kv(os.path.join(out, "skipped.env"))

    def servers(self, sc):
        return [srv for (s, srv) in self.runs if s == sc]

    def med(self, sc, srv, key):
        """Median over rounds of one figure (None when no round has it)."""
        v = [r[key] for r in self.runs.get((sc, srv), []) if r.get(key) is not None]
        return statistics.median(v) if v else None

    def total(self, sc, srv, key):
        return sum(r.get(key, 0) for r in self.runs.get((sc, srv), []))

    def subject(self, sc):
        s = self.servers(sc)
        return s[0] if s else None

    # figures of once-scenarios, by name, for the targets
    def once_metrics(self, sc):
        if sc == "auth-flood":
            return self.flood()
        if sc == "auth-timing":
            return self.timing()
        if sc == "idle-conns":
            return self.idle()
        if sc == "callgrind":
            return self.callgrind()
        return {}

    def wrk_metric(self, sc, srv, t):
        m = t["metric"]
        if m in ("rps_ratio", "cpu_ratio"):
            key = m.split("_")[0]
            psc, _, psrv = t["peer"].partition("@")
            if (psc, psrv) == (sc, srv):  # the subject did not run (BENCH_ONLY): no ratio
                return None
            return ratio(self.med(sc, srv, key), self.med(psc, psrv, key))
        key = {"rps": "rps", "cpu_us": "cpu", "p99_us": "p99", "p50_us": "p50"}[m]
        return self.med(sc, srv, key)

    def check(self, sc, srv=None):
        """[(target, value, met)] for a scenario; met is None when a figure is missing."""
        spec = self.targets.get(sc, {})
        res = []
        once = None
        for t in spec.get("targets", []):
            if sc in self.order:
                v = self.wrk_metric(sc, srv or self.subject(sc), t)
            else:
                once = self.once_metrics(sc) if once is None else once
                v = once_value(once, t)
            res.append((t, v, None if v is None else OPS[t["op"]](v, t["value"])))
        return res

    # ---- once-scenarios

    def flood(self):
        env = read_kv(os.path.join(self.out, "auth-flood.env"))
        if not env:
            return {}
        auth = read_kv(os.path.join(self.out, "auth.env"))
        m = {"env": env, "auth": auth}
        line = first_line(read(os.path.join(self.out, "auth-flood-logins.txt")), "logins ")
        lg = fields(line)
        m["logins"] = lg
        if lg:
            elapsed = lg.get("elapsed_s", -1)
            if elapsed <= 0:  # no ffi clock in wrk's Lua: the driver's wall time
                elapsed = float(env.get("wall_s", 0))
            m["elapsed_s"] = elapsed
            m["logins_per_s"] = lg["ok"] / elapsed if elapsed > 0 else None
            m["e503"] = lg.get("e503")
            if lg.get("responses"):
                m["cpu_ms"] = int(env.get("cpu_ticks", 0)) / self.clk * 1000 / lg["responses"]
        m["idle"] = parse_wrk(read(os.path.join(self.out, "auth-health-idle.txt")))
        m["during"] = parse_wrk(read(os.path.join(self.out, "auth-health-flood.txt")))
        if m["idle"] and m["during"] and m["idle"]["p99"] and m["during"]["p99"]:
            m["p99_bound"] = max(2 * m["idle"]["p99"], 1000.0)
            m["health_p99_over_bound"] = m["during"]["p99"] / m["p99_bound"]
        h = fields(first_line(read(os.path.join(self.out, "auth-hash.txt")), "summary "))
        m["memlimit"] = h.get("memlimit", 64 * 1048576)
        m["hash_us"] = h.get("median_us") or self.timing().get("wrong_median_us")
        pool, ncpu = int(auth.get("pool", 1)), int(auth.get("server_ncpu", 1))
        m["pool"], m["ncpu"] = pool, ncpu
        if m["hash_us"]:
            m["expected_lps"] = min(pool, ncpu) / (m["hash_us"] / 1e6)
        if env.get("base_kb") and env.get("hwm_kb"):
            m["bound_kb"] = int(env["base_kb"]) + pool * m["memlimit"] / 1024 + 32 * 1024
            m["hwm_over_bound"] = int(env["hwm_kb"]) / m["bound_kb"]
        return m

    def timing(self):
        t = fields(first_line(read(os.path.join(self.out, "auth-timing.txt")), "summary "))
        if "diff_us" in t:
            t["abs_diff_us"] = abs(t["diff_us"])
        return t

    def idle(self):
        m = {}
        for srv, want, ok, before, after in read_tsv(os.path.join(self.out, "idle.tsv")):
            ok, before, after = int(ok), int(before), int(after)
            done = first_line(read(os.path.join(self.out, f"idle-{srv}.txt")), "done ")
            m[srv] = {"want": int(want), "held": ok, "before": before, "after": after,
                      "per": (after - before) * 1024 / ok if ok > 0 else None,
                      "closed": fields(done).get("closed_by_peer")}
        return m

    def callgrind(self):
        """{(target, server): instructions/request} from the N1/N2 pairs of callgrind.tsv."""
        runs = {}
        for target, srv, n, f in read_tsv(os.path.join(self.out, "callgrind.tsv")):
            runs.setdefault((target, srv), []).append((int(n), callgrind_ir(os.path.join(self.out, f))))
        m = {}
        for k, v in runs.items():
            v = sorted(x for x in v if x[1] is not None)
            if len(v) >= 2 and v[-1][0] > v[0][0]:
                m[k] = {"per_req": (v[-1][1] - v[0][1]) / (v[-1][0] - v[0][0]), "runs": v}
        return m


def once_value(m, t):
    metric = t["metric"]
    if metric == "bytes_per_conn":
        return (m.get(t.get("server", "stagehand")) or {}).get("per")
    if metric == "ratio":  # callgrind: target@server against peer (a server, or another target)
        peer = t["peer"]
        a = m.get((t["target"], "stagehand"))
        b = m.get((t["target"], peer)) or m.get((peer, "stagehand"))
        return ratio(a and a["per_req"], b and b["per_req"])
    return m.get(metric)


# ------------------------------------------------------------------ formatting

def ratio(a, b):
    return a / b if a is not None and b else None


def n0(v):
    return "–" if v is None else f"{v:,.0f}".replace(",", " ")


def n2(v):
    return "–" if v is None else f"{v:.2f}"


def lat(us):
    if us is None:
        return "n/a"
    if us < 1000:
        return f"{us:.0f} µs"
    if us < 1e6:
        return f"{us / 1000:.2f} ms"
    return f"{us / 1e6:.2f} s"


def mib(kb):
    return "–" if kb is None else f"{kb / 1024:.1f} MiB"


def target_text(t):
    if "text" in t:
        return t["text"]
    op = {">=": "≥", "<=": "≤"}.get(t["op"], t["op"])
    v = t["value"]
    val = n0(v) if v >= 100 else f"{v:g}"
    m = t["metric"]
    if m in ("rps_ratio", "cpu_ratio"):
        psc, _, psrv = t["peer"].partition("@")
        peer = f"{psrv} {psc}" if psrv in ("stagehand", "nginx") else psc
        return f"{'req/s' if m == 'rps_ratio' else 'CPU'} {op} {val}× {peer}"
    if m == "rps":
        return f"{op} {val} req/s"
    if m == "bytes_per_conn":
        return f"{op} {val} B"
    if m == "ratio":
        return f"{op} {val}× {t['peer']}"
    return f"{m} {op} {val}"


def met_text(checks):
    if not checks:
        return "", ""
    parts, mets = [], []
    for t, v, met in checks:
        parts.append(target_text(t))
        mets.append("–" if met is None else ("met" if met else "**missed**"))
    return "; ".join(parts), "; ".join(mets)


def md_table(head, rows, align=None):
    align = align or ["---"] + ["---:"] * (len(head) - 1)
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


# ------------------------------------------------------------------ the report

def summary(run):
    m = run.meta
    out = [f"## stagehand benchmarks — {m.get('date', '?')}", "",
           f"wrk -t1 -c{m.get('conns')} -d{m.get('duration')} --latency, {m.get('rounds')} round(s), "
           f"medians over rounds; servers on CPU {m.get('server_cpu')}, clients on CPU {m.get('client_cpu')}; "
           f"{m.get('cpu_model', '?')}, {m.get('kernel', '?')}"
           + (f", {m['nginx']}" if m.get("nginx") else "")
           + f"; commit {m.get('stagehand_commit', '?')}; load average at start {m.get('loadavg', '?')}.", ""]
    for part in (health_table, idle_table, records_table, soak_table, auth_table, callgrind_table,
                 profiles):
        text = part(run)
        if text:
            out += [text, ""]
    for name in ("files.md", "signin.md"):  # once-scenarios that write their own table
        text = read(os.path.join(run.out, name)).strip()
        if text:
            out += [text, ""]
    for fx, why in run.skipped.items():
        out.append(f"Skipped: the scenarios on `{fx}`: {why}.")
    return "\n".join(out).rstrip() + "\n"


def table_of(run, sc):
    return run.targets.get(sc, {}).get("table", "health")


def health_table(run):
    rows = []
    for sc in run.order:
        if table_of(run, sc) != "health":
            continue
        sh, ng = ("stagehand", "nginx")
        tgt, met = met_text(run.check(sc, sh if (sc, sh) in run.runs else None))
        rows.append([sc + (" ¹" if sc.startswith("pipelined") else ""),
                     n0(run.med(sc, sh, "rps")), n0(run.med(sc, ng, "rps")),
                     n2(ratio(run.med(sc, sh, "rps"), run.med(sc, ng, "rps"))),
                     f"{lat(run.med(sc, sh, 'p50'))} / {lat(run.med(sc, sh, 'p99'))}",
                     f"{lat(run.med(sc, ng, 'p50'))} / {lat(run.med(sc, ng, 'p99'))}",
                     n2(run.med(sc, sh, "cpu")), n2(run.med(sc, ng, "cpu")),
                     n2(ratio(run.med(sc, sh, "cpu"), run.med(sc, ng, "cpu"))),
                     tgt, met, f"`{run.command.get(sc, '')}`"])
    if not rows:
        return ""
    head = ["scenario", "stagehand req/s", "nginx req/s", "ratio", "stagehand p50 / p99",
            "nginx p50 / p99", "stagehand CPU µs/req", "nginx CPU µs/req", "CPU ratio", "target",
            "met", "command"]
    notes = ["",
             "Ratios are stagehand / nginx, both measured in this run. CPU µs/req = server utime+stime "
             "delta (/proc/PID/stat; nginx: master + worker) × 1e6 / requests completed."]
    if any(sc.startswith("pipelined") for sc in run.order):
        notes.append("¹ 16 requests per write: req/s and CPU count single requests, but wrk's latency "
                     "percentiles are per batch of 16 (and wrk's coordinated-omission correction can print "
                     "0.00us, shown as n/a).")
    bad = [f"{sc}@{srv}: {run.total(sc, srv, 'err')}" for (sc, srv) in run.runs
           if table_of(run, sc) == "health" and run.total(sc, srv, "err")]
    if bad:
        notes.append("Socket errors / non-2xx (must be 0): " + ", ".join(bad) + ".")
    return "### /api/health\n\n" + md_table(head, rows, ["---"] + ["---:"] * 8 + ["---"] * 3) + "\n" + "\n".join(notes)


def idle_table(run):
    m = run.idle()
    if not m:
        return ""
    chk = {t.get("server", "stagehand"): (t, v, met) for t, v, met in run.check("idle-conns")}
    rows = []
    for srv, d in m.items():
        t, _, met = chk.get(srv, (None, None, None))
        rows.append([srv, f"{d['held']} of {d['want']}", f"{d['before']} kB", f"{d['after']} kB",
                     n0(d["per"]) + " B" if d["per"] is not None else "failed",
                     "" if d["closed"] in (None, 0) else f"{d['closed']:.0f}",
                     target_text(t) if t else "", "" if t is None else ("–" if met is None else ("met" if met else "**missed**"))])
    return ("### idle keep-alive connections\n\n"
            + md_table(["server", "held", "VmRSS before", "VmRSS while held", "RSS / connection",
                        "closed by server", "target", "met"], rows, ["---"] + ["---:"] * 5 + ["---"] * 2)
            + "\n\nRSS / connection = (VmRSS while held − before) / held, on fresh servers; kernel socket "
              "memory is not in RSS (nginx preallocates its connection table, so most of its cost is in "
              "the baseline).")


def soak_table(run):
    """rss-soak: VmRSS after the first part of the mixed requests and after all of them."""
    env = read_kv(os.path.join(run.out, "rss-soak.env"))
    if not env.get("total_kb"):
        return ""
    first, total = float(env["first_kb"]), float(env["total_kb"])
    growth = (total - first) * 100 / first if first else None
    met = growth is not None and growth <= 10
    rows = [[f"{env.get('base_kb')} kB", f"{env['first_kb']} kB after {env.get('first_n')}",
             f"{env['total_kb']} kB after {env.get('total_n')}",
             "–" if growth is None else f"{growth:+.1f}%", "≤ +10%", "met" if met else "**missed**"]]
    return ("### RSS under mixed requests\n\n"
            + md_table(["VmRSS before", "after the first part", "after all", "growth", "target", "met"],
                       rows, ["---:"] * 4 + ["---"] * 2)
            + "\n\n`bench/mixed.lua` on the records fixture: per 10 requests 4 × /api/health, 3 × GET one "
              "record, 2 × the filtered list, 1 × create; wrk -c64; VmRSS read with the server idle.")


def records_table(run):
    scs = [sc for sc in run.order if table_of(run, sc) == "records"]
    if not scs:
        return ""
    env = read_kv(os.path.join(run.out, "records.env"))
    rows = []
    for sc in scs:
        srv = run.subject(sc)
        tgt, met = met_text(run.check(sc))
        pub = run.targets.get(sc, {}).get("published", {})
        rows.append([f"{sc}", n0(run.med(sc, srv, "rps")),
                     f"{lat(run.med(sc, srv, 'p50'))} / {lat(run.med(sc, srv, 'p99'))}",
                     n2(run.med(sc, srv, "cpu")), run.total(sc, srv, "err"), tgt, met,
                     ", ".join(f"~{n0(v)}" for v in pub.values()), f"`{run.command.get(sc, '')}`"])
    for srv in ("nginx", "stagehand"):
        if ("plain-keepalive", srv) in run.runs:
            sc = "plain-keepalive"
            rows.append([f"peer: {srv} GET /api/health (this run)", n0(run.med(sc, srv, "rps")),
                         f"{lat(run.med(sc, srv, 'p50'))} / {lat(run.med(sc, srv, 'p99'))}",
                         n2(run.med(sc, srv, "cpu")), run.total(sc, srv, "err"), "", "", "", ""])
    rows_n = env.get("rows", "?")
    fill = env.get("fill_rps", [])
    fill = fill if isinstance(fill, list) else [fill]
    return (f"### records ({rows_n} rows in `posts`)\n\n"
            + md_table(["scenario", "req/s", "p50 / p99", "CPU µs/req", "errors", "target", "met",
                        "PocketBase (published, 2 vCPU)", "command"], rows,
                       ["---"] + ["---:"] * 4 + ["---", "---", "---:", "---"])
            + f"\n\nstagehand only, synchronous=FULL; `posts`: title, n, tag ∈ a..e, autodates, indexes (tag) "
              f"and (tag, n); GET one picks among {env.get('ids', '?')} ids at random; creates go to "
              "`posts_create` so every round reads the same table. errors: socket errors + non-2xx, all "
              "rounds (must be 0)."
            + (f" Fill (not timed): {', '.join(fill)} rows/s through POST into a growing table." if fill else ""))


def auth_table(run):
    gets = [sc for sc in run.order if table_of(run, sc) == "auth"]
    fl, tm = run.flood(), run.timing()
    if not gets and not fl and not tm:
        return ""
    out = ["### auth", ""]
    auth = read_kv(os.path.join(run.out, "auth.env"))
    out.append(f"A stagehand of its own (bench/auth_schema.json, `{auth.get('flags', '')}`: every request "
               "comes from loopback, and the default limits would answer 429 at once), pinned like the others; "
               f"{auth.get('pool', '?')} hash thread(s) on {auth.get('server_ncpu', '?')} CPU(s); "
               f"{auth.get('accounts', '?')} accounts signed up beforehand (not timed).")
    out.append("")
    rows = []

    def ok(checks, metric):
        c = [(t, v, met) for t, v, met in checks if t["metric"] == metric]
        return met_text(c) if c else ("", "")

    if fl:
        chk = run.check("auth-flood")
        lg = fl.get("logins") or {}
        if lg:
            rows.append([f"login flood: {fl['env'].get('logins')} sign-ins, -c{fl['env'].get('flood_conns')}",
                         f"**{n2(fl.get('logins_per_s'))} logins/s** ({lg.get('responses', 0):.0f} responses in "
                         f"{fl['elapsed_s']:.1f} s: {lg.get('ok', 0):.0f} 2xx, {lg.get('e400', 0):.0f} 400, "
                         f"{lg.get('e429', 0):.0f} 429, {lg.get('e503', 0):.0f} 503, {lg.get('other', 0):.0f} other; "
                         f"server CPU {n2(fl.get('cpu_ms'))} ms/login); expected ≈ min(pool, CPUs) / hash "
                         f"{lat(fl.get('hash_us'))} = {n2(fl.get('expected_lps'))}/s", *ok(chk, "logins_per_s")])
            rows.append(["503 (hash queue full) during the flood", f"{lg.get('e503', 0):.0f}", *ok(chk, "e503")])
        else:
            rows.append(["login flood", "did not finish (auth-flood-logins.txt)", "", "**missed**"])
        i, d = fl.get("idle") or {}, fl.get("during") or {}
        rows.append([f"/api/health p99, -c{fl['env'].get('health_conns')}: idle → during the flood",
                     f"{lat(i.get('p99'))} → {lat(d.get('p99'))} (**{n2(ratio(d.get('p99'), i.get('p99')))}×**); "
                     f"p50 {lat(i.get('p50'))} → {lat(d.get('p50'))}; {n0(i.get('rps'))} → {n0(d.get('rps'))} req/s; "
                     f"bound max(2× idle, 1 ms) = {lat(fl.get('p99_bound'))}", *ok(chk, "health_p99_over_bound")])
        env = fl["env"]
        hwm = int(env["hwm_kb"]) if env.get("hwm_kb") else None
        base = int(env["base_kb"]) if env.get("base_kb") else None
        rows.append(["server peak RSS during the flood (VmHWM" + (", reset before)" if env.get("hwm_reset") == "1" else " since start)"),
                     f"{mib(hwm)} (base {mib(base)}; highest 0.2 s sample {mib(float(env.get('peak_sampled_kb', 0)))}); "
                     f"bound base + {fl['pool']} × {fl['memlimit'] / 1048576:.0f} MiB + 32 MiB = {mib(fl.get('bound_kb'))}",
                     *ok(chk, "hwm_over_bound")])
    if tm:
        t, met = met_text(run.check("auth-timing"))
        rows.append([f"sign-in latency, median of {tm.get('n', 0):.0f} each: existing identity + wrong password vs unknown identity",
                     f"{lat(tm.get('wrong_median_us'))} vs {lat(tm.get('unknown_median_us'))} (diff {lat(tm.get('abs_diff_us'))}; "
                     f"non-400: {tm.get('non400', 0):.0f})", t, met])
    for sc in gets:
        srv = run.subject(sc)
        t, met = met_text(run.check(sc))
        rows.append([f"{sc}: GET one record", f"{n0(run.med(sc, srv, 'rps'))} req/s, "
                     f"{lat(run.med(sc, srv, 'p50'))} / {lat(run.med(sc, srv, 'p99'))}, "
                     f"**{n2(run.med(sc, srv, 'cpu'))} CPU µs/req**, errors {run.total(sc, srv, 'err')}", t, met])
    out.append(md_table(["measure", "result", "target", "met"], rows, ["---", "---", "---", "---"]))
    return "\n".join(out)


def callgrind_table(run):
    m = run.callgrind()
    if not m:
        return ""
    chk = run.check("callgrind")
    rows = []
    for target in dict.fromkeys(k[0] for k in m):
        sh, ng = m.get((target, "stagehand")), m.get((target, "nginx"))
        c = [x for x in chk if x[0]["target"] == target]
        t, met = met_text(c)
        rows.append([target, n0(sh and sh["per_req"]), n0(ng and ng["per_req"]),
                     n2(ratio(sh and sh["per_req"], ng and ng["per_req"])), t, met])
    n = next(iter(m.values()))["runs"]
    return ("### callgrind: user-space instructions per request\n\n"
            + md_table(["request", "stagehand", "nginx", "ratio", "target", "met"], rows,
                       ["---", "---:", "---:", "---:", "---", "---"])
            + f"\n\n`valgrind --tool=callgrind` on the release build (all threads), one request per round trip on "
              f"one keep-alive connection (`bench/seq_client.py`, same request bytes for both servers); "
              f"(Ir({n[-1][0]}) − Ir({n[0][0]})) / {n[-1][0] - n[0][0]} requests, so start-up and shutdown "
              "cancel out. Repeated runs agree to ~0.3% (nginx) and ~0.05% (stagehand): use it to compare builds. Targets: get-one = notes_public "
              "by id (30 rows), list = `filter=(tag='b')&sort=-n&perPage=20` over them, get-one-token = "
              "notes_private by id with `Authorization`, get-one-token-public = the public record with the same token "
              "(the token check without the private collection's view rule), create = a POST of a note into notes_public (one client: batches of one job); stored logs off (`--logs-max-days 0`) except in health-logs, "
              "which shows what storing each request's log entry adds.")


def profiles(run):
    out = []
    for sc in run.order:
        path = os.path.join(run.out, f"profile-{sc}.txt")
        if not os.path.exists(path) or not os.path.getsize(path):
            continue
        lines = [line.rstrip() for line in read(path).splitlines() if line.strip() and not line.startswith("#")]
        dso = [line.split() for line in read(os.path.join(run.out, f"profile-{sc}-dso.txt")).splitlines()
               if line.strip() and not line.startswith("#")][:6]
        out += [f"{sc}: `profile-{sc}.txt`; by DSO: " + ", ".join(f"{d[1]} {d[0]}" for d in dso if len(d) > 1),
                "", "```", *[re.sub(r"(\s+-){2}\s*$", "", line) for line in lines[:10]], "```", ""]
    if not out:
        return ""
    return "### perf profiles of the scenarios that missed a target (cpu-clock; top 10 symbols)\n\n" + "\n".join(out).rstrip()


# ------------------------------------------------------------------ commands

def main(argv):
    if len(argv) >= 2 and argv[0] == "summary":
        sys.stdout.write(summary(Run(argv[1])))
        return 0
    if len(argv) == 4 and argv[0] == "wrk":
        w = parse_wrk(read(argv[1]))
        if w is None:
            print(f"no wrk summary in {argv[1]}")
            return 0
        cpu = int(argv[2]) / float(argv[3]) * 1e6 / w["req"] if w["req"] else None
        print(f"{w['rps']:10.0f} req/s  p50 {lat(w['p50']):>9}  p99 {lat(w['p99']):>9}  cpu {n2(cpu):>6} µs/req"
              + (f"  ERRORS {w['err']} ({w['bad']} non-2xx)" if w["err"] else ""))
        return 0
    if len(argv) == 3 and argv[0] == "missed":
        return 0 if any(met is False for _, _, met in Run(argv[1]).check(argv[2])) else 1
    if len(argv) == 4 and argv[0] == "callgrind":
        c = Run(argv[1]).callgrind().get((argv[2], argv[3]))
        print(f"{c['per_req']:,.0f} instructions/request" if c else "no result")
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
