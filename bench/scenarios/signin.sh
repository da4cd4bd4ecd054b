# signin: sign-ins/s on one core, stagehand's Argon2id at its default parameters against the
# work Parse Server 9 does per sign-in (a bcrypt cost-10 verify with @node-rs/bcrypt, Parse's
# binding: bench/peers/parse-bcrypt/server.mjs; Parse itself needs MongoDB, which cannot run
# here). Own servers, all pinned to SERVER_CPU, each with BENCH_SIGNIN_ACCOUNTS (64) accounts
# of the same password: `stagehand` as shipped (its pool sizes itself to the one CPU it may
# run on: 1 hashing thread, SCHED_BATCH + nice 19), `stagehand-nice0` (--hash-nice 0
# --hash-sched normal: the hashing thread at the priority node's threads run at, so that
# another process on the shared core cannot take more from one side than from the other) and
# `parse-bcrypt` (node; libuv's 4 pool threads on the same one core). Interleaved rounds
# (BENCH_ROUNDS; the server order rotates each round) of wrk -c BENCH_SIGNIN_CONNS (8) for
# BENCH_DURATION on CLIENT_CPU cycling the accounts (bench/auth_login.lua), after a 2 s warm-up
# run of each; after each run
# the server is let go idle (the sign-ins wrk left in flight still hash). Per run: 2xx
# sign-ins/s, the server's CPU per sign-in (utime+stime of all its threads / 2xx answers:
# what one sign-in costs, whatever share of the core the server got) and CPU/wall (1.00 = one
# full core; less: another process on the shared core took the rest). Medians and the
# ratios to the peer go to signin.md (in the summary), the runs to signin.tsv. Knob
# BENCH_SIGNIN_PEER_LIB=bcryptjs runs the peer on Parse's pure-JS fallback instead.
# shellcheck shell=bash disable=SC2034,SC2153,SC2154 # PID, PORT, SPAWN: associative (lib/servers.sh)
SC_TYPE=once
SC_SERVERS="stagehand"
SC_FIXTURES=''
SC_TOOLS="node npm"
SC_LABEL="sign-ins/s on one core: Argon2id (m=19 MiB, t=2) vs Parse's bcrypt cost 10"
SIGNIN_ACCOUNTS=${BENCH_SIGNIN_ACCOUNTS:-64}
SIGNIN_CONNS=${BENCH_SIGNIN_CONNS:-8}
SIGNIN_PEER_LIB=${BENCH_SIGNIN_PEER_LIB:-node-rs}
SIGNIN_PEER_DIR=$BENCH_DIR/peers/parse-bcrypt
SIGNIN_SERVERS=(stagehand stagehand-nice0 parse-bcrypt)

signin_stagehand() { # signin_stagehand NAME FLAGS...: a fresh stagehand with the accounts signed up
    local name=$1 dir=$TMP/signin-$1
    shift
    rm -rf "$dir" && mkdir -p "$dir/data"
    "$STAGEHAND" collections import "$BENCH_DIR/auth_schema.json" --dir "$dir/data" >"$dir/import.log" 2>&1 ||
        die "signin: collections import failed: $(tail -n 3 "$dir/import.log" | tr '\n' ' ')"
    spawn_stagehand "$name" "$dir" --rate-limit-exempt "$AUTH_EXEMPT" "$@"
    kv "$OUT/signin.env" "flags_$name" "--rate-limit-exempt $AUTH_EXEMPT $*"
    timeout -k 5 300 taskset -c "$CLIENT_CPU" "$AUTH_CLIENT" 127.0.0.1 "${PORT[$name]}" \
        signup users "$AUTH_EMAIL_FMT" 0 "$SIGNIN_ACCOUNTS" "$AUTH_PASSWORD" >"$OUT/signin-signup-$name.txt" 2>&1 ||
        die "signin: sign-ups on $name failed: $(tail -n 3 "$OUT/signin-signup-$name.txt" | tr '\n' ' ')"
}

