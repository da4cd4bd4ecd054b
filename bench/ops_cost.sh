#!/usr/bin/env bash
# bench/ops_cost.sh — CPU µs per request of GET /api/health with metrics and stored logs
# on and off, in the same run: each server (all its threads) pinned to CPU 0, wrk -t1 -c32 on
# CPU 1, 1 s of warm-up then 5 s measured; the server's utime+stime (read 0.5 s after the load,
# so the log thread's last batch counts) divided by the requests wrk completed. The three
# configurations alternate for ROUNDS rounds (default 5); report the medians.
#
#   bench/ops_cost.sh BASE_BIN [NEW_BIN]
#
# BASE_BIN: a release build without them (e.g. of 97e2641); NEW_BIN (default
# build-release/src/stagehand) runs twice: with --logs-max-days 0 (metrics only) and as is.
set -euo pipefail
BASE=${1:?usage: bench/ops_cost.sh BASE_BIN [NEW_BIN]}
NEW=${2:-$(dirname "$0")/../build-release/src/stagehand}
ROUNDS=${ROUNDS:-5}
tck=$(getconf CLK_TCK)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for r in $(seq "$ROUNDS"); do
  for c in base metrics metrics+logs; do
    d=$tmp/$r-$c
    mkdir -p "$d"
    case $c in
    base) cmd=("$BASE") ;;
    metrics) cmd=("$NEW" --logs-max-days 0) ;;
    *) cmd=("$NEW") ;;
    esac
    taskset -c 0 "${cmd[0]}" serve "${cmd[@]:1}" --listen 127.0.0.1:0 --dir "$d/data" \
      --log-level warn >"$d/stdout" 2>"$d/stderr" &
    pid=$!
    for _ in $(seq 100); do grep -qE '^127' "$d/stdout" 2>/dev/null && break; sleep 0.1; done
    port=$(head -n 1 "$d/stdout" | cut -d: -f2)
    taskset -c 1 wrk -t1 -c32 -d1s "http://127.0.0.1:$port/api/health" >/dev/null
    t0=$(cpu "$pid")
    n=$(taskset -c 1 wrk -t1 -c32 -d5s "http://127.0.0.1:$port/api/health" | awk '/requests in/ {print $1}')
    sleep 0.5
    t1=$(cpu "$pid")
    kill -TERM "$pid"
    wait "$pid" || true
    echo "$r $c requests=$n cpu_us_per_req=$(echo "scale=3; ($t1 - $t0) * 1000000 / $tck / $n" | bc)"
  done
done
