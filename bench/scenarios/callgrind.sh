# callgrind: user-space instructions per request, one request per round trip on one keep-alive
# connection (bench/seq_client.py), the server under `valgrind --tool=callgrind` (release build;
# every thread counted). Each target runs twice on a fresh copy of the same data, with N1 and
# N2 = N1 + BENCH_CALLGRIND_REQUESTS (default 2000) requests; instructions/request =
# (Ir(N2) − Ir(N1)) / (N2 − N1), so start-up, warm-up and shutdown cancel out. The counts are
# deterministic to ~0.1% (no timing in them), so they steer where wall-clock figures cannot.
# Targets: /api/health on stagehand and nginx (same request bytes), and on stagehand GET one
# record, a list of 20 and GET one record with a token (bench/auth_schema.json, 30 records);
# get-one-token-public sends the same token for the public record, so that the token check's
# own cost shows apart from the private collection's view rule, which is compiled per request.
# Stored logs (--logs-max-days) are off in every target but health-logs: a stored log entry
# costs several times the request itself (its JSON on the loop, its insert on the sh-logs
# thread, both counted), which would hide the request path's own figures; health-logs shows
# that cost on its own. create counts a POST of a record (synchronous=FULL: the fsyncs are
# system time, not counted). BENCH_CALLGRIND_ONLY="health get-one-token" runs only those targets.
# Raw: callgrind-<target>-<server>-<n>.out and callgrind.tsv (target, server, n, file).
# shellcheck shell=bash disable=SC2034
SC_TYPE=once
SC_SERVERS="stagehand nginx"
SC_FIXTURES= # it starts its own servers under valgrind
SC_TOOLS=valgrind
SC_LABEL="callgrind: user-space instructions per request"
CG_REQUESTS=${BENCH_CALLGRIND_REQUESTS:-2000}
CG_N1=200
# target server path [option]: what is counted. {public}/{private} are the ids cg_prepare made;
# option: token (sends Authorization), logs (stored logs on, as by default), post (POSTs the
# note body: one create per request; one client, so every batch of the writer holds one job and
# the figure includes a BEGIN/COMMIT per create that batches of 64 clients share).
CG_TARGETS=(
    "health stagehand /api/health"
    "health-logs stagehand /api/health logs"
    "health nginx /api/health"
    "get-one stagehand /api/collections/notes_public/records/{public}"
    "list stagehand /api/collections/notes_public/records?filter=%28tag%3D%27b%27%29&sort=-n&perPage=20"
    "get-one-token stagehand /api/collections/notes_private/records/{private} token"
    "get-one-token-public stagehand /api/collections/notes_public/records/{public} token"
    "create stagehand /api/collections/notes_public/records post"
)
CG_PUBLIC='' CG_PRIVATE='' CG_TOKEN=''

cg_client() { # cg_client PORT PATH ARGS...: seq_client.py on the client CPU, bounded
    timeout -k 5 600 taskset -c "$CLIENT_CPU" python3 "$BENCH_DIR/seq_client.py" 127.0.0.1 "$@"
}

cg_json() { python3 -c 'import json, sys; print(json.loads(sys.stdin.read().split("\n", 1)[1])[sys.argv[1]])' "$1"; }

cg_prepare() { # the data dir every stagehand run copies: one account, 30 public notes, 1 private
    local dir=$TMP/cg-prep body='{"title":"benchmark note","n":42,"tag":"b"}' auth login
    rm -rf "$dir" && mkdir -p "$dir/data"
    "$STAGEHAND" collections import "$BENCH_DIR/auth_schema.json" --dir "$dir/data" >"$dir/import.log" 2>&1 ||
        die "callgrind: collections import failed: $(tail -n 3 "$dir/import.log")"
    spawn_stagehand cg-prep "$dir"
    auth='{"email":"cg@bench.example.com","password":"bench-password-1","passwordConfirm":"bench-password-1"}'
    cg_client "${PORT[cg-prep]}" /api/collections/users/records -X POST -d "$auth" >/dev/null
    login=$(cg_client "${PORT[cg-prep]}" /api/collections/users/auth-with-password -X POST --print-body \
        -d '{"identity":"cg@bench.example.com","password":"bench-password-1"}')
    CG_TOKEN=$(cg_json token <<<"$login")
    CG_PUBLIC=$(cg_client "${PORT[cg-prep]}" /api/collections/notes_public/records -X POST -d "$body" --print-body | cg_json id)
    cg_client "${PORT[cg-prep]}" /api/collections/notes_public/records -X POST -d "$body" -n 29 >/dev/null
    CG_PRIVATE=$(cg_client "${PORT[cg-prep]}" /api/collections/notes_private/records -X POST -d "$body" --print-body | cg_json id)
    [[ -n $CG_TOKEN && -n $CG_PUBLIC && -n $CG_PRIVATE ]] || die "callgrind: setup failed"
    stop_server cg-prep
}

