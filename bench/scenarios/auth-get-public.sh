# auth-get-public: GET one record of notes_public (viewRule "") without a token, on the auth
# fixture: the reference for auth-get-token.
# shellcheck shell=bash disable=SC2034
SC_SERVERS=auth
SC_LABEL="GET one record, public, no token"
SC_PATH=${AUTH_PATH_PUBLIC:-/}
SC_LUA=$BENCH_DIR/auth_get.lua
