# files: file fields. Uploads of 1 MiB and 100 MiB files (multipart POST into a file field on
# one keep-alive connection, bench/upload_client.py; --sync full, so each is fsynced with its
# folder before the commit) against the same bytes written with `dd conv=fsync` to the same
# disk; then downloads of the stored 100 MiB file (GET /api/files/..., curl to /dev/null)
# against nginx serving the same file from the same folder (sendfile on), interleaved, with
# server CPU per MB for each. Random bytes (no compression anywhere). Its own stagehand and
# nginx (not the shared fixtures); the table goes to files.md (shown in the summary) and the
# raw lines to files.txt. Last, the server's peak RSS (VmHWM) during BENCH_FILES_CONCURRENT
# (16) concurrent 100 MiB uploads, one connection each. Knobs: BENCH_FILES_SMALL (uploads of
# 1 MiB, default 50), BENCH_FILES_LARGE (uploads of 100 MiB and downloads per server, default 3).
# shellcheck shell=bash disable=SC2034,SC2153,SC2154 # PID, PORT, SPAWN: associative (lib/servers.sh)
SC_TYPE=once
SC_SERVERS="stagehand nginx"
SC_FIXTURES=''
SC_TOOLS="curl dd"
SC_LABEL="file uploads (1 MiB, 100 MiB) vs dd, a 100 MiB download vs nginx"
FILES_SMALL=${BENCH_FILES_SMALL:-50}
FILES_LARGE=${BENCH_FILES_LARGE:-3}
FILES_CONCURRENT=${BENCH_FILES_CONCURRENT:-16}

files_concurrent() { # files_concurrent N -> "hwm_before_kib hwm_after_kib seconds" for N parallel 100 MiB uploads
    local pid=${PID[files]} before after t0 t1 i rc=0
    local -a kids=()
    before=$(vm_kb "$pid" VmHWM)
    t0=$EPOCHREALTIME
    for ((i = 0; i < $1; i++)); do
        taskset -c "$CLIENT_CPU" python3 "$BENCH_DIR/upload_client.py" "${PORT[files]}" \
            /api/collections/blobs/records f "$TMP/files/src-100" 1 >"$TMP/files/conc-$i.txt" 2>&1 &
        kids+=($!)
    done
    for i in "${kids[@]}"; do wait "$i" || rc=1; done
    t1=$EPOCHREALTIME
    after=$(vm_kb "$pid" VmHWM)
    cat "$TMP"/files/conc-*.txt | sed 's/^/concurrent-100MiB /' >>"$OUT/files.txt"
    ((rc == 0)) || die "files: a concurrent upload failed (files.txt)"
    awk -v b="$before" -v a="$after" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%d %d %.2f", b, a, t1 - t0 }'
}

files_median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

files_nginx() { # files_nginx PREFIX ROOT: nginx serving ROOT on a free port; sets FILES_NGINX_PORT
    local prefix=$1 root=$2 port i
    mkdir -p "$prefix/logs" "$prefix/tmp"
    port=$(free_port)
    # started as root, nginx's worker would run as nobody and could not read the stored
    # files (0600 in 0700 folders, as stagehand makes them): the same user as stagehand
    local user=''
    ((EUID == 0)) && user="user $(id -un) $(id -gn);"
    cat >"$prefix/nginx.conf" <<EOF
$user
daemon off;
worker_processes 1;
pid $prefix/nginx.pid;
lock_file $prefix/nginx.lock;
error_log $prefix/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port;
        root $root;
    }
}
EOF
    taskset -c "$SERVER_CPU" "$NGINX" -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" \
        >"$prefix/logs/stdout.log" 2>&1 &
    SPAWN[files-nginx]=$!
    for ((i = 0; i < 100; i++)); do
        [[ -s $prefix/nginx.pid ]] && port_listening "$port" && break
        sleep 0.1
    done
    port_listening "$port" || die "files: nginx did not start (see $prefix/logs/error.log)"
    PID[files-nginx]=$(<"$prefix/nginx.pid")
    FILES_NGINX_PORT=$port
}

