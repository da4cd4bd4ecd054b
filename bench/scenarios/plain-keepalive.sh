# plain-keepalive: GET /api/health over -c keep-alive connections, one request per round trip
# on each; stagehand against nginx's `return 200` of the same body (bench/nginx.conf.in).
# shellcheck shell=bash disable=SC2034
SC_SERVERS="stagehand nginx"
SC_LABEL="GET /api/health, keep-alive"
SC_PATH=$HEALTH_PATH
