# auth-flood: a sign-in flood on the auth fixture, once after the rounds. First the time of one
# Argon2id verify (auth_client hash, the server's default parameters, on the server CPU while
# idle: auth-hash.txt); then the /api/health latency probe (auth_client probe: one connection,
# one GET every AUTH_PROBE_MS, paced, so its percentiles are the loop's response time and not
# a client's own backlog) for BENCH_DURATION (idle reference, auth-health-idle.txt); then
# BENCH_AUTH_LOGINS sign-ins at -c64 cycling the accounts (bench/auth_login.lua ends wrk after
# the last one: auth-flood-logins.txt) with the same probe from 0.5 s in until it ends
# (auth-health-flood.txt). Peak RSS is VmHWM, reset with clear_refs 5 just before. Figures go
# to auth-flood.env.
# shellcheck shell=bash disable=SC2034
SC_TYPE=once
SC_SERVERS=auth
SC_LABEL="sign-in flood: logins/s, /api/health p99 and peak RSS during it"
AUTH_LOGINS=${BENCH_AUTH_LOGINS:-1000}
AUTH_FLOOD_CONNS=64
AUTH_HEALTH_CONNS=1
AUTH_PROBE_MS=${BENCH_AUTH_PROBE_MS:-5}
AUTH_FLOOD_BUDGET_S=600 # 1000 logins at ~7-12/s on one core take 85-140 s

scenario_run() {
    local pid=${PID[auth]} url="http://127.0.0.1:${PORT[auth]}" env=$OUT/auth-flood.env
    local base t0 t1 t_a t_b lpid hpid lrc=0 hrc=0 peak r
    [[ $AUTH_LOGINS =~ ^[1-9][0-9]*$ ]] || die "BENCH_AUTH_LOGINS must be a positive integer"
    kv "$env" logins "$AUTH_LOGINS"
    kv "$env" flood_conns "$AUTH_FLOOD_CONNS"
    kv "$env" health_conns "$AUTH_HEALTH_CONNS"
    kv "$env" probe_ms "$AUTH_PROBE_MS"
    if ((AUTH_SODIUM)); then
        timeout -k 5 120 taskset -c "$SERVER_CPU" "$AUTH_CLIENT" hash 10 >"$OUT/auth-hash.txt" 2>&1 ||
            log "warning: auth_client hash failed ($OUT/auth-hash.txt)"
    fi

    run_child timeout -k 5 $((DURATION_S + 30)) taskset -c "$CLIENT_CPU" \
        "$AUTH_CLIENT" 127.0.0.1 "${PORT[auth]}" probe "$HEALTH_PATH" "$AUTH_PROBE_MS" "$DURATION_S" \
        >"$OUT/auth-health-idle.txt" 2>&1 ||
        log "warning: the probe exited with status $? ($OUT/auth-health-idle.txt)"
    sleep 1

    base=$(vm_kb "$pid" VmRSS)
    if echo 5 >"/proc/$pid/clear_refs" 2>/dev/null; then
        kv "$env" hwm_reset 1
    else
        kv "$env" hwm_reset 0
        log "warning: cannot reset VmHWM (/proc/$pid/clear_refs); the peak is since the server started"
    fi
    kv "$env" base_kb "$base"
    t0=$(cpu_ticks "$pid")
    log "auth: flood: $AUTH_LOGINS sign-ins at -c$AUTH_FLOOD_CONNS, /api/health at -c$AUTH_HEALTH_CONNS meanwhile"
    t_a=$EPOCHREALTIME
    timeout -k 5 "$AUTH_FLOOD_BUDGET_S" taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$AUTH_FLOOD_CONNS" -d"${AUTH_FLOOD_BUDGET_S}s" -s "$BENCH_DIR/auth_login.lua" \
        "$url/api/collections/users/auth-with-password" -- \
        "$AUTH_EMAIL_FMT" "$AUTH_ACCOUNTS" "$AUTH_PASSWORD" "$AUTH_LOGINS" >"$OUT/auth-flood-logins.txt" 2>&1 &
    lpid=$!
    BG_PIDS+=("$lpid")
    sleep 0.5 # the pool's threads and queue are busy before the health measurement starts
    timeout -k 5 $((AUTH_FLOOD_BUDGET_S + 30)) taskset -c "$CLIENT_CPU" \
        "$AUTH_CLIENT" 127.0.0.1 "${PORT[auth]}" probe "$HEALTH_PATH" "$AUTH_PROBE_MS" \
        "$((AUTH_FLOOD_BUDGET_S + 20))" >"$OUT/auth-health-flood.txt" 2>&1 &
    hpid=$!
    BG_PIDS+=("$hpid")
    peak=$base
    while kill -0 "$lpid" 2>/dev/null; do # VmRSS samples: a cross-check of VmHWM
        r=$(vm_kb "$pid" VmRSS)
        [[ -n $r ]] && ((r > peak)) && peak=$r
        sleep 0.2
    done
    wait "$lpid" || lrc=$?
    t_b=$EPOCHREALTIME
    kill -INT "$hpid" 2>/dev/null || true # the probe prints its statistics on SIGINT
    wait "$hpid" || hrc=$?
    t1=$(cpu_ticks "$pid")
    kill -0 "$pid" 2>/dev/null || die "the auth server died during the login flood; see logs in $OUT"
    ((lrc == 0)) || log "warning: login wrk exited with status $lrc ($OUT/auth-flood-logins.txt)"
    ((hrc == 0)) || log "warning: the health probe during the flood exited with status $hrc"
    kv "$env" hwm_kb "$(vm_kb "$pid" VmHWM)"
    kv "$env" peak_sampled_kb "$peak"
    kv "$env" cpu_ticks $((t1 - t0))
    kv "$env" wall_s "$(awk -v a="$t_a" -v b="$t_b" 'BEGIN { printf "%.3f", b - a }')"
    log "auth: flood: $(grep -m1 '^logins ' "$OUT/auth-flood-logins.txt" || echo 'did not finish')"
    # wrk left up to -c sign-ins in flight; the pool still hashes them: wait before what follows
    wait_cpu_idle "$pid" 60 || log "warning: the auth server is still busy 60 s after the flood"
}
