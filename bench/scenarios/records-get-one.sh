# records-get-one: GET /api/collections/posts/records/{id}, the id picked at random among the
# few hundred the records fixture collected (bench/records_get.lua).
# shellcheck shell=bash disable=SC2034
SC_SERVERS=records
SC_LABEL="fetch one record: GET /records/{id}"
SC_PATH=$REC_BASE
SC_LUA=$BENCH_DIR/records_get.lua
SC_LUA_ARGS=("${REC_IDS:-}")
SC_PROFILE=1
