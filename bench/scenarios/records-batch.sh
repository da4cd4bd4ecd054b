# records-batch: records/s of creates sent as batches of 50 (POST /api/batch,
# bench/records_batch.lua) against the same creates sent one per request
# (bench/records_create.lua), both at -c$CONNS into posts_create of the records fixture
# (--sync full), in the same run: BENCH_ROUNDS rounds of one BENCH_DURATION run of each,
# the order alternating from round to round (the table grows as they run, which slows
# later runs). Records/s counts the rows the table gained over the run (not wrk's
# requests), so a failed item shows. Raw: records-batch-<kind>-r<round>.txt; every run's
# figure and the medians in records-batch.env.
# shellcheck shell=bash disable=SC2034
SC_TYPE=once
SC_SERVERS=records
SC_LABEL="records/s: batches of 50 creates vs single creates, synchronous=FULL"
BATCH_SIZE=50

batch_run() { # batch_run KIND ROUND: one timed run; prints its records/s
    local kind=$1 round=$2 before after t0 t1 rps out lua path
    local -a args
    out=$OUT/records-batch-$kind-r$round.txt
    if [[ $kind == single ]]; then
        lua=$BENCH_DIR/records_create.lua
        path=$REC_CREATE
        args=()
    else
        lua=$BENCH_DIR/records_batch.lua
        path=/api/batch
        args=(-- posts_create "$BATCH_SIZE")
    fi
    before=$(rec_count posts_create)
    t0=$EPOCHREALTIME
    run_child timeout -k 5 $((DURATION_S + 30)) taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$lua" \
        "http://127.0.0.1:${PORT[records]}$path" "${args[@]}" >"$out" 2>&1 ||
        log "warning: wrk exited with status $? ($out)"
    t1=$EPOCHREALTIME
    after=$(rec_count posts_create)
    [[ -n $before && -n $after ]] || die "records-batch: cannot count posts_create"
    rps=$(awk -v n=$((after - before)) -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
    kv "$OUT/records-batch.env" "${kind}_r${round}_records_per_s" "$rps"
    log "records-batch: round $round $kind: $((after - before)) records = $rps records/s"
    echo "$rps"
    sleep 1
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

scenario_run() {
    local round single batch
    local -a singles=() batches=()
    for ((round = 1; round <= ROUNDS; round++)); do
        if ((round % 2)); then
            single=$(batch_run single "$round")
            batch=$(batch_run batch "$round")
        else
            batch=$(batch_run batch "$round")
            single=$(batch_run single "$round")
        fi
        singles+=("$single")
        batches+=("$batch")
    done
    single=$(median "${singles[@]}")
    batch=$(median "${batches[@]}")
    kv "$OUT/records-batch.env" single_records_per_s "$single"
    kv "$OUT/records-batch.env" batch_records_per_s "$batch"
    log "records-batch: medians over $ROUNDS rounds: single $single records/s, batches of $BATCH_SIZE $batch records/s ($(awk -v a="$batch" -v b="$single" 'BEGIN { printf "%.2f", a / b }')x)"
}