cg_start() { # cg_start SERVER OUTFILE [logs]: the server under callgrind, pinned; sets PID/PORT[cg]
    local s=$1 f=$2 dir=$TMP/cg i addr logs=0
    local -a vg=(valgrind --tool=callgrind --callgrind-out-file="$f" --dump-instr=no)
    rm -rf "$dir" && mkdir -p "$dir" && : >"$dir/stdout"
    if [[ $s == nginx ]]; then
        PORT[cg]=$(free_port)
        nginx_conf "$dir" "${PORT[cg]}"
        sed -i 's/^master_process on;/master_process off;/' "$dir/nginx.conf"
        taskset -c "$SERVER_CPU" "${vg[@]}" "$NGINX" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
            >"$dir/stdout" 2>"$dir/stderr" &
        SPAWN[cg]=$! PID[cg]=$!
        for ((i = 0; i < 600; i++)); do
            port_listening "${PORT[cg]}" && return 0
            kill -0 "${PID[cg]}" 2>/dev/null || break
            sleep 0.1
        done
    else
        cp -a "$TMP/cg-prep/data" "$dir/data"
        [[ ${3:-} == logs ]] && logs=5
        # valgrind runs the server ~50x slower: the per-query and per-guest read budgets
        # (wall-clock limits) would stop the list; they are off here, which the count ignores
        taskset -c "$SERVER_CPU" "${vg[@]}" "$STAGEHAND" serve --listen 127.0.0.1:0 --dir "$dir/data" \
            --log-level warn --query-budget 60000 --guest-query-budget 0 --client-query-budget 0 \
            --logs-max-days "$logs" >"$dir/stdout" 2>"$dir/stderr" &
        SPAWN[cg]=$! PID[cg]=$!
        for ((i = 0; i < 600; i++)); do
            addr=$(grep -m1 -E '^127\.0\.0\.1:[0-9]+$' "$dir/stdout" || true)
            [[ -n $addr ]] && { PORT[cg]=${addr##*:}; return 0; }
            kill -0 "${PID[cg]}" 2>/dev/null || break
            sleep 0.1
        done
    fi
    tail -n 20 "$dir/stderr" >&2 || true
    die "callgrind: $s did not start under valgrind within 60 s"
}

scenario_run() {
    local t target s path hdr n f
    local -a h
    [[ $CG_REQUESTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_CALLGRIND_REQUESTS must be a positive integer"
    [[ " $SC_SERVERS " == *" stagehand "* ]] && cg_prepare
    for t in "${CG_TARGETS[@]}"; do
        read -r target s path hdr <<<"$t"
        [[ " $SC_SERVERS " == *" $s "* ]] || continue
        [[ -z ${BENCH_CALLGRIND_ONLY:-} || " $BENCH_CALLGRIND_ONLY " == *" $target "* ]] || continue
        path=${path//\{public\}/$CG_PUBLIC}
        path=${path//\{private\}/$CG_PRIVATE}
        h=()
        [[ ${hdr:-} == token ]] && h=(-H "Authorization: $CG_TOKEN")
        [[ ${hdr:-} == post ]] && h=(-X POST -d '{"title":"benchmark note","n":42,"tag":"b"}')
        for n in "$CG_N1" $((CG_N1 + CG_REQUESTS)); do
            f=$OUT/callgrind-$target-$s-$n.out
            cg_start "$s" "$f" "${hdr:-}"
            cg_client "${PORT[cg]}" "$path" -n "$n" "${h[@]}" >"$OUT/callgrind-$target-$s-$n.log" 2>&1 ||
                die "callgrind: $s $path failed: $(tail -n 3 "$OUT/callgrind-$target-$s-$n.log")"
            stop_server cg
            printf '%s\t%s\t%s\t%s\n' "$target" "$s" "$n" "$(basename "$f")" >>"$OUT/callgrind.tsv"
        done
        log "callgrind: $target $s: $(report callgrind "$OUT" "$target" "$s")"
    done
}
