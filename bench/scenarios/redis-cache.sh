# redis-cache: what Redis buys and what it costs (--redis). A fresh data dir with
# records_schema.json, `posts` filled through the API to BENCH_REDIS_ROWS rows (default
# 200000), and a redis-server of its own on a unix socket (started and stopped by pid). Timed
# with wrk on one connection (one request per round trip, BENCH_DURATION each), the server on
# the server CPU:
#   list-uncached   an expensive list (a filter on n alone: the (tag, n) index cannot serve it,
#                   every request scans and counts) without Redis and with --count-cache 0;
#   list-counted    the same without Redis, count cache on (the default: the total is kept,
#                   the page is still computed);
#   list-redis      the same with --redis (first request computed and stored, then hits);
#   list-peer       a second instance on the same directory answering the list the first
#                   computed (both with --redis);
#   get-one         GET one record, without and with --redis (it stays on SQLite);
# and creates/s with wrk (-c BENCH_CONNECTIONS, BENCH_DURATION) without and with --redis (the
# table-version bump is the same either way: it is in the writer's commit; Redis adds no
# round trip to a write). Raw: redis-<label>.txt (wrk), redis-create-*.txt; redis.tsv (label,
# req/s, p50, p99, server CPU µs/request).
# shellcheck shell=bash disable=SC2034,SC2153
SC_TYPE=once
SC_SERVERS=stagehand
SC_FIXTURES= # it starts its own servers
SC_TOOLS=redis-server
SC_LABEL="Redis: expensive lists shared, what a write and a point read cost"
RC_ROWS=${BENCH_REDIS_ROWS:-200000}
RC_LIST="/api/collections/posts/records?filter=%28n%3E%3D500000%29&sort=-n&perPage=20"
declare -A RC_PID # port -> server pid (for its CPU ticks)

