# realtime: SSE fan-out. bench/sse_client.c (libuv; compiled into bench/out/) is the load client.
# (1) BENCH_RT_CLIENTS (default 10000) streams subscribed to rt0/*: VmRSS per stream (delta over
#     the streams held / streams), then BENCH_RT_CREATES (100) creates one after another, each
#     timed from its acknowledgement (and from its send) to its event reaching the last stream
#     (p50/p99/max).
# (2) creates/s of 64 wrk connections spread over rt0..rt9 (bench/realtime_create.lua) without
#     subscribers, then with BENCH_RT_CLIENTS2 (1000) streams spread over the ten collections.
# (0) first, bench/loopback_send.c (pinned like the server) measures the kernel's floor: the
#     CPU of one small send() to an idle loopback stream, times RT_CLIENTS = the least one
#     core needs per event before any work of the server's own.
# Each phase also gives the server's own cost, which the shared VM's load does not blur as
# much as the wall clock: CPU time (all threads, from /proc/PID/task/*/schedstat) per create,
# the time its threads waited for a CPU while runnable (run-queue wait: a fan-out delay far
# above its CPU time was spent waiting for the core, not working), and write syscalls per
# create (/proc/PID/io syscw: one per stream written, plus the create's own answer and its
# database writes). BENCH_RT_FLAGS adds serve flags (e.g. "--realtime-coalesce 50ms").
# Fresh server, synchronous=FULL. Results: realtime-*.txt and realtime.tsv.
# shellcheck shell=bash disable=SC2034
SC_TYPE=once
SC_SERVERS=stagehand
SC_FIXTURES= # it starts its own, fresh
SC_LABEL="realtime: 10 000 SSE streams (RSS, fan-out delay), creates/s with 1 000 subscribers"
RT_CLIENTS=${BENCH_RT_CLIENTS:-10000}
RT_CREATES=${BENCH_RT_CREATES:-100}
RT_CLIENTS2=${BENCH_RT_CLIENTS2:-1000}

