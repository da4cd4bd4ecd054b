# auth-get-token: GET one record of notes_private (viewRule @request.auth.id != "") with
# `Authorization: <token>` (bench/auth_get.lua reads the token from a file). Target: CPU per
# request against auth-get-public's; when missed, both are profiled.
# shellcheck shell=bash disable=SC2034
SC_SERVERS=auth
SC_LABEL="GET one record, auth-only, with a token"
SC_PATH=${AUTH_PATH_TOKEN:-/}
SC_LUA=$BENCH_DIR/auth_get.lua
SC_LUA_ARGS=("${AUTH_TOKEN_FILE:-}")
SC_PROFILE=1
SC_PROFILE_WITH=auth-get-public