rc_time() { # rc_time LABEL PORT PATH: one connection, one request per round trip, for DURATION
    local label=$1 port=$2 path=$3 rps p50 p99 t0 t1 n cpu
    local raw=$OUT/redis-$label.txt pid=${RC_PID[$port]}
    t0=$(cpu_ticks "$pid")
    run_child timeout -k 5 $((DURATION_S + 30)) taskset -c "$CLIENT_CPU" \
        wrk -t1 -c1 -d"$DURATION" --latency "http://127.0.0.1:$port$path" >"$raw" 2>&1 ||
        die "redis-cache: $label: wrk failed: $(tail -n 3 "$raw")"
    t1=$(cpu_ticks "$pid")
    grep -qE 'Non-2xx' "$raw" && die "redis-cache: $label: errors: $(grep Non-2xx "$raw")"
    rps=$(awk '/Requests\/sec/ { print $2 }' "$raw")
    p50=$(awk '$1 == "50%" { print $2 }' "$raw")
    p99=$(awk '$1 == "99%" { print $2 }' "$raw")
    n=$(awk '/requests in/ { print $1 }' "$raw")
    cpu=$(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", (b - a) * 1e6 / hz / (n ? n : 1) }')
    printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$rps" "$p50" "$p99" "$cpu" >>"$OUT/redis.tsv"
    log "redis-cache: $label: $rps req/s, p50 $p50, p99 $p99, server CPU $cpu us/request (one connection)"
}

rc_redis_start() {
    local i
    mkdir -p "$TMP/redis"
    redis-server --port 0 --unixsocket "$TMP/redis/redis.sock" --save '' --appendonly no \
        --dir "$TMP/redis" >"$TMP/redis/log" 2>&1 &
    RC_REDIS_PID=$!
    BG_PIDS+=("$RC_REDIS_PID")
    for ((i = 0; i < 100; i++)); do
        [[ -S $TMP/redis/redis.sock ]] && return 0
        sleep 0.1
    done
    die "redis-cache: redis-server did not start ($(tail -n 3 "$TMP/redis/log"))"
}

rc_fill() { # posts to RC_ROWS rows through the API (not timed)
    local port=$1 have
    run_child env BENCH_FILL_LIMIT="$RC_ROWS" timeout -k 5 330 taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$CONNS" -d300s -s "$BENCH_DIR/records_create.lua" \
        "http://127.0.0.1:$port/api/collections/posts/records" >"$OUT/redis-fill.txt" 2>&1 || true
    have=$(json_num "$(http_body "$port" "/api/collections/posts/records?perPage=1&fields=id")" totalItems)
    log "redis-cache: posts has ${have:-?} rows"
}

rc_creates() { # rc_creates LABEL PORT: wrk creates/s into posts_create
    local label=$1 port=$2 rps
    run_child timeout -k 5 $((DURATION_S + 30)) taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$CONNS" -d"$DURATION" -s "$BENCH_DIR/records_create.lua" \
        "http://127.0.0.1:$port/api/collections/posts_create/records" >"$OUT/redis-create-$label.txt" 2>&1 || true
    rps=$(awk '/Requests\/sec/ { print $2 }' "$OUT/redis-create-$label.txt")
    printf 'create-%s\t%s\n' "$label" "${rps:-?}" >>"$OUT/redis.tsv"
    log "redis-cache: creates $label: ${rps:-?}/s"
}

scenario_run() {
    local dir=$TMP/redis-cache id url round
    local -a budget=(--guest-query-budget 0 --query-budget 60000 --rate-limit-all off)
    [[ $RC_ROWS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REDIS_ROWS must be a positive integer"
    rm -rf "$dir" && mkdir -p "$dir/data"
    "$STAGEHAND" collections import "$BENCH_DIR/records_schema.json" --dir "$dir/data" >"$dir/import.log" 2>&1 ||
        die "redis-cache: import failed: $(tail -n 3 "$dir/import.log")"
    rc_redis_start
    url=unix:$TMP/redis/redis.sock

    spawn_stagehand rc "$dir" --sync normal "${budget[@]}" --count-cache 0
    RC_PID[${PORT[rc]}]=${PID[rc]}
    rc_fill "${PORT[rc]}"
    id=$(grep -oE '"id":"[a-z0-9]+"' <<<"$(http_body "${PORT[rc]}" "/api/collections/posts/records?perPage=1&fields=id")" |
        head -n1 | sed 's/.*:"//; s/"$//')
    [[ -n $id ]] || die "redis-cache: no record id"
    rc_time list-uncached "${PORT[rc]}" "$RC_LIST"
    rc_time get-one-plain "${PORT[rc]}" "/api/collections/posts/records/$id"
    stop_server rc

    spawn_stagehand rc "$dir" --sync normal "${budget[@]}"
    RC_PID[${PORT[rc]}]=${PID[rc]}
    rc_time list-counted "${PORT[rc]}" "$RC_LIST"
    stop_server rc

    spawn_stagehand rc "$dir" --sync normal "${budget[@]}" --redis "$url"
    RC_PID[${PORT[rc]}]=${PID[rc]}
    sleep 0.5 # connected
    rc_time list-redis "${PORT[rc]}" "$RC_LIST"
    rc_time get-one-redis "${PORT[rc]}" "/api/collections/posts/records/$id"
    mkdir -p "$TMP/redis-peer"
    spawn_stagehand rcpeer "$TMP/redis-peer" --dir "$dir/data" --sync normal "${budget[@]}" --redis "$url"
    RC_PID[${PORT[rcpeer]}]=${PID[rcpeer]}
    sleep 0.5
    rc_time list-peer "${PORT[rcpeer]}" "$RC_LIST"
    stop_server rcpeer
    stop_server rc

    # creates/s without and with Redis, alternated (3 rounds each) on the same table
    for round in 1 2 3; do
        spawn_stagehand rc "$dir" --sync normal "${budget[@]}"
        rc_creates "plain-$round" "${PORT[rc]}"
        stop_server rc
        spawn_stagehand rc "$dir" --sync normal "${budget[@]}" --redis "$url"
        sleep 0.5
        rc_creates "redis-$round" "${PORT[rc]}"
        stop_server rc
    done
    kill "$RC_REDIS_PID" 2>/dev/null || true
    wait_gone "$RC_REDIS_PID" 10 || kill -KILL "$RC_REDIS_PID" 2>/dev/null || true
}