rt_cost() { # rt_cost PID -> "cpu_ns runq_wait_ns write_syscalls" of the process, all threads
    local cpu
    cpu=$(cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{c += $1; w += $2} END {printf "%.0f %.0f", c, w}')
    echo "$cpu $(awk '/^syscw:/ {print $2}' /proc/"$1"/io 2>/dev/null)"
}

rt_cost_per() { # rt_cost_per "BEFORE" "AFTER" N -> per-unit figures of N units between them
    awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {
        split(a, x, " "); split(b, y, " ");
        if (n <= 0) n = 1;
        printf "cpu_us=%.1f runq_wait_us=%.1f writes=%.2f", (y[1] - x[1]) / n / 1000,
            (y[2] - x[2]) / n / 1000, (y[3] - x[3]) / n }'
}

rt_schema() { # ten open collections rt0..rt9
    local i sep=
    printf '['
    for ((i = 0; i < 10; i++)); do
        printf '%s{"name":"rt%d","type":"base","fields":[{"name":"title","type":"text"},' "$sep" "$i"
        printf '{"name":"n","type":"number"},{"name":"tag","type":"text"}],'
        printf '"listRule":"","viewRule":"","createRule":"","updateRule":"","deleteRule":""}'
        sep=,
    done
    printf ']\n'
}

scenario_run() {
    local bin=$BENCH_DIR/out/sse_client src=$BENCH_DIR/sse_client.c dir=$TMP/realtime out line i
    local before after ok pid wrk_out cps0 cps1 dur c0 c1 cost0 cost1 cost2
    local -a flags
    read -r -a flags <<<"${BENCH_RT_FLAGS:-}"
    [[ $RT_CLIENTS =~ ^[0-9]+$ && $RT_CLIENTS2 =~ ^[0-9]+$ && $RT_CREATES =~ ^[0-9]+$ ]] ||
        die "BENCH_RT_CLIENTS, BENCH_RT_CLIENTS2 and BENCH_RT_CREATES must be integers"
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    if [[ $(ulimit -n) != unlimited ]] && ((RT_CLIENTS + 512 > $(ulimit -n))); then
        log "warning: open-file limit is $(ulimit -n); realtime test reduced to $(($(ulimit -n) - 512)) streams"
        RT_CLIENTS=$(($(ulimit -n) - 512))
    fi
    if [[ ! -x $bin || $src -nt $bin ]]; then
        cc -O2 -Wall -Wextra -D_GNU_SOURCE -o "$bin" "$src" -luv || die "could not compile $src"
    fi
    if [[ ! -x $BENCH_DIR/out/loopback_send || $BENCH_DIR/loopback_send.c -nt $BENCH_DIR/out/loopback_send ]]; then
        cc -O2 -Wall -Wextra -o "$BENCH_DIR/out/loopback_send" "$BENCH_DIR/loopback_send.c" ||
            die "could not compile loopback_send.c"
    fi
    line=$(taskset -c "$SERVER_CPU" "$BENCH_DIR/out/loopback_send" -n 2000 -r 20 || echo "loopback_send failed")
    log "realtime: kernel floor: $line; x $RT_CLIENTS streams:" \
        "$(awk -v l="$line" -v n="$RT_CLIENTS" 'BEGIN {
            if (match(l, /best_us_per_send=[0-9.]+/)) printf "%.1f ms", substr(l, RSTART + 17, RLENGTH - 17) * n / 1000
            else printf "?" }') per event at best on one core"
    printf 'floor\t%s\n' "$line" >>"$OUT/realtime.tsv"
    rm -rf "$dir" && mkdir -p "$dir/data"
    rt_schema >"$dir/schema.json"
    "$STAGEHAND" collections import "$dir/schema.json" --dir "$dir/data" >/dev/null ||
        die "realtime: schema import failed"
    spawn_stagehand realtime "$dir" --realtime-max-clients $((RT_CLIENTS + 1000)) "${flags[@]}"
    pid=${PID[realtime]}
    sleep 1
    # (1) RSS per stream and fan-out delay
    before=$(rss_kb "$pid")
    out=$OUT/realtime-fanout.txt
    taskset -c "$CLIENT_CPU" "$bin" -n "$RT_CLIENTS" -C 1 -e "$RT_CREATES" -w 3 \
        127.0.0.1 "${PORT[realtime]}" >"$out" 2>&1 &
    BG_PIDS+=($!)
    line=
    for ((i = 0; i < 1200; i++)); do # bounded: 120 s to set up
        line=$(grep -m1 '^ready ' "$out" || true)
        [[ -n $line ]] && break
        kill -0 "${BG_PIDS[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    sleep 1 # inside the client's 3 s wait: every stream open and idle
    after=$(rss_kb "$pid")
    c0=$(rt_cost "$pid") # the creates start after the client's 3 s wait
    ok=$(sed -n 's/^ready clients=\([0-9]*\).*/\1/p' <<<"$line")
    wait_gone "${BG_PIDS[-1]}" 120 || kill -KILL "${BG_PIDS[-1]}" 2>/dev/null || true
    wait "${BG_PIDS[-1]}" 2>/dev/null || true
    c1=$(rt_cost "$pid")
    cost0=$(rt_cost_per "$c0" "$c1" "$RT_CREATES")
    line=$(grep -m1 '^delay_ack_ms' "$out" || echo "delay: none ($(tail -n1 "$out"))")
    line="$line server per create: $cost0"
    log "realtime: ${ok:-0} streams, VmRSS ${before} kB -> ${after} kB" \
        "($(((${after:-0} - ${before:-0}) * 1024 / (${ok:-1} > 0 ? ${ok:-1} : 1))) B/stream); $line"
    printf 'fanout\t%s\t%s\t%s\t%s\n' "${ok:-0}" "$before" "$after" "$line" >>"$OUT/realtime.tsv"
    sleep 2
    # (2) creates/s without and with subscribers
    dur=$(duration_seconds "$DURATION")
    wrk_out=$OUT/realtime-wrk0.txt
    c0=$(rt_cost "$pid")
    taskset -c "$CLIENT_CPU" wrk -t2 -c64 -d"${dur}s" -s "$BENCH_DIR/realtime_create.lua" \
        "http://127.0.0.1:${PORT[realtime]}" >"$wrk_out" 2>&1 || true
    c1=$(rt_cost "$pid")
    cps0=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$wrk_out")
    cost1=$(rt_cost_per "$c0" "$c1" "$(awk -v r="${cps0:-0}" -v d="$dur" 'BEGIN {printf "%d", r * d}')")
    out=$OUT/realtime-hold.txt
    taskset -c "$CLIENT_CPU" "$bin" -n "$RT_CLIENTS2" -C 10 -w 0 -t $((dur + 3)) \
        127.0.0.1 "${PORT[realtime]}" >"$out" 2>&1 &
    BG_PIDS+=($!)
    for ((i = 0; i < 600; i++)); do
        grep -q '^ready ' "$out" && break
        kill -0 "${BG_PIDS[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    wrk_out=$OUT/realtime-wrk1.txt
    c0=$(rt_cost "$pid")
    taskset -c "$CLIENT_CPU" wrk -t2 -c64 -d"${dur}s" -s "$BENCH_DIR/realtime_create.lua" \
        "http://127.0.0.1:${PORT[realtime]}" >"$wrk_out" 2>&1 || true
    c1=$(rt_cost "$pid")
    cps1=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$wrk_out")
    cost2=$(rt_cost_per "$c0" "$c1" "$(awk -v r="${cps1:-0}" -v d="$dur" 'BEGIN {printf "%d", r * d}')")
    wait_gone "${BG_PIDS[-1]}" 30 || kill -KILL "${BG_PIDS[-1]}" 2>/dev/null || true
    wait "${BG_PIDS[-1]}" 2>/dev/null || true
    log "realtime: creates/s ${cps0:-?} without subscribers (server per create: $cost1)," \
        "${cps1:-?} with $RT_CLIENTS2 (server per create: $cost2) ($(tail -n1 "$out"))"
    printf 'creates\t%s\t%s\t%s\t%s\t%s\t%s\n' "$RT_CLIENTS2" "${cps0:-}" "${cps1:-}" "$(tail -n1 "$out")" \
        "$cost1" "$cost2" >>"$OUT/realtime.tsv"
    stop_server realtime
}
