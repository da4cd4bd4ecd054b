# backup-load: creates/s while a backup of a 1 GiB database runs, against creates/s without
# one (issue 13's target: >= 70%). Runs the backups_load integration test of the gcc test
# build (build-test/, `scripts/test --quick` makes it) with SH_BACKUP_PAD_MB (default 1024)
# against the stagehand that build made; its notes (creates/s quiet and during, the backup's
# duration, the restored records) go to backup-load.txt and the figures to backup-load.env.
# shellcheck shell=bash disable=SC2034
SC_TYPE=once
SC_SERVERS=stagehand
SC_FIXTURES=''
SC_LABEL="creates/s during a backup of a 1 GiB database vs without"
BACKUP_PAD_MB=${BENCH_BACKUP_PAD_MB:-1024}

scenario_run() {
    local exe=$ROOT/build-test/tests/integration/integration_test_backups_load
    local bin=$ROOT/build-test/src/stagehand txt=$OUT/backup-load.txt env=$OUT/backup-load.env line
    if [[ ! -x $exe || ! -x $bin ]]; then
        log "backup-load: $exe missing (run scripts/test --quick first); skipped"
        return 0
    fi
    SH_BACKUP_PAD_MB=$BACKUP_PAD_MB STAGEHAND_BIN=$bin CMOCKA_MESSAGE_OUTPUT=stdout \
        LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp" \
        timeout -k 5 900 "$exe" >"$txt" 2>&1 || log "warning: backups_load failed ($txt)"
    kv "$env" pad_mb "$BACKUP_PAD_MB"
    line=$(grep -m1 'creates/s:' "$txt" || true)
    [[ -n $line ]] && kv "$env" result "\"${line#\# }\""
    log "backup-load: ${line:-no figure (see $txt)}"
}
