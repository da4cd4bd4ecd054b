#!/usr/bin/env python3
"""test_report: checks bench/report.py's arithmetic on a synthetic run directory.

Writes wrk outputs, runs.tsv, idle.tsv and callgrind files with known numbers into a temp
dir, then checks the medians over rounds, the CPU per request, the ratios against the peer
of the same run, met/missed against bench/targets.json, the callgrind difference and the
Markdown the summary prints. Run: python3 bench/test_report.py (stdlib only).
"""

import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

WRK = """Running 2s test @ http://127.0.0.1:1/api/health
  1 threads and 64 connections
  Latency Distribution
     50%  {p50}
     75%    1.00ms
     90%    2.00ms
     99%  {p99}
  {req} requests in 2.00s, 1.00MB read
{extra}Requests/sec: {rps}
Transfer/sec:      1.00MB
"""


def wrk(req, rps, p50="500.00us", p99="1.50ms", extra=""):
    return WRK.format(req=req, rps=rps, p50=p50, p99=p99, extra=extra)


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = self.tmp.name
        runs = [  # scenario, server, round, requests, req/s, CPU ticks (clk_tck 100)
            ("plain-keepalive", "stagehand", 1, 200000, "100000.00", 150),
            ("plain-keepalive", "nginx", 1, 220000, "110000.00", 140),
            ("plain-keepalive", "stagehand", 2, 180000, "90000.00", 144),
            ("plain-keepalive", "nginx", 2, 200000, "100000.00", 130),
            ("plain-keepalive", "stagehand", 3, 240000, "120000.00", 168),
            ("plain-keepalive", "nginx", 3, 100000, "50000.00", 70),
        ]
        with open(os.path.join(self.out, "runs.tsv"), "w") as f:
            for sc, srv, rnd, req, rps, ticks in runs:
                raw = f"r{rnd}-{sc}-{srv}.txt"
                with open(os.path.join(self.out, raw), "w") as w:
                    extra = "  Non-2xx or 3xx responses: 3\n" if (srv, rnd) == ("stagehand", 2) else ""
                    w.write(wrk(req, rps, extra=extra))
                f.write(f"{sc}\t{srv}\t{rnd}\t{raw}\t{ticks}\twrk -t1 -c64 -d2 --latency /api/health\n")
        with open(os.path.join(self.out, "meta.env"), "w") as f:
            f.write("clk_tck=100\nconns=64\nduration=2s\nrounds=3\n")
        with open(os.path.join(self.out, "idle.tsv"), "w") as f:
            f.write("stagehand\t1000\t1000\t5000\t6500\n")  # 1500 kB / 1000 = 1536 B
        with open(os.path.join(self.out, "callgrind.tsv"), "w") as f:
            for srv, n, ir in (("stagehand", 200, 3_000_000), ("stagehand", 2200, 21_000_000),
                               ("nginx", 200, 5_000_000), ("nginx", 2200, 20_000_000)):
                name = f"callgrind-health-{srv}-{n}.out"
                with open(os.path.join(self.out, name), "w") as c:
                    c.write(f"events: Ir\nsummary: {ir}\n")
                f.write(f"health\t{srv}\t{n}\t{name}\n")
        self.run_ = report.Run(self.out)

    def tearDown(self):
        self.tmp.cleanup()

    def test_wrk_parse(self):
        w = report.parse_wrk(wrk(1000, "500.50", p50="1.50ms", p99="0.00us",
                                 extra="  Socket errors: connect 1, read 2, write 3, timeout 4\n"))
        self.assertEqual((w["req"], w["rps"], w["p50"], w["p99"], w["err"]), (1000, 500.5, 1500.0, None, 10))
        self.assertIsNone(report.parse_wrk("unable to connect to 127.0.0.1:1"))

    def test_medians_cpu_and_errors(self):
        r = self.run_
        self.assertEqual(r.med("plain-keepalive", "stagehand", "rps"), 100000.0)
        self.assertEqual(r.med("plain-keepalive", "nginx", "rps"), 100000.0)
        # CPU µs/req per round: 7.5, 8.0, 7.0 -> median 7.5; nginx: 6.36, 6.5, 7.0 -> 6.5
        self.assertAlmostEqual(r.med("plain-keepalive", "stagehand", "cpu"), 7.5)
        self.assertAlmostEqual(r.med("plain-keepalive", "nginx", "cpu"), 6.5)
        self.assertEqual(r.total("plain-keepalive", "stagehand", "err"), 3)

    def test_targets(self):
        (t, v, met), = self.run_.check("plain-keepalive")  # req/s ≥ 1.0× nginx: 1.0 -> met
        self.assertEqual((t["metric"], v, met), ("rps_ratio", 1.0, True))
        (t, v, met), = self.run_.check("idle-conns")  # 1536 B ≤ 2048 B
        self.assertEqual((v, met), (1536.0, True))
        (t, v, met), = self.run_.check("callgrind")  # 9000 / 7500 = 1.2 > 0.5
        self.assertAlmostEqual(v, 1.2)
        self.assertFalse(met)
        self.assertEqual(self.run_.check("records-create")[0][2], None)  # did not run: no verdict

    def test_callgrind_difference(self):
        m = self.run_.callgrind()
        self.assertEqual(m[("health", "stagehand")]["per_req"], 9000.0)
        self.assertEqual(m[("health", "nginx")]["per_req"], 7500.0)

    def test_summary_and_missed_command(self):
        text = report.summary(self.run_)
        self.assertIn("| plain-keepalive | 100 000 | 100 000 | 1.00 |", text)
        self.assertIn("| health | 9 000 | 7 500 | 1.20 | ≤ 0.5× nginx | **missed** |", text)
        self.assertIn("Socket errors / non-2xx (must be 0): plain-keepalive@stagehand: 3.", text)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report.py")
        self.assertEqual(subprocess.run([sys.executable, script, "missed", self.out, "callgrind"]).returncode, 0)
        self.assertEqual(subprocess.run([sys.executable, script, "missed", self.out, "plain-keepalive"]).returncode, 1)


if __name__ == "__main__":
    unittest.main()
