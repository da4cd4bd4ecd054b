# records-list-total: list 20 of posts, filter=(tag='b')&sort=-n, with totals (the count is
# cached until the next write to the collection).
# shellcheck shell=bash disable=SC2034
SC_SERVERS=records
SC_LABEL="list with totals: filter=(tag='b')&sort=-n&perPage=20"
SC_PATH=$REC_LIST
SC_PROFILE=1
