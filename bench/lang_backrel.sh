#!/usr/bin/env bash
# bench/lang_backrel.sh — issue 9's benchmark, standalone and bounded: list
# requests with a back-relation filter and with an @collection list rule on
# 100 000 posts x 1 000 000 comments (comments.post indexed), with and without
# totals, measured with wrk against the release build; prints req/s per case
# and the query plan of each list query.
#
# The data is written straight into data.db with SQLite after the schema
# import (not through the API: 1.1 M creates would take minutes), with the
# columns the import created. Not part of scripts/bench's rotation (it needs
# its own data set); run it alone on a quiet machine:
#
#   bench/lang_backrel.sh                      # 5 s per case, -c16
#   LANG_DURATION=10 LANG_CONNS=64 bench/lang_backrel.sh
#   LANG_POSTS=10000 LANG_COMMENTS=100000 bench/lang_backrel.sh   # smaller
#   LANG_READ_CACHE=2M bench/lang_backrel.sh   # --read-cache (default: the server's, 8 MiB)
#
# Needs wrk, sqlite3, curl. STAGEHAND_BIN defaults to build-release/src/stagehand.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${STAGEHAND_BIN:-build-release/src/stagehand}
POSTS=${LANG_POSTS:-100000}
COMMENTS=${LANG_COMMENTS:-1000000}
DURATION=${LANG_DURATION:-5}
CONNS=${LANG_CONNS:-16}
BUDGET=${LANG_QUERY_BUDGET:-1000} # --query-budget (ms): the uncached totals need more than 200
READ_CACHE=${LANG_READ_CACHE:-}   # --read-cache when set (binaries before it have no such flag)
[[ -x $BIN ]] || { echo "no $BIN (meson setup build-release --buildtype=release -Dtests=false && ninja -C build-release)" >&2; exit 1; }
for t in wrk sqlite3 curl; do command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 1; }; done