signin_peer() { # the node peer, its pinned packages installed from package-lock.json
    local dir=$TMP/signin-peer pid addr i
    mkdir -p "$dir/app" # a copy, so node_modules stays out of the source tree
    cp "$SIGNIN_PEER_DIR"/{package.json,package-lock.json,server.mjs} "$dir/app/"
    (cd "$dir/app" && npm ci --no-audit --no-fund --loglevel=error) >"$OUT/signin-npm.log" 2>&1 ||
        die "signin: npm ci of $SIGNIN_PEER_DIR failed ($OUT/signin-npm.log)"
    : >"$dir/stdout"
    taskset -c "$SERVER_CPU" node "$dir/app/server.mjs" "$AUTH_EMAIL_FMT" "$SIGNIN_ACCOUNTS" \
        "$AUTH_PASSWORD" "$SIGNIN_PEER_LIB" >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
    SPAWN[parse-bcrypt]=$pid PID[parse-bcrypt]=$pid
    for ((i = 0; i < 1200; i++)); do # 64 cost-10 hashes first: ~5-20 s on a shared core
        addr=$(grep -m1 -E '^127\.0\.0\.1:[0-9]+$' "$dir/stdout" || true)
        [[ -n $addr ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n $addr ]] || die "signin: the peer did not start: $(tail -n 5 "$dir/stderr" | tr '\n' ' ')"
    PORT[parse-bcrypt]=${addr##*:}
    kv "$OUT/signin.env" peer "node $(node --version) $SIGNIN_PEER_LIB $(node -p \
        "require('$dir/app/node_modules/$([[ $SIGNIN_PEER_LIB == bcryptjs ]] && echo bcryptjs || echo @node-rs/bcrypt)/package.json').version")"
    log "parse-bcrypt: pid $pid on $addr ($SIGNIN_PEER_LIB)"
}

signin_run() { # signin_run SERVER: one timed wrk run -> a line of signin.tsv
    local s=$1 url="http://127.0.0.1:${PORT[$1]}" pid=${PID[$1]} txt=$OUT/signin-$1-r$ROUND.txt
    local c0 c1 w0 w1 rc=0
    wait_cpu_idle "$pid" 60 || log "warning: $s is still busy before its run"
    c0=$(cpu_ticks "$pid")
    w0=$EPOCHREALTIME
    timeout -k 5 $((DURATION_S + 60)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$SIGNIN_CONNS" -d"$DURATION" \
        --timeout 30s -s "$BENCH_DIR/auth_login.lua" "$url/api/collections/users/auth-with-password" -- \
        "$AUTH_EMAIL_FMT" "$SIGNIN_ACCOUNTS" "$AUTH_PASSWORD" 1000000000 >"$txt" 2>&1 || rc=$?
    c1=$(cpu_ticks "$pid")
    w1=$EPOCHREALTIME
    ((rc == 0)) || die "signin: wrk against $s exited with status $rc ($txt)"
    # "N requests in 10.01s", "Non-2xx or 3xx responses: M" -> ok/s, CPU ms per ok, CPU/wall
    awk -v s="$s" -v r="$ROUND" -v c="$((c1 - c0))" -v hz="$CLK_TCK" -v w="$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" '
        / requests in / { n = $1; d = $4; sub(/s,?$/, "", d) }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        END {
            ok = n - bad
            if (ok <= 0) { print "signin: no sign-in succeeded on " s > "/dev/stderr"; exit 1 }
            printf "%s\t%d\t%d\t%d\t%.2f\t%.2f\t%.1f\t%.2f\n", s, r, ok, bad, d, ok / d, c * 1000 / hz / ok, c / hz / w
        }' "$txt" >>"$OUT/signin.tsv" || die "signin: no successful sign-in against $s ($txt)"
    log "signin: round $ROUND $s: $(tail -n1 "$OUT/signin.tsv" | cut -f6) sign-ins/s"
}

scenario_run() {
    local i n s
    [[ $SIGNIN_ACCOUNTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_SIGNIN_ACCOUNTS must be a positive integer"
    [[ $SIGNIN_CONNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_SIGNIN_CONNS must be a positive integer"
    [[ $SIGNIN_PEER_LIB == node-rs || $SIGNIN_PEER_LIB == bcryptjs ]] ||
        die "BENCH_SIGNIN_PEER_LIB must be node-rs or bcryptjs"
    auth_build_client || die "signin: could not compile bench/auth_client.c"
    : >"$OUT/signin.tsv"
    kv "$OUT/signin.env" conns "$SIGNIN_CONNS"
    kv "$OUT/signin.env" accounts "$SIGNIN_ACCOUNTS"
    kv "$OUT/signin.env" server_ncpu "$(taskset -c "$SERVER_CPU" nproc)"
    if ((AUTH_SODIUM)); then # one Argon2id verify alone, same core, same parameters
        timeout -k 5 120 taskset -c "$SERVER_CPU" "$AUTH_CLIENT" hash 10 >"$OUT/signin-hash.txt" 2>&1 ||
            log "warning: auth_client hash failed ($OUT/signin-hash.txt)"
    fi
    signin_stagehand stagehand
    signin_stagehand stagehand-nice0 --hash-nice 0 --hash-sched normal
    signin_peer
    for s in "${SIGNIN_SERVERS[@]}"; do # warm-up, not counted: node's JIT, the pools' first threads
        timeout -k 5 60 taskset -c "$CLIENT_CPU" wrk -t1 -c"$SIGNIN_CONNS" -d2s --timeout 30s \
            -s "$BENCH_DIR/auth_login.lua" "http://127.0.0.1:${PORT[$s]}/api/collections/users/auth-with-password" \
            -- "$AUTH_EMAIL_FMT" "$SIGNIN_ACCOUNTS" "$AUTH_PASSWORD" 1000000000 >"$OUT/signin-$s-warmup.txt" 2>&1 ||
            log "warning: the warm-up run against $s failed ($OUT/signin-$s-warmup.txt)"
    done
    for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
        n=${#SIGNIN_SERVERS[@]}
        for ((i = 0; i < n; i++)); do
            s=${SIGNIN_SERVERS[$(((i + ROUND - 1) % n))]}
            signin_run "$s"
        done
    done
    for s in "${SIGNIN_SERVERS[@]}"; do stop_server "$s"; done
    signin_table >"$OUT/signin.md"
    cat "$OUT/signin.md" >&2
}

signin_table() { # signin.tsv -> the Markdown table of medians and ratios to the peer
    local hash_ms
    hash_ms=$(sed -n 's/^summary median_us=\([0-9.]*\).*/\1/p' "$OUT/signin-hash.txt" 2>/dev/null || true)
    awk -F'\t' -v rounds="$ROUNDS" -v conns="$SIGNIN_CONNS" -v d="$DURATION" -v hash_us="$hash_ms" \
        -v peer="$(sed -n 's/^peer=//p' "$OUT/signin.env")" '
        function med(list, k, a, m, i, j, t) {
            m = split(list, a, " ")
            for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
        }
        { if (!($1 in seen)) { seen[$1] = 1; order[++ns] = $1 }
          rate[$1] = rate[$1] " " $6; cpu[$1] = cpu[$1] " " $7; core[$1] = core[$1] " " $8; bad[$1] += $4 }
        END {
            printf "### Sign-in throughput on one core (scripts/bench signin)\n\n"
            printf "wrk -t1 -c%s -d%s per run, %s interleaved round(s), medians; every server pinned to one CPU; " \
                "peer: %s, bcrypt cost 10", conns, d, rounds, peer
            if (hash_us != "") printf "; one Argon2id verify alone (m=19 MiB, t=2) on that CPU: %.1f ms", hash_us / 1000
            printf ".\n\n| server | sign-ins/s (runs) | vs peer | CPU ms per sign-in | sign-ins per CPU-second | vs peer | CPU/wall | non-2xx |\n"
            printf "|---|---:|---:|---:|---:|---:|---:|---:|\n"
            p = ("parse-bcrypt" in seen) ? med(rate["parse-bcrypt"]) : 0
            pc = ("parse-bcrypt" in seen) ? med(cpu["parse-bcrypt"]) : 0
            for (i = 1; i <= ns; i++) {
                s = order[i]; r = med(rate[s]); c = med(cpu[s])
                printf "| %s | %.1f (%s) | %s | %.1f | %.1f | %s | %.2f | %d |\n", s, r, substr(rate[s], 2),
                    (p > 0 ? sprintf("%.2fx", r / p) : "-"), c, 1000 / c,
                    (pc > 0 ? sprintf("%.2fx", pc / c) : "-"), med(core[s]), bad[s]
            }
            printf "\nCPU/wall below ~0.9: the server did not get its whole core (other processes on it); " \
                "CPU per sign-in does not depend on that share, sign-ins/s does.\n"
            printf "\nTarget: stagehand >= 1.5x parse-bcrypt.\n"
        }' "$OUT/signin.tsv"
}
