# thumbs: thumbnails/s of a 4000x3000 JPEG (issue 11). bench/thumb_image.c (libvips; compiled into
# bench/out/) makes the photo (gradients plus noise, ~6.5 MB at Q90); BENCH_THUMBS_FILES (default
# 16) records of a fresh server each hold a copy (distinct stored files, so no thumb is shared).
# (1) first: GET ?thumb=100x100 of every file, BENCH_THUMBS_PARALLEL (2, = --thumb-workers) at a
#     time with curl: each thumb is made (decoded with JPEG shrink-on-load, resized, encoded,
#     fsynced) while the request waits; thumbs/s = files / wall time, server CPU ms per thumb,
#     the server's peak RSS (VmHWM, reset with clear_refs 5 before).
# (2) cached: wrk -c16 for BENCH_DURATION on one of those thumbs (now a file on disk, streamed
#     like an original): req/s and latency.
# Results: thumbs.txt (the log of both parts) and thumbs.env.
# shellcheck shell=bash disable=SC2034
SC_TYPE=once
SC_SERVERS=stagehand
SC_FIXTURES= # it starts its own, fresh
SC_LABEL="thumbnails/s of a 4000x3000 JPEG: made (first request) and cached"
SC_TOOLS=curl
THUMBS_FILES=${BENCH_THUMBS_FILES:-16}
THUMBS_PARALLEL=${BENCH_THUMBS_PARALLEL:-2}

thumbs_schema() {
    printf '[{"name":"photos","type":"base","fields":[{"name":"img","type":"file","maxSelect":1,'
    printf '"maxSize":52428800}],"listRule":"","viewRule":"","createRule":"","updateRule":"",'
    printf '"deleteRule":""}]\n'
}

scenario_run() {
    local bin=$BENCH_DIR/out/thumb_image src=$BENCH_DIR/thumb_image.c dir=$TMP/thumbs
    local txt=$OUT/thumbs.txt env=$OUT/thumbs.env pid base i body id name urls t0 t1 c0 c1
    local ms cpu_ms tps bad hwm wrk_out rps p50 p99 size
    [[ $THUMBS_FILES =~ ^[1-9][0-9]*$ && $THUMBS_PARALLEL =~ ^[1-9][0-9]*$ ]] ||
        die "BENCH_THUMBS_FILES and BENCH_THUMBS_PARALLEL must be positive integers"
    if [[ ! -x $bin || $src -nt $bin ]]; then
        # shellcheck disable=SC2046 # pkg-config's flags are words
        cc -O2 -Wall -Wextra -o "$bin" "$src" $(pkg-config --cflags --libs vips) ||
            die "could not compile $src"
    fi
    rm -rf "$dir" && mkdir -p "$dir/data"
    "$bin" "$dir/photo.jpg" 4000 3000 || die "thumbs: could not make the JPEG"
    size=$(stat -c %s "$dir/photo.jpg")
    thumbs_schema >"$dir/schema.json"
    "$STAGEHAND" collections import "$dir/schema.json" --dir "$dir/data" >/dev/null ||
        die "thumbs: schema import failed"
    spawn_stagehand thumbs "$dir" --max-upload 64M --log-level info
    pid=${PID[thumbs]} base=http://127.0.0.1:${PORT[thumbs]}
    : >"$txt"
    urls=$dir/urls
    : >"$urls"
    for ((i = 0; i < THUMBS_FILES; i++)); do
        body=$(curl -sS -F "img=@$dir/photo.jpg;type=image/jpeg" \
            "$base/api/collections/photos/records")
        id=$(grep -oE '"id":"[^"]+"' <<<"$body" | head -n1 | cut -d'"' -f4)
        name=$(grep -oE '"img":"[^"]+"' <<<"$body" | head -n1 | cut -d'"' -f4)
        [[ -n $id && -n $name ]] || die "thumbs: upload failed: $body"
        echo "$base/api/files/photos/$id/$name?thumb=100x100" >>"$urls"
    done
    log "thumbs: $THUMBS_FILES records with a $size-byte 4000x3000 JPEG each"
    wait_cpu_idle "$pid" 30
    # (1) first requests: every thumb made
    echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true
    c0=$(cpu_ticks "$pid")
    t0=$(date +%s%N)
    taskset -c "$CLIENT_CPU" xargs -P "$THUMBS_PARALLEL" -n 1 \
        curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n' <"$urls" \
        >"$dir/first.txt"
    t1=$(date +%s%N)
    c1=$(cpu_ticks "$pid")
    hwm=$(vm_kb "$pid" VmHWM)
    bad=$(awk '$1 != 200 || $2 >= '"$size"' { n++ } END { print n + 0 }' "$dir/first.txt")
    ms=$(((t1 - t0) / 1000000))
    tps=$(awk -v n="$THUMBS_FILES" -v ms="$ms" 'BEGIN { printf "%.1f", n * 1000 / (ms ? ms : 1) }')
    cpu_ms=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$THUMBS_FILES" \
        'BEGIN { printf "%.0f", d * 1000 / hz / n }')
    {
        echo "first: $THUMBS_FILES thumbs (100x100 of 4000x3000, $size bytes) at $THUMBS_PARALLEL at a time:"
        echo "  ${ms} ms, $tps thumbs/s, server CPU $cpu_ms ms/thumb, VmHWM $hwm kB; answers not a thumb: $bad"
        sort -k3 -n "$dir/first.txt" | awk '{ t[NR] = $3 } END { printf "  per request: min %.0f ms, median %.0f ms, max %.0f ms\n", t[1] * 1000, t[int((NR + 1) / 2)] * 1000, t[NR] * 1000 }'
    } | tee -a "$txt" >&2
    # (2) cached: the same thumb again and again
    wrk_out=$dir/cached.txt
    taskset -c "$CLIENT_CPU" wrk -t1 -c16 -d"$DURATION" --latency "$(head -n1 "$urls")" >"$wrk_out" 2>&1 ||
        log "warning: wrk failed ($wrk_out)"
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$wrk_out")
    p50=$(awk '$1 == "50%" { print $2 }' "$wrk_out")
    p99=$(awk '$1 == "99%" { print $2 }' "$wrk_out")
    {
        echo "cached: wrk -t1 -c16 -d$DURATION on one thumb: ${rps:-?} thumbs/s, p50 ${p50:-?}, p99 ${p99:-?}"
        grep -E 'Non-2xx|Socket errors' "$wrk_out" || true
    } | tee -a "$txt" >&2
    grep -c 'no thumb of' "$dir/stderr" | sed 's/^/server log lines "no thumb of": /' >>"$txt" || true
    kv "$env" files "$THUMBS_FILES"
    kv "$env" jpeg_bytes "$size"
    kv "$env" first_ms "$ms"
    kv "$env" first_thumbs_per_s "$tps"
    kv "$env" first_cpu_ms_per_thumb "$cpu_ms"
    kv "$env" first_vmhwm_kb "$hwm"
    kv "$env" first_not_thumbs "$bad"
    kv "$env" cached_thumbs_per_s "${rps:-}"
    kv "$env" cached_p99 "${p99:-}"
    stop_server thumbs
}
