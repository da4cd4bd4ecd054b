# bench/lib/common.sh — what every part of scripts/bench shares: the environment knobs, logging,
# the tools check and release build, /proc readers, the run directory (bench/out/<run>/) with
# its cleanup, and loading a scenario file. Sourced by scripts/bench (bash, set -euo pipefail).
# shellcheck shell=bash disable=SC2034 # variables read by the scenario files and scripts/bench

DURATION=${BENCH_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-64}
ONLY=${BENCH_ONLY:-}
STAGEHAND=${STAGEHAND_BIN:-$ROOT/build-release/src/stagehand}
PROFILE=${BENCH_PROFILE:-1}
PROF_DURATION=${BENCH_PROFILE_DURATION:-5s}
SERVER_CPU=0 # servers are pinned here (taskset -c 0)
CLIENT_CPU=1 # wrk and the other clients are pinned here (taskset -c 1)
MAX_CONNS=20000
HEALTH_PATH=/api/health
HEALTH_BODY='{"code":200,"message":"API is healthy.","data":{}}'
TOOLS="wrk taskset cc python3"
NEED_STAGEHAND=0
NGINX=
OUT=
TMP=
ROUND=0

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
    printf '[bench] error: %s\n' "$*" >&2
    exit 1
}

duration_seconds() { # 10 / 10s / 2m / 1h -> seconds
    case $1 in
    *[0-9]s) echo "${1%s}" ;;
    *[0-9]m) echo $((${1%m} * 60)) ;;
    *[0-9]h) echo $((${1%h} * 3600)) ;;
    *) echo "$1" ;;
    esac
}

