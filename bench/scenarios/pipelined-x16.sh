# pipelined-x16: GET /api/health, 16 requests per write (bench/pipeline.lua). wrk counts single
# responses in req/s but its latency percentiles are per batch of 16.
# shellcheck shell=bash disable=SC2034
SC_SERVERS="stagehand nginx"
SC_LABEL="GET /api/health, pipelined ×16"
SC_PATH=$HEALTH_PATH
SC_LUA=$BENCH_DIR/pipeline.lua
SC_LUA_ARGS=(16)
