# rss-soak: RSS after 1 000 000 mixed requests against its level after the first 100 000, on the
# records fixture (bench/mixed.lua: per 10 requests 4 x /api/health, 3 x GET one record, 2 x the
# list of records-list-total, 1 x POST into posts_create). wrk -c64 on the client CPU, ended
# by the script after BENCH_SOAK_FIRST (100000) and then BENCH_SOAK_TOTAL - BENCH_SOAK_FIRST
# (900000) answers; VmRSS of the server read after each part (the server is idle then, its
# connections closed). Figures in rss-soak.env: base_kb (before), first_kb, total_kb,
# growth_pct = (total - first) / first x 100. Target: growth <= 10%.
# shellcheck shell=bash disable=SC2034
SC_TYPE=once
SC_SERVERS=records
SC_LABEL="RSS after 1 000 000 mixed requests vs after 100 000"
SOAK_FIRST=${BENCH_SOAK_FIRST:-100000}
SOAK_TOTAL=${BENCH_SOAK_TOTAL:-1000000}
SOAK_BUDGET_S=900 # 1 000 000 requests at >= 2 000/s

soak_part() { # soak_part N LABEL: N mixed answers, then the server's VmRSS after 1 s of rest
    local n=$1 label=$2 url="http://127.0.0.1:${PORT[records]}"
    timeout -k 5 "$SOAK_BUDGET_S" taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$CONNS" -d"${SOAK_BUDGET_S}s" -s "$BENCH_DIR/mixed.lua" "$url" -- "$REC_IDS" "$n" \
        >"$OUT/rss-soak-$label.txt" 2>&1 || log "warning: wrk exited with status $? ($OUT/rss-soak-$label.txt)"
    sleep 1
    vm_kb "${PID[records]}" VmRSS
}

scenario_run() {
    local env=$OUT/rss-soak.env base first total
    if ! [[ $SOAK_FIRST =~ ^[1-9][0-9]*$ && $SOAK_TOTAL =~ ^[1-9][0-9]*$ ]] || ((SOAK_TOTAL <= SOAK_FIRST)); then
        die "BENCH_SOAK_FIRST and BENCH_SOAK_TOTAL must be integers, TOTAL > FIRST"
    fi
    [[ -n $REC_IDS && -s $REC_IDS ]] || die "rss-soak: the records fixture has no ids"
    base=$(vm_kb "${PID[records]}" VmRSS)
    log "rss-soak: $SOAK_FIRST mixed requests (RSS before: $base kB)"
    first=$(soak_part "$SOAK_FIRST" first)
    log "rss-soak: $((SOAK_TOTAL - SOAK_FIRST)) more (RSS after $SOAK_FIRST: $first kB)"
    total=$(soak_part "$((SOAK_TOTAL - SOAK_FIRST))" rest)
    kv "$env" first_n "$SOAK_FIRST"
    kv "$env" total_n "$SOAK_TOTAL"
    kv "$env" base_kb "$base"
    kv "$env" first_kb "$first"
    kv "$env" total_kb "$total"
    kv "$env" growth_pct "$(awk -v a="$first" -v b="$total" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')"
    log "rss-soak: RSS $base kB -> $first kB after $SOAK_FIRST -> $total kB after $SOAK_TOTAL" \
        "($(grep -m1 growth_pct "$env" | cut -d= -f2)%; target <= 10%)"
}