files_upload() { # files_upload SIZE_MIB COUNT -> "mbps cpu_ms_per_mb" (and raw lines in files.txt)
    local src=$TMP/files/src-$1 c0 c1 out mbps
    local pid=${PID[files]}
    c0=$(cpu_ticks "$pid")
    out=$(taskset -c "$CLIENT_CPU" python3 "$BENCH_DIR/upload_client.py" "${PORT[files]}" \
        /api/collections/blobs/records f "$src" "$2") || die "files: upload of $1 MiB failed: $out"
    c1=$(cpu_ticks "$pid")
    printf '%s\n' "$out" | sed "s/^/upload-$1MiB /" >>"$OUT/files.txt"
    mbps=$(sed -n 's/.*mbps=\([0-9.]*\).*/\1/p' <<<"$out")
    echo "$mbps $(awk -v t=$((c1 - c0)) -v k="$CLK_TCK" -v mb="$(($1 * $2))" \
        'BEGIN { printf "%.2f", t * 1000 / k / (mb * 1.048576) }')"
}

files_dd() { # files_dd SIZE_MIB COUNT -> MB/s of dd conv=fsync of the same bytes, same disk
    local src=$TMP/files/src-$1 t0 t1 i
    t0=$EPOCHREALTIME
    for ((i = 0; i < $2; i++)); do
        dd if="$src" of="$TMP/files/data/dd.bin" bs=1M conv=fsync status=none
    done
    t1=$EPOCHREALTIME
    rm -f "$TMP/files/data/dd.bin"
    awk -v b="$(($1 * $2 * 1048576))" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", b / 1e6 / (t1 - t0) }'
}

