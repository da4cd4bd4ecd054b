# auth-timing: sign-in latency of an existing identity with a wrong password against an unknown
# identity (account enumeration by timing): bench/auth_client sends BENCH_AUTH_TIMING (default
# 200; 0 skips) of each, alternating, one at a time on one keep-alive connection, after 5
# warm-ups each. Raw: auth-timing.txt (one line per request, then a summary line).
# shellcheck shell=bash disable=SC2034
SC_TYPE=once
SC_SERVERS=auth
SC_LABEL="sign-in timing: wrong password vs unknown identity"
AUTH_TIMING_N=${BENCH_AUTH_TIMING:-200}

scenario_run() {
    local user0
    [[ $AUTH_TIMING_N =~ ^[0-9]+$ ]] || die "BENCH_AUTH_TIMING must be a non-negative integer"
    ((AUTH_TIMING_N > 0)) || return 0
    # shellcheck disable=SC2059 # the format is ours (one %d)
    printf -v user0 "$AUTH_EMAIL_FMT" 0
    auth_cli $((60 + AUTH_TIMING_N * 4)) timing users "$user0" wrong-password-1 \
        nobody@bench.example.com "$AUTH_TIMING_N" >"$OUT/auth-timing.txt" 2>&1 ||
        log "warning: auth_client timing exited with status $? ($OUT/auth-timing.txt)"
    log "auth: timing: $(grep -m1 '^summary ' "$OUT/auth-timing.txt" || echo 'no summary')"
}
