# records-create: POST JSON (bench/records_create.lua) into posts_create, so that the reads of
# every round see the same table; synchronous=FULL.
# shellcheck shell=bash disable=SC2034
SC_SERVERS=records
SC_LABEL="create: POST JSON, -c$CONNS"
SC_PATH=$REC_CREATE
SC_LUA=$BENCH_DIR/records_create.lua
SC_PROFILE=1