dir=$(mktemp -d /tmp/stagehand-lang-bench.XXXXXX)
pid=
cleanup() {
    [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/schema.json" <<'EOF'
[
  {"name": "posts", "type": "base", "listRule": "", "viewRule": "",
   "fields": [{"name": "title", "type": "text"}, {"name": "n", "type": "number"},
              {"name": "created", "type": "autodate", "onCreate": true},
              {"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true}]},
  {"name": "posts_rule", "type": "base",
   "listRule": "@collection.comments.post ?= id && @collection.comments.n ?> 15", "viewRule": "",
   "fields": [{"name": "title", "type": "text"}, {"name": "n", "type": "number"},
              {"name": "created", "type": "autodate", "onCreate": true},
              {"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true}]},
  {"name": "comments", "type": "base", "listRule": "", "viewRule": "",
   "fields": [{"name": "text", "type": "text"}, {"name": "n", "type": "number"},
              {"name": "tag", "type": "text"},
              {"name": "post", "type": "relation", "collectionId": "posts", "maxSelect": 1},
              {"name": "created", "type": "autodate", "onCreate": true},
              {"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true}],
   "indexes": ["CREATE INDEX idx_comments_post ON comments (post)",
               "CREATE INDEX idx_comments_tag ON comments (tag)"]}
]
EOF
"$BIN" collections import "$dir/schema.json" --dir "$dir/data" >/dev/null

# post p (0-based) has the comments i = p + k*POSTS; comment i says "word<i % 1000>" and has
# n = i % 20, so every comment of post p has n = p % 20 (when POSTS is a multiple of 20): the
# rule keeps 20 % of the posts, the filter `?= 'word7'` about 1 % (at most COMMENTS/1000).
t0=$SECONDS
sqlite3 "$dir/data/data.db" <<EOF
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < $POSTS)
INSERT INTO posts (id, title, n, created, updated)
  SELECT printf('p%014d', i), 'post ' || i, i % 100,
         strftime('%Y-%m-%d %H:%M:%S.000Z', 1700000000 + i, 'unixepoch'),
         strftime('%Y-%m-%d %H:%M:%S.000Z', 1700000000 + i, 'unixepoch') FROM s;
INSERT INTO posts_rule SELECT * FROM posts;
WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < $COMMENTS)
INSERT INTO comments (id, text, n, tag, post, created, updated)
  SELECT printf('c%014d', i), 'word' || (i % 1000), i % 20, 'tag' || (i % 1000),
         printf('p%014d', i % $POSTS),
         '2024-01-01 00:00:00.000Z', '2024-01-01 00:00:00.000Z' FROM s;
COMMIT;
ANALYZE;
EOF
echo "fill: $POSTS posts, $COMMENTS comments in $((SECONDS - t0)) s"

"$BIN" serve --listen 127.0.0.1:0 --dir "$dir/data" --log-level warn --guest-query-budget 0 --query-budget "$BUDGET" \
    ${READ_CACHE:+--read-cache "$READ_CACHE"} >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 100); do [[ -s $dir/out ]] && break; sleep 0.1; done
addr=$(head -n1 "$dir/out")
[[ -n $addr ]] || { cat "$dir/err" >&2; exit 1; }
base="http://$addr/api/collections"

enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
filter=$(enc "comments_via_post.text ?= 'word7'")
ifilter=$(enc "comments_via_post.tag ?= 'tag7'")
declare -a names urls
names+=("back-relation filter (indexed), totals") urls+=("$base/posts/records?perPage=20&filter=$ifilter")
names+=("back-relation filter (indexed), skipTotal") urls+=("$base/posts/records?perPage=20&skipTotal=1&filter=$ifilter")
names+=("back-relation filter, totals") urls+=("$base/posts/records?perPage=20&filter=$filter")
names+=("back-relation filter, skipTotal") urls+=("$base/posts/records?perPage=20&skipTotal=1&filter=$filter")
names+=("@collection rule, totals") urls+=("$base/posts_rule/records?perPage=20")
names+=("@collection rule, skipTotal") urls+=("$base/posts_rule/records?perPage=20&skipTotal=1")
names+=("back-relation sort, skipTotal") urls+=("$base/posts/records?perPage=20&skipTotal=1&sort=$(enc '-comments_via_post.text')&filter=$(enc 'n = 7')")
names+=("back-relation expand, skipTotal") urls+=("$base/posts/records?perPage=20&skipTotal=1&expand=comments_via_post")

for k in "${!urls[@]}"; do
    first=$(curl -sS -o /dev/null -w '%{time_total}' "${urls[$k]}") # uncached count
    body=$(curl -sS "${urls[$k]}")
    total=$(grep -oE '"totalItems":-?[0-9]+' <<<"$body" | head -n1 | cut -d: -f2 || true)
    items=$( (grep -oE '"collectionName":"(posts|posts_rule)"' <<<"$body" || true) | wc -l)
    [[ $body == *"\"items\""* ]] || { echo "${names[$k]}: $body" >&2; continue; }
    rps=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "${urls[$k]}" | awk '/Requests\/sec/ { print $2 }')
    printf '%-42s %10s req/s   (first request %ss; items %s, totalItems %s)\n' "${names[$k]}" \
        "$rps" "$first" "$items" "$total"
done

# The plans of the list queries, as SQLite runs them on this data (the SQL the compiler writes
# for these filters; see tests/unit/db/test_filter_lang.c, test_lang_plans_use_indexes).
echo
plan() { # plan TITLE SQL
    echo "plan: $1"
    sqlite3 "$dir/data/data.db" "EXPLAIN QUERY PLAN $2"
}
plan "back-relation filter on an indexed column (?=: the semi-join)" \
    "SELECT id FROM posts WHERE (posts.id IN (SELECT __r1.post FROM comments AS __r1 WHERE (__r1.tag = 'tag7'))) ORDER BY posts.rowid LIMIT 20"
plan "back-relation filter on an unindexed column (the probe by comments.post)" \
    "SELECT id FROM posts WHERE EXISTS (SELECT 1 FROM (SELECT 1) LEFT JOIN comments AS __r1 ON __r1.post = posts.id WHERE __r1.text = 'word7') ORDER BY posts.rowid LIMIT 20"
plan "@collection rule (one alias: the joined row, by comments.post)" \
    "SELECT id FROM posts_rule WHERE EXISTS (SELECT 1 FROM (SELECT 1) LEFT JOIN comments AS __c1 ON 1 WHERE (__c1.post = posts_rule.id AND __c1.n > 15)) ORDER BY posts_rule.rowid LIMIT 20"
