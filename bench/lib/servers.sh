# bench/lib/servers.sh — the servers scenarios run against ("fixtures"): start one pinned to
# SERVER_CPU, find its port and pids, stop it. `stagehand` (fresh data dir) and `nginx`
# (bench/nginx.conf.in) are here; bench/fixtures/*.sh add the ones that need data (records,
# auth) as fixture_<name> functions. Sourced by scripts/bench after lib/common.sh.
# shellcheck shell=bash

declare -A PID=()     # fixture -> main pid (nginx: master, from its pid file)
declare -A PORT=()    # fixture -> port on 127.0.0.1
declare -A SPAWN=()   # fixture -> pid we spawned (for reaping)
declare -A SKIPPED=() # fixture -> why it could not be set up

server_pids() { # pids whose CPU / RSS count for a fixture (nginx: master + workers)
    if [[ $1 == nginx ]]; then
        echo "${PID[nginx]}" "$(child_pids "${PID[nginx]}" | tr '\n' ' ')"
    else
        echo "${PID[$1]}"
    fi
}

# spawn_stagehand NAME DIR [SERVE_FLAGS...]: start a server on 127.0.0.1:0 with data in
# DIR/data (which must exist), pinned to SERVER_CPU; sets PID/SPAWN/PORT[NAME].
spawn_stagehand() {
    local name=$1 dir=$2 pid addr i
    shift 2
    : >"$dir/stdout" # exists before the poll below starts
    taskset -c "$SERVER_CPU" "$STAGEHAND" serve --listen 127.0.0.1:0 --dir "$dir/data" \
        --log-level warn --max-connections "$MAX_CONNS" "$@" >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
    SPAWN[$name]=$pid PID[$name]=$pid
    addr=
    for ((i = 0; i < 100; i++)); do
        addr=$(grep -m1 -E '^127\.0\.0\.1:[0-9]+$' "$dir/stdout" || true)
        [[ -n $addr ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z $addr ]]; then
        tail -n 20 "$dir/stderr" >&2 || true
        die "$name did not print its address within 10s (see stderr above)"
    fi
    PORT[$name]=${addr##*:}
    log "$name: pid $pid on $addr"
}

fixture_stagehand() { # a stagehand with an empty data dir (the /api/health scenarios)
    local dir=$TMP/stagehand
    local -a extra=()
    # BENCH_STAGEHAND_FLAGS: more serve flags, e.g. "--logs-max-days 0" (stored logs off)
    read -r -a extra <<<"${BENCH_STAGEHAND_FLAGS:-}"
    rm -rf "$dir" && mkdir -p "$dir/data"
    spawn_stagehand stagehand "$dir" "${extra[@]}"
}

nginx_conf() { # nginx_conf PREFIX PORT: bench/nginx.conf.in filled in, to PREFIX/nginx.conf
    mkdir -p "$1/logs" "$1/tmp"
    sed -e "s|@PREFIX@|$1|g" -e "s|@PORT@|$2|g" \
        -e "s|@WORKER_CONNECTIONS@|$MAX_CONNS|g" -e "s|@RLIMIT_NOFILE@|$(ulimit -n)|g" \
        "$BENCH_DIR/nginx.conf.in" >"$1/nginx.conf"
}

free_port() { # a free loopback port below the ephemeral range
    local port
    while :; do
        port=$((20000 + RANDOM % 12000))
        port_in_use "$port" || { echo "$port"; return; }
    done
}

fixture_nginx() { # nginx: one worker, `return 200` of /api/health's body, access log off
    local prefix=$TMP/nginx port pid master attempt i workers
    for ((attempt = 1; attempt <= 5; attempt++)); do
        rm -rf "$prefix"
        port=$(free_port)
        nginx_conf "$prefix" "$port"
        taskset -c "$SERVER_CPU" "$NGINX" -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" \
            >"$prefix/logs/stdout.log" 2>&1 &
        pid=$!
        SPAWN[nginx]=$pid
        master='' workers=''
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            if [[ -s $prefix/nginx.pid ]] && port_listening "$port"; then
                master=$(<"$prefix/nginx.pid")
                workers=$(child_pids "$master")
                [[ -n $workers ]] && break
            fi
            sleep 0.1
        done
        if [[ -n $master && -n $workers ]]; then
            PID[nginx]=$master PORT[nginx]=$port
            log "nginx: master $master, worker(s) ${workers//$'\n'/ } on 127.0.0.1:$port"
            return
        fi
        log "nginx failed to start on port $port (attempt $attempt):"
        cat "$prefix/logs/error.log" "$prefix/logs/stdout.log" 2>/dev/null | tail -n 5 >&2 || true
        PID[nginx]=${master:-$pid}
        stop_server nginx
    done
    die "could not start nginx"
}

fixture_up() { # fixture_up NAME: start it (fixture_NAME), check /api/health when it has one
    local body
    [[ -n ${PID[$1]:-} || -n ${SKIPPED[$1]:-} ]] && return 0
    "fixture_$1" || true
    [[ -n ${PID[$1]:-} ]] || return 0 # skipped: fixture_NAME called fixture_skip
    body=$(http_body "${PORT[$1]}" "$HEALTH_PATH")
    [[ $body == "$HEALTH_BODY" ]] || log "warning: $1 GET $HEALTH_PATH body is '$body', expected '$HEALTH_BODY'"
}

fixture_skip() { # fixture_skip NAME REASON: the scenarios that need NAME are left out
    log "warning: $2; scenarios on $1 skipped"
    SKIPPED[$1]=$2
    kv "$OUT/skipped.env" "$1" "$2"
    [[ -n ${PID[$1]:-} ]] && stop_server "$1"
    return 0
}

fixture_ok() { # fixture_ok SCENARIO: its fixtures are up (else a note, and status 1)
    local s
    for s in $SC_FIXTURES; do
        [[ -n ${SKIPPED[$s]:-} ]] && return 1
        [[ -n ${PID[$s]:-} ]] || die "$1 needs the $s fixture, which is not running"
        kill -0 "${PID[$s]}" 2>/dev/null || die "$s (pid ${PID[$s]}) died; see logs in $OUT"
    done
    return 0
}

stop_server() {
    local s=$1 pid=${PID[$1]:-} spawned=${SPAWN[$1]:-}
    for pid in $pid $spawned; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            if ! wait_gone "$pid" 10; then
                log "$s (pid $pid) ignored SIGTERM for 10s, sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    done
    [[ -n $spawned ]] && { wait "$spawned" 2>/dev/null || true; }
    unset "PID[$s]" "SPAWN[$s]" "PORT[$s]"
}

stop_servers() {
    local s
    for s in "${!PID[@]}"; do stop_server "$s"; done
}