check_env() { # validate the shared knobs (scenario knobs are checked by their files)
    case $ONLY in
    '' | stagehand | nginx) ;;
    *) die "BENCH_ONLY must be 'stagehand' or 'nginx' (got '$ONLY')" ;;
    esac
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer (got '$ROUNDS')"
    [[ $CONNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONNECTIONS must be a positive integer (got '$CONNS')"
    [[ $PROFILE == 0 || $PROFILE == 1 ]] || die "BENCH_PROFILE must be 0 or 1 (got '$PROFILE')"
    [[ $DURATION =~ ^[0-9]+[smh]?$ ]] || die "BENCH_DURATION must look like 10s, 2m or 10 (got '$DURATION')"
    DURATION_S=$(duration_seconds "$DURATION")
    ((DURATION_S > 0)) || die "BENCH_DURATION must be positive"
    [[ $PROF_DURATION =~ ^[0-9]+[smh]?$ ]] || die "BENCH_PROFILE_DURATION must look like 5s (got '$PROF_DURATION')"
    PROF_S=$(duration_seconds "$PROF_DURATION")
    ((PROF_S > 0)) || die "BENCH_PROFILE_DURATION must be positive"
}

# sc_load NAME: source bench/scenarios/NAME.sh with every SC_ variable reset first. A scenario
# file sets SC_TYPE (wrk: timed in every round, on each of SC_SERVERS; once: scenario_run after
# the rounds), SC_SERVERS (the servers it measures, subject first then peers; BENCH_ONLY drops
# the other), SC_FIXTURES (running servers it needs; default SC_SERVERS), SC_LABEL, and for wrk
# scenarios SC_PATH, SC_LUA, SC_LUA_ARGS, SC_CONNS, SC_PROFILE (perf profile when a target
# in bench/targets.json is missed), SC_PROFILE_WITH (scenarios profiled beside it).
sc_load() {
    local s keep=
    SC_TYPE=wrk SC_SERVERS='' SC_FIXTURES=unset SC_LABEL=$1 SC_PATH=$HEALTH_PATH SC_LUA='' SC_CONNS=$CONNS
    SC_PROFILE=0 SC_PROFILE_WITH='' SC_TOOLS=''
    SC_LUA_ARGS=()
    unset -f scenario_run
    # shellcheck source=/dev/null
    source "$SC_DIR/$1.sh"
    for s in $SC_SERVERS; do
        [[ -n $ONLY && $ONLY == stagehand && $s == nginx ]] && continue
        [[ -n $ONLY && $ONLY == nginx && $s != nginx ]] && continue
        keep+="${keep:+ }$s"
    done
    SC_SERVERS=$keep
    [[ $SC_FIXTURES == unset ]] && SC_FIXTURES=$SC_SERVERS
    return 0
}

# ---------------------------------------------------------------- tools and build

find_nginx() { # nginx lives in /usr/sbin, which a non-root PATH may lack
    local p
    for p in "$(command -v nginx 2>/dev/null)" /usr/sbin/nginx /sbin/nginx; do
        [[ -n $p && -x $p ]] && { NGINX=$p; return 0; }
    done
    return 1
}

missing_tools() {
    local t
    for t in $TOOLS; do
        [[ $t == nginx ]] && { find_nginx || printf 'nginx '; continue; }
        command -v "$t" >/dev/null 2>&1 || printf '%s ' "$t"
    done
}

check_tools() { # every tool in TOOLS, with scripts/bootstrap run once if one is missing
    local missing
    TOOLS=$(tr ' ' '\n' <<<"$TOOLS" | sed '/^$/d' | sort -u | tr '\n' ' ')
    missing=$(missing_tools)
    if [[ -n $missing && -x $ROOT/scripts/bootstrap ]]; then
        log "missing: $missing— running scripts/bootstrap"
        "$ROOT/scripts/bootstrap" || die "scripts/bootstrap failed"
        missing=$(missing_tools)
    fi
    [[ -z $missing ]] || die "missing tools: $missing(wrk, nginx-light, util-linux, a C compiler, python3, valgrind for callgrind; scripts/bootstrap installs the project's)"
    [[ " $TOOLS " != *" nginx "* ]] || find_nginx
}

build_stagehand() { # the release binary, brought up to date (a stale one would bench old code)
    if [[ -n ${STAGEHAND_BIN:-} ]]; then
        [[ -x $STAGEHAND ]] || die "STAGEHAND_BIN=$STAGEHAND is not an executable"
        return
    fi
    if [[ -x $STAGEHAND && -f $ROOT/build-release/build.ninja ]]; then
        ninja -C "$ROOT/build-release" >&2 ||
            log "warning: incremental release build failed; benchmarking the existing, possibly stale, $STAGEHAND"
        return
    fi
    log "building release binary ($STAGEHAND missing)"
    (
        cd "$ROOT"
        [[ -f build-release/build.ninja ]] || meson setup build-release --buildtype=release -Dtests=false
        ninja -C build-release
    ) >&2 || die "release build failed"
    [[ -x $STAGEHAND ]] || die "build finished but $STAGEHAND does not exist"
}

# ---------------------------------------------------------------- /proc and HTTP helpers

CLK_TCK=$(getconf CLK_TCK)

cpu_ticks() { # utime+stime (clock ticks) summed over the given pids
    local pid stat total=0 f
    for pid in "$@"; do
        stat=$(<"/proc/$pid/stat") || die "process $pid is gone"
        read -r -a f <<<"${stat##*) }" # fields after "comm)": state(3) ... utime(14) stime(15)
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

vm_kb() { # vm_kb PID FIELD -> the field of /proc/PID/status in kB (empty if the process is gone)
    awk -v f="$2:" '$1 == f { print $2; exit }' "/proc/$1/status" 2>/dev/null || true
}

rss_kb() { # VmRSS (kB) summed over the given pids
    local pid total=0 v
    for pid in "$@"; do
        v=$(vm_kb "$pid" VmRSS)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

child_pids() { # direct children of a pid (by parent pid, not by name)
    cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | sed '/^$/d' || true
}

port_in_use() { # any IPv4/IPv6 TCP socket bound to this local port
    grep -q "$(printf ':%04X ' "$1")" /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

port_listening() { # 127.0.0.1:port in LISTEN state (0A)
    grep -q "$(printf '0100007F:%04X 00000000:0000 0A' "$1")" /proc/net/tcp
}

http_body() { # http_body PORT PATH -> response body (plain HTTP/1.1 over bash /dev/tcp)
    local resp
    # shellcheck disable=SC2016 # $1/$2 expand in the inner bash
    resp=$(timeout 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n" "$2" >&3
        cat <&3' _ "$1" "$2" 2>/dev/null) || true
    printf '%s' "$resp" | tr -d '\r' | sed '1,/^$/d'
}

json_num() { grep -oE "\"$2\":-?[0-9]+" <<<"$1" | head -n1 | sed 's/.*://' || true; } # BODY KEY

CHILD=
BG_PIDS=() # background clients (wrk, perf, idle_conns) that cleanup ends

run_child() { # run a command in the background and wait for it, so INT/TERM traps fire at once
    local rc=0
    "$@" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=
    return "$rc"
}

wait_gone() { # wait_gone PID SECONDS
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

wait_cpu_idle() { # wait_cpu_idle PID MAX_S: until the process uses < 10% CPU over 0.5 s
    local pid=$1 a b i
    for ((i = 0; i < $2 * 2; i++)); do
        a=$(cpu_ticks "$pid")
        sleep 0.5
        b=$(cpu_ticks "$pid")
        (((b - a) * 20 < CLK_TCK)) && return 0
    done
    return 1
}

report() { python3 "$BENCH_DIR/report.py" "$@"; } # bench/report.py SUBCOMMAND ARGS...

kv() { # kv FILE KEY VALUE: one "key=value" line of a scenario's results (read by report.py)
    printf '%s=%s\n' "$2" "$3" >>"$1"
}

# ---------------------------------------------------------------- the run directory

start_run() { # start_run SCENARIOS...: bench/out/<run>/, its meta.env, temp dir, traps
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    local nofile
    nofile=$(ulimit -n)
    [[ $nofile != unlimited ]] && ((MAX_CONNS > nofile)) && MAX_CONNS=$nofile
    mkdir -p "$BENCH_DIR/out"
    OUT=$BENCH_DIR/out/$(date +%Y%m%d-%H%M%S)
    mkdir -p "$OUT"
    ln -sfn "$(basename "$OUT")" "$BENCH_DIR/out/latest"
    TMP=$(mktemp -d /tmp/stagehand-bench.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    : >"$OUT/runs.tsv"
    {
        echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "duration=$DURATION"
        echo "rounds=$ROUNDS"
        echo "conns=$CONNS"
        echo "server_cpu=$SERVER_CPU"
        echo "client_cpu=$CLIENT_CPU"
        echo "clk_tck=$CLK_TCK"
        echo "cpu_model=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
        echo "kernel=$(uname -r)"
        [[ -n $NGINX ]] && echo "nginx=$("$NGINX" -v 2>&1 | sed 's/.*: //')"
        echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "scenarios=$*"
        echo "stagehand_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    } >"$OUT/meta.env"
    log "output: $OUT; $ROUNDS round(s) of $DURATION; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in $CHILD "${BG_PIDS[@]}"; do
        if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null || true # timeout(1) passes it on
            wait "$p" 2>/dev/null || true
        fi
    done
    stop_servers
    if [[ -n $TMP && -d $TMP ]]; then
        if [[ -n $OUT && -d $OUT ]]; then
            for p in "$TMP"/*/stderr; do
                [[ -f $p ]] && cp "$p" "$OUT/$(basename "$(dirname "$p")")-stderr.log"
            done
            cp "$TMP/nginx/logs/error.log" "$OUT/nginx-error.log" 2>/dev/null || true
        fi
        rm -rf "$TMP"
    fi
    exit "$rc"
}