files_download() { # files_download NAME URL PIDS... -> "mbps cpu_ms_per_mb"
    local name=$1 url=$2 c0 c1 out code size speed
    shift 2
    c0=$(cpu_ticks "$@")
    out=$(taskset -c "$CLIENT_CPU" curl -s -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$url")
    c1=$(cpu_ticks "$@")
    echo "download-$name $out" >>"$OUT/files.txt"
    read -r code size speed <<<"$out"
    [[ $code == 200 && $size == 104857600 ]] || die "files: $name download answered $code with $size bytes"
    awk -v s="$speed" -v t=$((c1 - c0)) -v k="$CLK_TCK" 'BEGIN { printf "%.1f %.2f", s / 1e6, t * 1000 / k / 104.8576 }'
}

scenario_run() {
    local dir=$TMP/files i rec id cid name a b up_small up_large dd_small dd_large cpu_small cpu_large
    local tiny tiny_id tiny_name rps_sh rps_ng
    local -a sh_dl=() ng_dl=() sh_cpu=() ng_cpu=()
    rm -rf "$dir" && mkdir -p "$dir/data"
    : >"$OUT/files.txt"
    cat >"$dir/schema.json" <<'EOF'
[{"name":"blobs","type":"base","fields":[{"name":"f","type":"file","maxSelect":1,"maxSize":209715200}],
  "listRule":"","viewRule":"","createRule":""}]
EOF
    "$STAGEHAND" collections import "$dir/schema.json" --dir "$dir/data" >/dev/null || die "files: schema import failed"
    head -c 1048576 /dev/urandom >"$dir/src-1"
    head -c 104857600 /dev/urandom >"$dir/src-100"
    spawn_stagehand files "$dir" --max-upload 256M --body-timeout 10m --write-timeout 10m
    read -r up_small cpu_small <<<"$(files_upload 1 "$FILES_SMALL")"
    read -r up_large cpu_large <<<"$(files_upload 100 "$FILES_LARGE")"
    dd_small=$(files_dd 1 "$FILES_SMALL")
    dd_large=$(files_dd 100 "$FILES_LARGE")
    rec=$(grep -m1 'upload-100MiB' "$OUT/files.txt" || true)
    [[ -n $rec ]] || die "files: no 100 MiB upload"
    # the stored 100 MiB file: the newest folder's only file
    cid=$(find "$dir/data/storage" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%f\n' | head -n1)
    id=$(find "$dir/data/storage/$cid" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %f\n' | sort -rn | head -n1 | cut -d' ' -f2)
    name=$(find "$dir/data/storage/$cid/$id" -mindepth 1 -maxdepth 1 -type f -printf '%f\n' | head -n1)
    [[ $(stat -c %s "$dir/data/storage/$cid/$id/$name") == 104857600 ]] || die "files: stored file not found"
    # a 2 KiB file for the requests/s of small downloads
    head -c 2048 /dev/urandom >"$dir/src-tiny"
    tiny=$(curl -s -F "f=@$dir/src-tiny" "http://127.0.0.1:${PORT[files]}/api/collections/blobs/records")
    tiny_id=$(sed -n 's/.*"id":"\([a-z0-9]*\)".*/\1/p' <<<"$tiny")
    tiny_name=$(sed -n 's/.*"f":"\([^"]*\)".*/\1/p' <<<"$tiny")
    [[ -n $tiny_id && -n $tiny_name ]] || die "files: the 2 KiB upload answered $tiny"
    files_nginx "$dir/nginx" "$dir/data/storage"
    rps_sh=$(taskset -c "$CLIENT_CPU" wrk -t1 -c16 -d"$DURATION" \
        "http://127.0.0.1:${PORT[files]}/api/files/blobs/$tiny_id/$tiny_name" | awk '/Requests\/sec/ { print $2 }')
    rps_ng=$(taskset -c "$CLIENT_CPU" wrk -t1 -c16 -d"$DURATION" \
        "http://127.0.0.1:$FILES_NGINX_PORT/$cid/$tiny_id/$tiny_name" | awk '/Requests\/sec/ { print $2 }')
    for ((i = 0; i < FILES_LARGE; i++)); do
        read -r a b <<<"$(files_download stagehand "http://127.0.0.1:${PORT[files]}/api/files/blobs/$id/$name" "${PID[files]}")"
        sh_dl+=("$a") sh_cpu+=("$b")
        read -r a b <<<"$(files_download nginx "http://127.0.0.1:$FILES_NGINX_PORT/$cid/$id/$name" \
            "${PID[files-nginx]}" "$(child_pids "${PID[files-nginx]}" | head -n1)")"
        ng_dl+=("$a") ng_cpu+=("$b")
    done
    stop_server files-nginx
    local hwm0 hwm1 conc_s
    read -r hwm0 hwm1 conc_s <<<"$(files_concurrent "$FILES_CONCURRENT")"
    stop_server files
    [[ " ${sh_dl[*]} ${ng_dl[*]} " != *"  "* ]] || die "files: a download failed (files.txt)"
    local shm ngm shc ngc
    shm=$(printf '%s\n' "${sh_dl[@]}" | files_median)
    ngm=$(printf '%s\n' "${ng_dl[@]}" | files_median)
    shc=$(printf '%s\n' "${sh_cpu[@]}" | files_median)
    ngc=$(printf '%s\n' "${ng_cpu[@]}" | files_median)
    {
        echo "### files: uploads and downloads"
        echo
        echo "| measure | stagehand | peer | ratio | stagehand CPU ms/MiB | peer CPU ms/MiB |"
        echo "|---|---:|---:|---:|---:|---:|"
        echo "| upload 1 MiB × $FILES_SMALL (MB/s), peer dd conv=fsync | $up_small | $dd_small | $(awk -v a="$up_small" -v b="$dd_small" 'BEGIN { printf "%.2f", a / b }') | $cpu_small | |"
        echo "| upload 100 MiB × $FILES_LARGE (MB/s), peer dd conv=fsync | $up_large | $dd_large | $(awk -v a="$up_large" -v b="$dd_large" 'BEGIN { printf "%.2f", a / b }') | $cpu_large | |"
        echo "| download 100 MiB, median of $FILES_LARGE (MB/s), peer nginx sendfile | $shm | $ngm | $(awk -v a="$shm" -v b="$ngm" 'BEGIN { printf "%.2f", a / b }') | $shc | $ngc |"
        echo "| download of a 2 KiB file, wrk -c16 $DURATION (req/s), peer nginx | ${rps_sh:-?} | ${rps_ng:-?} | $(awk -v a="${rps_sh:-0}" -v b="${rps_ng:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b }') | | |"
        echo
        echo "Peak RSS (VmHWM) of the server: $((hwm0 / 1024)) MiB before, $((hwm1 / 1024)) MiB after $FILES_CONCURRENT concurrent"
        echo "100 MiB uploads (one connection each, $(awk -v n="$FILES_CONCURRENT" -v t="$conc_s" 'BEGIN { printf "%.0f", n * 104.8576 / t }') MB/s together, ${conc_s} s)."
        echo
        echo "Uploads: one keep-alive connection, multipart POST into a file field (--sync full: each file"
        echo "fsynced with its folder before the commit), random bytes; dd writes the same bytes with"
        echo "\`bs=1M conv=fsync\` to the same disk. Downloads: \`curl -o /dev/null\`, interleaved;"
        echo "nginx serves the same stored file (one worker, sendfile on). Servers on CPU $SERVER_CPU,"
        echo "clients on CPU $CLIENT_CPU. Raw lines: files.txt."
    } >"$OUT/files.md"
    log "files: upload 1 MiB $up_small MB/s (dd $dd_small), 100 MiB $up_large MB/s (dd $dd_large); download $shm MB/s (nginx $ngm); 2 KiB file ${rps_sh:-?} req/s (nginx ${rps_ng:-?})"
}
