# records-list-skiptotal: the same list with skipTotal=1 (no count).
# shellcheck shell=bash disable=SC2034
SC_SERVERS=records
SC_LABEL="list, skipTotal=1: same query"
SC_PATH="$REC_LIST&skipTotal=1"
SC_PROFILE=1
