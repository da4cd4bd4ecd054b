# bench/lib/measure.sh — the timed run of a wrk scenario and its perf profile. The method:
# wrk -t1 on CLIENT_CPU against a server on SERVER_CPU; server CPU is utime+stime from
# /proc/PID/stat before and after (nginx: master + workers). Raw outputs go to
# $OUT/r<round>-<scenario>-<server>.txt and one line per run to $OUT/runs.tsv
# (scenario, server, round, raw file, CPU ticks, command); bench/report.py does the arithmetic.
# Sourced by scripts/bench after lib/common.sh and lib/servers.sh.
# shellcheck shell=bash

wrk_cmd() { # wrk_cmd SERVER DURATION -> the scenario's wrk command, one word per line
    local -a cmd=(wrk -t1 -c"$SC_CONNS" -d"$2" --latency)
    [[ -n $SC_LUA ]] && cmd+=(-s "$SC_LUA")
    cmd+=("http://127.0.0.1:${PORT[$1]}$SC_PATH")
    ((${#SC_LUA_ARGS[@]})) && cmd+=(-- "${SC_LUA_ARGS[@]}")
    printf '%s\n' "${cmd[@]}"
}

run_wrk() { # run_wrk SCENARIO SERVER: one timed run (the loaded scenario's wrk command)
    local name=$1 s=$2 raw t0 t1 shown
    local -a pids cmd
    mapfile -t cmd < <(wrk_cmd "$s" "$DURATION")
    raw=r$ROUND-$name-$s.txt
    read -r -a pids <<<"$(server_pids "$s")"
    t0=$(cpu_ticks "${pids[@]}")
    run_child timeout -k 5 $((DURATION_S + 30)) taskset -c "$CLIENT_CPU" "${cmd[@]}" >"$OUT/$raw" 2>&1 ||
        log "warning: wrk exited with status $? ($OUT/$raw)"
    t1=$(cpu_ticks "${pids[@]}")
    shown="${cmd[*]}"
    shown=${shown//http:\/\/127.0.0.1:${PORT[$s]}/} # the port changes from run to run
    shown=${shown//$ROOT\//}                          # paths relative to the repository
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$s" "$ROUND" "$raw" $((t1 - t0)) "$shown" >>"$OUT/runs.tsv"
    log "round $ROUND $(printf '%-22s %-10s' "$name" "$s") $(report wrk "$OUT/$raw" $((t1 - t0)) "$CLK_TCK")"
    sleep 1
}

profile_scenario() { # profile_scenario NAME: perf profiles of NAME and its SC_PROFILE_WITH
    local n
    command -v perf >/dev/null 2>&1 || { log "warning: $1 misses a target but perf is not installed; no profile"; return 0; }
    for n in $SC_PROFILE_WITH "$1"; do
        sc_load "$n"
        profile_one "$n" "${SC_SERVERS%% *}"
    done
}

# profile_one SCENARIO SERVER: `perf record -e cpu-clock -g` of the server during one extra
# PROF_S run of the (loaded) scenario; the flat report by symbol and by DSO are saved as
# profile-SCENARIO.txt and profile-SCENARIO-dso.txt (hardware counters do not work in this VM).
profile_one() {
    local sc=$1 srv=$2 pid=${PID[$2]} data i perf_pid
    local -a cmd
    data=$OUT/perf-$sc.data
    mapfile -t cmd < <(wrk_cmd "$srv" "${PROF_S}s")
    kill -0 "$pid" 2>/dev/null || die "$srv (pid $pid) died; see logs in $OUT"
    log "profile: $sc (perf record -e cpu-clock -g -p $pid, ${PROF_S}s of wrk)"
    timeout -s INT -k 5 $((PROF_S + 20)) taskset -c "$CLIENT_CPU" \
        perf record -e cpu-clock -g -p "$pid" -o "$data" -- sleep $((PROF_S + 2)) \
        >"$OUT/perf-$sc.log" 2>&1 &
    perf_pid=$!
    BG_PIDS+=("$perf_pid")
    for ((i = 0; i < 20; i++)); do # attached once it has created its file
        [[ -s $data ]] && break
        sleep 0.1
    done
    sleep 0.5
    run_child timeout -k 5 $((PROF_S + 30)) taskset -c "$CLIENT_CPU" "${cmd[@]}" >"$OUT/profile-$sc-wrk.txt" 2>&1 ||
        log "warning: wrk exited with status $? ($OUT/profile-$sc-wrk.txt)"
    wait "$perf_pid" || log "warning: perf record exited with status $? ($OUT/perf-$sc.log)"
    # call chains are mostly broken (no frame pointers in stagehand or libsqlite3): flat reports
    { timeout 180 perf report -i "$data" --no-children --sort symbol -g none --stdio 2>/dev/null || true; } |
        head -n 40 >"$OUT/profile-$sc.txt" || true
    { timeout 180 perf report -i "$data" --no-children --sort dso -g none --stdio 2>/dev/null || true; } |
        head -n 30 >"$OUT/profile-$sc-dso.txt" || true
    [[ -s $OUT/profile-$sc.txt ]] || log "warning: no profile for $sc ($OUT/perf-$sc.log)"
    sleep 1
}
