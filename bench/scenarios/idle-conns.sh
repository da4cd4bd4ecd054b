# idle-conns: RSS per idle keep-alive connection. Fresh servers (stagehand with an empty data
# dir, nginx); bench/idle_conns.c (compiled into bench/out/) opens BENCH_IDLE_CONNS (default
# 10000; 0 skips) connections, does one request on each and holds them; bytes/connection =
# VmRSS delta / connections held. Kernel socket memory is not in RSS: user-space cost only.
# Results: idle-<server>.txt (the client's output) and idle.tsv.
# shellcheck shell=bash disable=SC2034
SC_TYPE=once
SC_SERVERS="stagehand nginx"
SC_FIXTURES= # it starts its own, fresh
SC_LABEL="RSS per idle keep-alive connection"
IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
IDLE_HOLD_S=60

scenario_run() {
    local bin=$BENCH_DIR/out/idle_conns src=$BENCH_DIR/idle_conns.c s fifo fd i line ok before after out
    local -a pids
    [[ $IDLE_CONNS =~ ^[0-9]+$ ]] || die "BENCH_IDLE_CONNS must be a non-negative integer"
    ((IDLE_CONNS > 0)) || return 0
    if [[ $(ulimit -n) != unlimited ]] && ((IDLE_CONNS + 256 > $(ulimit -n))); then
        log "warning: open-file limit is $(ulimit -n); idle test reduced to $(($(ulimit -n) - 256)) connections"
        IDLE_CONNS=$(($(ulimit -n) - 256))
    fi
    if [[ ! -x $bin || $src -nt $bin ]]; then
        cc -O2 -Wall -Wextra -o "$bin" "$src" || die "could not compile $src"
    fi
    for s in $SC_SERVERS; do
        [[ -n ${PID[$s]:-} ]] && stop_server "$s"
        fixture_up "$s"
        read -r -a pids <<<"$(server_pids "$s")"
        sleep 1
        before=$(rss_kb "${pids[@]}")
        out=$OUT/idle-$s.txt
        fifo=$TMP/idle.fifo
        rm -f "$fifo" && mkfifo "$fifo"
        : >"$out"
        taskset -c "$CLIENT_CPU" "$bin" -n "$IDLE_CONNS" -t "$IDLE_HOLD_S" -T 30 \
            -p "$HEALTH_PATH" 127.0.0.1 "${PORT[$s]}" <"$fifo" >"$out" 2>&1 &
        BG_PIDS+=($!)
        exec {fd}>"$fifo" # idle_conns holds until this is closed
        line=
        for ((i = 0; i < 400; i++)); do # setup is bounded by -T 30 inside idle_conns
            line=$(grep -m1 '^ready ' "$out" || true)
            [[ -n $line ]] && break
            kill -0 "${BG_PIDS[-1]}" 2>/dev/null || break
            sleep 0.1
        done
        ok=$(sed -n 's/^ready ok=\([0-9]*\).*/\1/p' <<<"$line")
        sleep 1 # let the server settle with all connections idle
        after=$(rss_kb "${pids[@]}")
        exec {fd}>&-
        wait_gone "${BG_PIDS[-1]}" 10 || kill -KILL "${BG_PIDS[-1]}" 2>/dev/null || true
        wait "${BG_PIDS[-1]}" 2>/dev/null || true
        printf '%s\t%s\t%s\t%s\t%s\n' "$s" "$IDLE_CONNS" "${ok:-0}" "$before" "$after" >>"$OUT/idle.tsv"
        log "idle: $s held ${ok:-0} of $IDLE_CONNS connections, VmRSS ${before} kB -> ${after} kB"
        stop_server "$s"
        sleep 2
    done
}
