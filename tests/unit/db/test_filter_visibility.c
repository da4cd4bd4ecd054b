/*
 * The visibility oracle of client filters (issue 7, findings 3 and 4): a
 * few thousand filters and sorts generated from a fixed seed over a fixture
 * schema with hidden fields, auth emails hidden by emailVisibility, a
 * collection whose listRule is null (vault) and one whose listRule lets
 * only some rows be listed (teams: `public = true`), reached at relation
 * depths 0..4 through single and multi relations, back and forth. Each is
 * compiled as the records API compiles a guest's (or a signed-in user's)
 * own filter — SH_SCHEMA_VIEW_CLIENT, the fan-out cap — and run against a
 * real SQLite file and against a copy of it in which every value the caller
 * may not see is scrambled (hidden fields, password, tokenKey, hidden
 * emails, every vault row, the teams the caller may not list). The ids
 * returned, in order, must be equal: nothing the caller may not see
 * influences the answer.
 *
 * The oracle checks itself: the same filters compiled the old way for a
 * guest (an unconfined view, hidden fields excepted) must be caught leaking,
 * or the test would prove nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "stagehand/filter.h"
#include "stagehand/records.h"
#include "stagehand/schema.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char fixture[] =
    "["
    "{\"name\":\"users\",\"type\":\"auth\",\"fields\":[{\"name\":\"name\",\"type\":\"text\"},"
    " {\"name\":\"secret\",\"type\":\"text\",\"hidden\":true},"
    " {\"name\":\"fav\",\"type\":\"relation\",\"collectionId\":\"posts\",\"maxSelect\":1},"
    " {\"name\":\"team\",\"type\":\"relation\",\"collectionId\":\"teams\",\"maxSelect\":1}],"
    " \"listRule\":\"\",\"viewRule\":\"\","
    " \"indexes\":[\"CREATE INDEX idx_u_fav ON users (fav)\"]},"
    "{\"name\":\"teams\",\"type\":\"base\",\"fields\":[{\"name\":\"name\",\"type\":\"text\"},"
    " {\"name\":\"public\",\"type\":\"bool\"}],\"listRule\":\"public = true\"},"
    "{\"name\":\"vault\",\"type\":\"base\",\"fields\":[{\"name\":\"code\",\"type\":\"text\"},"
    " {\"name\":\"post\",\"type\":\"relation\",\"collectionId\":\"posts\",\"maxSelect\":1}],"
    " \"listRule\":null, \"indexes\":[\"CREATE INDEX idx_v_post ON vault (post)\"]},"
    "{\"name\":\"comments\",\"type\":\"base\",\"fields\":[{\"name\":\"text\",\"type\":\"text\"},"
    " {\"name\":\"post\",\"type\":\"relation\",\"collectionId\":\"posts\",\"maxSelect\":1},"
    " {\"name\":\"author\",\"type\":\"relation\",\"collectionId\":\"users\",\"maxSelect\":1},"
    " {\"name\":\"spy\",\"type\":\"relation\",\"collectionId\":\"posts\",\"maxSelect\":1,"
    "  \"hidden\":true},"
    " {\"name\":\"note\",\"type\":\"text\",\"hidden\":true},"
    " {\"name\":\"approved\",\"type\":\"bool\"}],\"listRule\":\"approved = true\","
    " \"indexes\":[\"CREATE INDEX idx_c_post ON comments (post)\","
    "  \"CREATE INDEX idx_c_author ON comments (author)\","
    "  \"CREATE INDEX idx_c_spy ON comments (spy)\"]},"
    "{\"name\":\"posts\",\"type\":\"base\",\"fields\":[{\"name\":\"title\",\"type\":\"text\"},"
    " {\"name\":\"views\",\"type\":\"number\"},"
    " {\"name\":\"author\",\"type\":\"relation\",\"collectionId\":\"users\",\"maxSelect\":1},"
    " {\"name\":\"editors\",\"type\":\"relation\",\"collectionId\":\"users\",\"maxSelect\":5},"
    " {\"name\":\"parent\",\"type\":\"relation\",\"collectionId\":\"posts\",\"maxSelect\":1},"
    " {\"name\":\"vault\",\"type\":\"relation\",\"collectionId\":\"vault\",\"maxSelect\":1},"
    " {\"name\":\"team\",\"type\":\"relation\",\"collectionId\":\"teams\",\"maxSelect\":1},"
    " {\"name\":\"internal\",\"type\":\"text\",\"hidden\":true}],\"listRule\":\"\","
    " \"indexes\":[\"CREATE INDEX idx_p_author ON posts (author)\"]}"
    "]";

#define NUSERS    8
#define NTEAMS    4
#define NVAULT    4
#define NPOSTS    16
#define NCOMMENTS 24

struct world {
    struct sh_collection **list;
    size_t n;
    struct sh_collection_resolver resolver;
    char path[2][64];
    sqlite3 *db[2]; /* the data, and the copy with what the caller may not see scrambled */
};

static const struct sh_collection *find(void *ud, const char *id_or_name)
{
    struct world *w = ud;
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->list[i]->id, id_or_name) == 0 || strcmp(w->list[i]->name, id_or_name) == 0)
            return w->list[i];
    return NULL;
}

static const struct sh_collection *coll(struct world *w, const char *name)
{
    const struct sh_collection *c = find(w, name);
    assert_non_null(c);
    return c;
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* exec of sqlite3_vmprintf(fmt, ...): %q and %w as SQLite has them. */
static void execf(sqlite3 *db, const char *fmt, ...)
{
    char *sql;
    va_list ap;
    va_start(ap, fmt);
    sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    exec(db, sql);
    sqlite3_free(sql);
}

/* Emails over a tiny alphabet, so that prefixes, ranges and LIKE patterns
 * of generated filters often hit. */
static void email_of(int i, char *out)
{
    static const char *const parts[] = {"ab", "ba", "aa", "bb", "abc", "cab", "b", "a"};
    snprintf(out, 32, "%s%d@e.io", parts[i % 8], i / 3);
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    cJSON *arr = cJSON_Parse(fixture);
    assert_non_null(arr);
    struct sh_schema_error err;
    memset(&err, 0, sizeof(err));
    int rc = sh_collection_import(arr, NULL, &w->list, &w->n, &err);
    cJSON_Delete(arr);
    if (rc)
        fail_msg("import: %s", err.message);
    w->resolver = (struct sh_collection_resolver){find, w};
    for (int k = 0; k < 2; k++) {
        snprintf(w->path[k], sizeof(w->path[k]), "/tmp/sh-vis-%d-%d.db", (int)getpid(), k);
        unlink(w->path[k]);
        assert_int_equal(sqlite3_open(w->path[k], &w->db[k]), SQLITE_OK);
    }
    sqlite3 *db = w->db[0];
    struct sh_schema_sql ddl = {0};
    for (size_t i = 0; i < w->n; i++)
        sh_schema_create_sql(w->list[i], &ddl);
    exec(db, "BEGIN");
    for (size_t i = 0; i < ddl.n; i++)
        exec(db, ddl.stmts[i]);
    sh_schema_sql_deinit(&ddl);

    uint64_t x = 0x5eed5eedULL;
    for (int i = 0; i < NTEAMS; i++)
        execf(db, "INSERT INTO teams (id, name, public) VALUES ('t%d', 'team%c%d', %d)", i,
              "ab"[i % 2], i, i % 2);
    for (int i = 0; i < NVAULT; i++)
        execf(db, "INSERT INTO vault (id, code) VALUES ('v%d', 'k%d%c')", i, i, "ab"[i % 2]);
    for (int i = 0; i < NUSERS; i++) {
        char email[32];
        email_of(i, email);
        execf(
            db,
            "INSERT INTO users (id, email, emailVisibility, name, secret, password, tokenKey,"
            " fav, team) VALUES ('u%d', '%q', %d, 'n%c%d', 's%c%d', 'pw%d', 'tk%d', 'p%d', 't%d')",
            i, email, (int)(rnd(&x) % 2), "ab"[i % 2], i, "ab"[(i / 2) % 2], i, i, i,
            (int)(rnd(&x) % NPOSTS), (int)(rnd(&x) % NTEAMS));
    }
    for (int i = 0; i < NPOSTS; i++) {
        char editors[64] = "[";
        int ne = (int)(rnd(&x) % 4);
        for (int k = 0; k < ne; k++)
            snprintf(editors + strlen(editors), sizeof(editors) - strlen(editors), "%s\"u%d\"",
                     k ? "," : "", (int)(rnd(&x) % NUSERS));
        strcat(editors, "]");
        char parent[16] = "";
        if (i)
            snprintf(parent, sizeof(parent), "p%d", (int)(rnd(&x) % (uint64_t)i));
        execf(db,
              "INSERT INTO posts (id, title, views, author, editors, parent, vault, team, internal)"
              " VALUES ('p%d', 'title%c%d', %d, 'u%d', '%q', '%s', 'v%d', 't%d', 'i%c%d')",
              i, "ab"[i % 2], i % 5, (int)(rnd(&x) % 20), (int)(rnd(&x) % NUSERS), editors, parent,
              (int)(rnd(&x) % NVAULT), (int)(rnd(&x) % NTEAMS), "ab"[i % 2], i);
    }
    for (int i = 0; i < NCOMMENTS; i++)
        execf(db,
              "INSERT INTO comments (id, text, post, author, spy, note, approved) VALUES"
              " ('c%d', 'c%c%d', 'p%d', 'u%d', 'p%d', 'n%c%d', %d)",
              i, "ab"[i % 2], i % 4, (int)(rnd(&x) % NPOSTS), (int)(rnd(&x) % NUSERS),
              (int)(rnd(&x) % NPOSTS), "ab"[i % 2], i, (int)(rnd(&x) % 3 != 0));
    exec(db, "UPDATE vault SET post = 'p' || (CAST(substr(id, 2) AS INTEGER) * 3)");
    exec(db, "COMMIT");

    /* the copy, with everything a guest may not see scrambled */
    sqlite3_backup *b = sqlite3_backup_init(w->db[1], "main", db, "main");
    assert_non_null(b);
    assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
    sqlite3_backup_finish(b);
    sqlite3 *cp = w->db[1];
    exec(cp, "BEGIN");
    exec(cp, "UPDATE users SET secret = 'zz' || hex(randomblob(4)), password = 'x',"
             " tokenKey = hex(randomblob(8))");
    exec(cp, "UPDATE users SET email = 'zz' || hex(randomblob(4)) || '@q.io'"
             " WHERE emailVisibility = 0");
    exec(cp, "UPDATE posts SET internal = hex(randomblob(4))");
    exec(cp, "UPDATE vault SET code = hex(randomblob(4)), created = '1999-01-01 00:00:00.000Z',"
             " post = 'p' || (abs(random()) % 16)");
    /* comments: hidden fields, and every column of the rows the listRule hides */
    exec(cp, "UPDATE comments SET note = hex(randomblob(4)), spy = 'p' || (abs(random()) % 16)");
    exec(cp, "UPDATE comments SET text = hex(randomblob(4)), post = 'p' || (abs(random()) % 16),"
             " author = 'u' || (abs(random()) % 8), created = '1999-01-01 00:00:00.000Z'"
             " WHERE approved = 0");
    exec(cp, "UPDATE teams SET name = hex(randomblob(4)), created = '1999-01-01 00:00:00.000Z',"
             " updated = '1999-01-01 00:00:00.000Z' WHERE public = 0");
    exec(cp, "COMMIT");
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    for (int k = 0; k < 2; k++) {
        sqlite3_close(w->db[k]);
        unlink(w->path[k]);
    }
    sh_collection_list_free(w->list, w->n);
    free(w);
    return 0;
}

/* ---- generated filters ---- */

static const char *const post_paths[] = {
    "title",
    "views",
    "id",
    "author",
    "author.name",
    "author.email",
    "author.email:lower",
    "author.emailVisibility",
    "parent.author.email",
    "parent.parent.author.email",
    "parent.parent.parent.author.email",
    "editors.email",
    "editors.name",
    "editors.fav.title",
    "author.fav.author.email",
    "author.fav.editors.email",
    "team.name",
    "team.public",
    "team.created",
    "parent.team.name",
    "author.team.name",
    "editors.team.name",
    "vault.code",
    "vault.id",
    "parent.vault.code",
    "author.secret",
    "internal",
    "parent.internal",
    "author.password",
    "author.tokenKey",
    "editors.secret",
    "vault",
    "team",
    "editors.fav.editors.fav.editors.email",
    /* issue 9: back-relations (into an auth collection, through a hidden
     * relation, to hidden fields, into a null-listRule collection), modifiers
     * on hidden fields, @collection (a client may not) */
    "comments_via_post.text",
    "comments_via_post.id",
    "comments_via_post.author", /* indexed: ?= a value is the semi-join */
    "comments_via_spy.post",
    "comments_via_post.approved",
    "comments_via_post.created",
    "comments_via_post.author.email",
    "comments_via_post.author.secret",
    "comments_via_post.text:each",
    "comments_via_post.text:lower",
    "comments_via_spy.text",
    "users_via_fav.email",
    "users_via_fav.email:lower",
    "users_via_fav.name",
    "users_via_fav.secret",
    "users_via_fav.id",
    "vault_via_post.code",
    "author.posts_via_author.internal",
    "author.posts_via_author.title",
    "author.comments_via_author.text",
    "parent.comments_via_post.text",
    "comments_via_post:length", /* a COUNT under comments' listRule */
    "comments_via_spy:length",
    "vault_via_post:length",
    "users_via_fav:length",
    "author.comments_via_author:length",
    "internal:lower",
    "editors.email:each",
    "@collection.users.email",
};

static const char *const user_paths[] = {
    "email",
    "name",
    "emailVisibility",
    "fav.title",
    "fav.author.email",
    "fav.editors.email",
    "team.name",
    "team.public",
    "fav.team.name",
    "secret",
    "fav.vault.code",
    "fav.internal",
    "fav.parent.author.email",
    "tokenKey",
    "fav.editors.fav.author.email",
    "posts_via_author.title",
    "posts_via_author.comments_via_post.text",
    "posts_via_editors.title",
    "comments_via_author.text",
    "comments_via_author.note",
    "comments_via_author.post.title",
    "users_via_team.email",
    "fav.users_via_fav.email",
    "comments_via_author:length",
    "posts_via_author:length",
    "fav.comments_via_post:length",
    "email:lower",
    "@collection.comments:c.note",
};

static const char *const ops[] = {"=",  "!=", "~",   "!~", ">",  ">=", "<",
                                  "<=", "?=", "?!=", "?~", "?>", "?<="};

/* Literals: real secrets among them (hidden emails, codes, private team
 * names) and fragments of them, so that a leak shows. */
static const char *const literals[] = {
    "'ab0@e.io'", "'ba0@e.io'", "'aa0@e.io'", "'bb1@e.io'", "'abc1@e.io'", "'cab1@e.io'",
    "'b2@e.io'",  "'a2@e.io'",  "'a'",        "'b'",        "'ab%'",       "'%@e%'",
    "'c'",        "''",         "null",       "0",          "5",           "true",
    "false",      "'k1b'",      "'k%'",       "'teama0'",   "'teamb1'",    "'team%'",
    "'sa0'",      "'titleb1'",  "'u3'",       "'p2'",       "'t0'",        "'2000-01-01'",
    "'u1'",       "'u5'",
};

static void append(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s", s);
}

static void gen_cmp(uint64_t *x, bool posts, char *buf, size_t cap)
{
    const char *const *paths = posts ? post_paths : user_paths;
    size_t np = posts ? ARRAY_LEN(post_paths) : ARRAY_LEN(user_paths);
    append(buf, cap, paths[rnd(x) % np]);
    append(buf, cap, " ");
    append(buf, cap, ops[rnd(x) % ARRAY_LEN(ops)]);
    append(buf, cap, " ");
    if (rnd(x) % 5 == 0)
        append(buf, cap, paths[rnd(x) % np]); /* field against field */
    else
        append(buf, cap, literals[rnd(x) % ARRAY_LEN(literals)]);
}

static void gen_filter(uint64_t *x, bool posts, char *buf, size_t cap)
{
    buf[0] = 0;
    int terms = 1 + (int)(rnd(x) % 3);
    for (int t = 0; t < terms; t++) {
        if (t)
            append(buf, cap, rnd(x) % 2 ? " && " : " || ");
        bool paren = rnd(x) % 4 == 0;
        if (paren)
            append(buf, cap, "(");
        gen_cmp(x, posts, buf, cap);
        if (paren) {
            append(buf, cap, " || ");
            gen_cmp(x, posts, buf, cap);
            append(buf, cap, ")");
        }
    }
}

static void gen_sort(uint64_t *x, bool posts, char *buf, size_t cap)
{
    const char *const *paths = posts ? post_paths : user_paths;
    size_t np = posts ? ARRAY_LEN(post_paths) : ARRAY_LEN(user_paths);
    buf[0] = 0;
    int terms = 1 + (int)(rnd(x) % 2);
    for (int t = 0; t < terms; t++) {
        if (t)
            append(buf, cap, ",");
        if (rnd(x) % 2)
            append(buf, cap, "-");
        append(buf, cap, paths[rnd(x) % np]);
    }
}

/* The ids of c's rows under where/order (compiled), as one string. */
static char *run(sqlite3 *db, const struct sh_collection *c, const struct sh_filter_sql *where,
                 const struct sh_filter_sql *order)
{
    char *sql = sqlite3_mprintf("SELECT \"%w\".id FROM \"%w\" WHERE %s ORDER BY %s%s\"%w\".rowid",
                                c->name, c->name, where->sql ? where->sql : "1",
                                order->len ? order->sql : "", order->len ? ", " : "", c->name);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    sqlite3_free(sql);
    assert_int_equal(sh_filter_sql_bind(where, st, 1), SQLITE_OK);
    assert_int_equal(sh_filter_sql_bind(order, st, 1 + (int)where->nparams), SQLITE_OK);
    size_t cap = 256, len = 0;
    char *out = calloc(1, cap);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        size_t n = strlen(id);
        if (len + n + 2 > cap)
            out = realloc(out, cap = 2 * (cap + n));
        memcpy(out + len, id, n);
        len += n;
        out[len++] = ',';
        out[len] = 0;
    }
    assert_int_equal(rc, SQLITE_DONE);
    sqlite3_finalize(st);
    return out;
}

struct tally {
    int compiled, refused, nonempty, leaks;
    char first_leak[512];
};

/* Compiles filter and sort for c in a view with flags (the caller's ctx),
 * runs both databases and counts whether they differ. */
static void check_one(struct world *w, const struct sh_collection *c, unsigned flags,
                      const struct sh_filter_ctx *ctx, const char *ftext, const char *stext,
                      struct tally *t)
{
    struct sh_filter *f;
    struct sh_filter_error err;
    if (sh_filter_parse(ftext, strlen(ftext), &f, &err) != 0)
        fail_msg("generated filter does not parse: %s: %s", ftext, err.message);
    struct sh_schema_view v;
    sh_schema_view_init(&v, c, &w->resolver, flags);
    if (flags & SH_SCHEMA_VIEW_CLIENT)
        v.schema.max_multi_hops = SH_REC_DEFAULT_MAX_MULTI_HOPS;
    struct sh_filter_sql where = {0}, order = {0};
    int rc = sh_filter_compile(f, &v.schema, ctx, &where, &err);
    if (rc == 0 && stext)
        rc = sh_sort_compile_ctx(stext, strlen(stext), &v.schema, ctx, &order, &err);
    sh_schema_view_deinit(&v);
    sh_filter_free(f);
    if (rc != 0) {
        assert_int_equal(rc, SH_EINVAL);
        assert_true(err.message[0] != 0);
        t->refused++;
        sh_filter_sql_deinit(&where);
        sh_filter_sql_deinit(&order);
        return;
    }
    t->compiled++;
    char *a = run(w->db[0], c, &where, &order), *b = run(w->db[1], c, &where, &order);
    if (a[0])
        t->nonempty++;
    if (strcmp(a, b) != 0) {
        if (!t->leaks++)
            snprintf(t->first_leak, sizeof(t->first_leak), "%s [sort %s]: %s vs %s", ftext,
                     stext ? stext : "-", a, b);
    }
    free(a);
    free(b);
    sh_filter_sql_deinit(&where);
    sh_filter_sql_deinit(&order);
}

#define CASES 4000

static void run_cases(struct world *w, unsigned flags, const struct sh_filter_ctx *ctx,
                      uint64_t seed, struct tally *t)
{
    uint64_t x = seed;
    char ftext[1024], stext[256];
    for (int i = 0; i < CASES; i++) {
        bool posts = rnd(&x) % 3 != 0;
        gen_filter(&x, posts, ftext, sizeof(ftext));
        bool sort = rnd(&x) % 3 == 0;
        if (sort)
            gen_sort(&x, posts, stext, sizeof(stext));
        check_one(w, coll(w, posts ? "posts" : "users"), flags, ctx, ftext, sort ? stext : NULL, t);
    }
}

static void test_guest_sees_nothing_hidden(void **state)
{
    struct world *w = *state;
    struct tally t = {0};
    run_cases(w, SH_SCHEMA_VIEW_CLIENT, NULL, 0x9e3779b97f4a7c15ULL, &t);
    print_message("guest: %d compiled (%d with rows), %d refused, %d leaks\n", t.compiled,
                  t.nonempty, t.refused, t.leaks);
    if (t.leaks)
        fail_msg("a generated filter depends on hidden data: %s", t.first_leak);
    /* the generator reaches both sides: answered filters and refused ones */
    assert_true(t.compiled > CASES / 4);
    assert_true(t.nonempty > CASES / 8);
    assert_true(t.refused > CASES / 10);
}

/* A signed-in user: their own email is theirs to filter on (it is not
 * scrambled), everyone else's hidden data still counts for nothing. */
static void test_user_sees_only_own_email(void **state)
{
    struct world *w = *state;
    /* u0 with emailVisibility forced off in both copies, email kept */
    for (int k = 0; k < 2; k++)
        exec(w->db[k], "UPDATE users SET emailVisibility = 0 WHERE id = 'u0'");
    char email[32];
    email_of(0, email);
    execf(w->db[1], "UPDATE users SET email = '%q' WHERE id = 'u0'", email);
    cJSON *auth = cJSON_CreateObject();
    cJSON_AddStringToObject(auth, "id", "u0");
    cJSON_AddStringToObject(auth, "collectionId", coll(w, "users")->id);
    struct sh_filter_ctx ctx = {.auth = auth, .method = "GET", .context = "default"};
    struct tally t = {0};
    run_cases(w, SH_SCHEMA_VIEW_CLIENT, &ctx, 0x243f6a8885a308d3ULL, &t);
    print_message("user u0: %d compiled, %d refused, %d leaks\n", t.compiled, t.refused, t.leaks);
    if (t.leaks)
        fail_msg("a generated filter depends on hidden data: %s", t.first_leak);
    /* and the owner exception works: u0 finds its own hidden email */
    char own_filter[64];
    snprintf(own_filter, sizeof(own_filter), "email = '%s'", email);
    struct tally own = {0};
    check_one(w, coll(w, "users"), SH_SCHEMA_VIEW_CLIENT, &ctx, own_filter, NULL, &own);
    assert_int_equal(own.compiled, 1);
    assert_int_equal(own.nonempty, 1);
    struct tally guest = {0};
    check_one(w, coll(w, "users"), SH_SCHEMA_VIEW_CLIENT, NULL, own_filter, NULL, &guest);
    assert_int_equal(guest.nonempty, 0);
    cJSON_Delete(auth);
}

/* The semi-join forms (`?=` of an indexed column of a back-relation or of
 * an @collection row against a value) over every user id and post id: the
 * rows the listRule hides must not count there either. */
static void test_semi_joins_see_nothing_hidden(void **state)
{
    struct world *w = *state;
    struct tally t = {0};
    char f[160];
    for (int i = 0; i < NUSERS; i++) {
        snprintf(f, sizeof(f), "comments_via_post.author ?= 'u%d'", i);
        check_one(w, coll(w, "posts"), SH_SCHEMA_VIEW_CLIENT, NULL, f, NULL, &t);
        snprintf(f, sizeof(f), "comments_via_post.author ?= 'u%d' || title ~ 'b'", i);
        check_one(w, coll(w, "posts"), SH_SCHEMA_VIEW_CLIENT, NULL, f, NULL, &t);
        snprintf(f, sizeof(f), "comments_via_author.post ?= 'p%d'", i);
        check_one(w, coll(w, "users"), SH_SCHEMA_VIEW_CLIENT, NULL, f, NULL, &t);
        snprintf(f, sizeof(f), "posts_via_author.comments_via_post.author ?= 'u%d'", i);
        check_one(w, coll(w, "users"), SH_SCHEMA_VIEW_CLIENT, NULL, f, NULL, &t);
        /* the counts of back-relations: only the rows the listRule shows */
        snprintf(f, sizeof(f), "comments_via_post:length = %d", i % 4);
        check_one(w, coll(w, "posts"), SH_SCHEMA_VIEW_CLIENT, NULL, f, NULL, &t);
        snprintf(f, sizeof(f), "comments_via_author:length <= %d", i % 4);
        check_one(w, coll(w, "users"), SH_SCHEMA_VIEW_CLIENT, NULL, f, NULL, &t);
    }
    print_message("semi-joins: %d compiled (%d with rows), %d refused, %d leaks\n", t.compiled,
                  t.nonempty, t.refused, t.leaks);
    if (t.leaks)
        fail_msg("a semi-join depends on hidden data: %s", t.first_leak);
    assert_int_equal(t.refused, 0);
    assert_true(t.nonempty > NUSERS);
}

/* A signed-in user's own filter through @request.auth: relation paths and
 * back-relations from the auth record (`@request.auth.posts_via_author`,
 * `:length` counts) read only what the user may list, whichever views of
 * the auth collection the context carries (the records API gives rules'
 * view, hidden fields included, and the client's). */
static void test_auth_paths_see_nothing_hidden(void **state)
{
    struct world *w = *state;
    static const char *const auth_paths[] = {
        "@request.auth.comments_via_author.text",
        "@request.auth.comments_via_author.note",
        "@request.auth.comments_via_author.post",
        "@request.auth.comments_via_author:length",
        "@request.auth.posts_via_author.title",
        "@request.auth.posts_via_author.internal",
        "@request.auth.posts_via_author.comments_via_post.note",
        "@request.auth.posts_via_author.comments_via_post:length",
        "@request.auth.posts_via_author:length",
        "@request.auth.users_via_team.email",
        "@request.auth.fav.title",
        "@request.auth.fav.internal",
        "@request.auth.fav.author.secret",
        "@request.auth.fav.comments_via_post.note",
        "@request.auth.fav.comments_via_post:length",
        "@request.auth.fav.vault.code",
        "@request.auth.team.name",
    };
    static const char *const rhs[] = {"id",  "title", "author", "views", "''",
                                      "'a'", "0",     "1",      "2",     "'p1'"};
    static const char *const cmp[] = {"?=", "=", "?~", "!=", ">", "?>"};
    struct sh_schema_views *vs = sh_schema_views_new(&w->resolver, 0);
    const struct sh_collection *users = coll(w, "users");
    /* as the records API sets them (rules' view and the client's), a
     * client view alone, rules' view alone (the paths cannot go through) */
    const struct sh_filter_schema *hidden = sh_schema_views_get(vs, users, SH_SCHEMA_VIEW_HIDDEN);
    const struct sh_filter_schema *client = sh_schema_views_get(vs, users, SH_SCHEMA_VIEW_CLIENT);
    const struct sh_filter_schema *views[][2] = {{hidden, client}, {client, NULL}, {hidden, NULL}};
    struct tally t = {0};
    char f[256];
    for (int u = 0; u < NUSERS; u++) {
        char id[8];
        snprintf(id, sizeof(id), "u%d", u);
        cJSON *auth = cJSON_CreateObject();
        cJSON_AddStringToObject(auth, "id", id);
        cJSON_AddStringToObject(auth, "collectionId", users->id);
        /* the auth record's own values, as the records API has them */
        sqlite3_stmt *st;
        assert_int_equal(
            sqlite3_prepare_v2(w->db[0], "SELECT fav, team FROM users WHERE id = ?", -1, &st, NULL),
            SQLITE_OK);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            for (int k = 0; k < 2; k++)
                if (sqlite3_column_type(st, k) == SQLITE_TEXT)
                    cJSON_AddStringToObject(auth, k ? "team" : "fav",
                                            (const char *)sqlite3_column_text(st, k));
        }
        sqlite3_finalize(st);
        for (size_t v = 0; v < ARRAY_LEN(views); v++) {
            struct sh_filter_ctx ctx = {
                .auth = auth, .auth_schema = views[v][0], .auth_client_schema = views[v][1]};
            for (size_t i = 0; i < ARRAY_LEN(auth_paths); i++)
                for (size_t j = 0; j < ARRAY_LEN(rhs); j++) {
                    snprintf(f, sizeof(f), "%s %s %s", auth_paths[i], cmp[(i + j) % ARRAY_LEN(cmp)],
                             rhs[j]);
                    check_one(w, coll(w, "posts"), SH_SCHEMA_VIEW_CLIENT, &ctx, f, NULL, &t);
                }
        }
        cJSON_Delete(auth);
    }
    sh_schema_views_free(vs);
    print_message("auth paths: %d compiled (%d with rows), %d refused, %d leaks\n", t.compiled,
                  t.nonempty, t.refused, t.leaks);
    if (t.leaks)
        fail_msg("an @request.auth path depends on hidden data: %s", t.first_leak);
    assert_true(t.nonempty > 100);
}

/* The oracle has teeth: compiled as guests' filters were before (every
 * field but hidden ones, every collection, no row rules), the same cases
 * are caught reading what they may not. */
static void test_oracle_catches_old_compile(void **state)
{
    struct world *w = *state;
    struct tally t = {0};
    run_cases(w, 0, NULL, 0x9e3779b97f4a7c15ULL, &t);
    print_message("unconfined: %d compiled, %d leaks, e.g. %s\n", t.compiled, t.leaks,
                  t.first_leak);
    assert_true(t.leaks > 50);
}

/* ---- what the compiler reports it read, and views built once ---- */

/* Compiles text for c in view s; returns out->reads (asserting success). */
static unsigned reads_of(const struct sh_filter_schema *s, const char *text, bool sort,
                         const struct sh_filter_ctx *ctx)
{
    struct sh_filter_sql q = {0};
    struct sh_filter_error err;
    if (sort) {
        if (sh_sort_compile_ctx(text, strlen(text), s, ctx, &q, &err) != 0)
            fail_msg("sort %s: %s", text, err.message);
    } else {
        struct sh_filter *f;
        assert_int_equal(sh_filter_parse(text, strlen(text), &f, &err), 0);
        if (sh_filter_compile(f, s, ctx, &q, &err) != 0)
            fail_msg("filter %s: %s", text, err.message);
        sh_filter_free(f);
    }
    unsigned r = q.reads;
    sh_filter_sql_deinit(&q);
    return r;
}

/* The count cache asks the compiler, not the SQL text, whether a WHERE
 * reads another table or a hidden field (an auth collection's tokenKey). */
static void test_compiler_reports_reads(void **state)
{
    struct world *w = *state;
    struct sh_schema_views *vs = sh_schema_views_new(&w->resolver, 0);
    const struct sh_filter_schema *posts =
        sh_schema_views_get(vs, coll(w, "posts"), SH_SCHEMA_VIEW_HIDDEN);
    const struct sh_filter_schema *users =
        sh_schema_views_get(vs, coll(w, "users"), SH_SCHEMA_VIEW_HIDDEN);
    const unsigned OTHER = SH_FILTER_READS_OTHER_TABLE, HIDDEN = SH_FILTER_READS_HIDDEN;
    assert_int_equal(reads_of(posts, "title = 'a' && views > 2", false, NULL), 0);
    /* a string that looks like SQL names nothing */
    assert_int_equal(reads_of(posts, "title = 'FROM \"users\" \"tokenKey\"'", false, NULL), 0);
    assert_int_equal(reads_of(posts, "internal = 'x'", false, NULL), HIDDEN);
    assert_int_equal(reads_of(posts, "author.name = 'x'", false, NULL), OTHER);
    assert_int_equal(reads_of(posts, "editors.name ?= 'x'", false, NULL), OTHER);
    assert_int_equal(reads_of(posts, "parent.title = 'x'", false, NULL), 0); /* itself */
    assert_int_equal(reads_of(posts, "parent.author.secret = 'x'", false, NULL), OTHER | HIDDEN);
    assert_int_equal(reads_of(users, "tokenKey != ''", false, NULL), HIDDEN);
    assert_int_equal(reads_of(posts, "author.tokenKey != ''", false, NULL), OTHER | HIDDEN);
    assert_int_equal(reads_of(posts, "-author.name,title", true, NULL), OTHER);
    assert_int_equal(reads_of(posts, "-views", true, NULL), 0);
    /* @request.auth.team.name reads teams from the auth record's value */
    cJSON *auth = cJSON_CreateObject();
    cJSON_AddStringToObject(auth, "id", "u0");
    cJSON_AddStringToObject(auth, "team", "t0");
    struct sh_filter_ctx ctx = {.auth = auth, .auth_schema = users};
    assert_int_equal(reads_of(posts, "@request.auth.team.name = 'x'", false, &ctx), OTHER);
    assert_int_equal(reads_of(posts, "@request.auth.id = author", false, &ctx), 0);
    cJSON_Delete(auth);
    /* a confined hop through a listRule reads the target */
    const struct sh_filter_schema *client =
        sh_schema_views_get(vs, coll(w, "posts"), SH_SCHEMA_VIEW_CLIENT);
    assert_int_equal(reads_of(client, "team.name = 'x'", false, NULL), OTHER);
    sh_schema_views_free(vs);
}

/* Which parts of the request a parsed filter reads: from the AST. */
static void test_filter_uses(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        unsigned uses;
    } cases[] = {
        {"title = 'a'", 0},
        {"title = '@request.query.x @request.headers.y'", 0}, /* words in a string */
        {"title = @request.query.x", SH_FILTER_USES_REQUEST | SH_FILTER_USES_QUERY},
        {"@request.headers.x_y != ''", SH_FILTER_USES_REQUEST | SH_FILTER_USES_HEADERS},
        {"@request.auth.id != ''", SH_FILTER_USES_REQUEST},
        {"@now > created", SH_FILTER_USES_TIME}, /* the answer moves with the clock */
        {"created >= @todayStart && title = 'x'", SH_FILTER_USES_TIME},
        {"@request.method = 'GET'", SH_FILTER_USES_REQUEST},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct sh_filter *f;
        struct sh_filter_error err;
        assert_int_equal(sh_filter_parse(cases[i].text, strlen(cases[i].text), &f, &err), 0);
        if (sh_filter_uses(f) != cases[i].uses)
            fail_msg("%s: uses %u, want %u", cases[i].text, sh_filter_uses(f), cases[i].uses);
        assert_int_equal(sh_filter_uses_request(f) != 0,
                         (cases[i].uses & SH_FILTER_USES_REQUEST) != 0);
        sh_filter_free(f);
    }
}

/* A set of views builds each (collection, flags) once, whatever the number
 * of compiles, and a view from the set compiles as a fresh one does. */
static void test_views_built_once(void **state)
{
    struct world *w = *state;
    struct sh_schema_views *vs = sh_schema_views_new(&w->resolver, 2);
    const struct sh_collection *posts = coll(w, "posts");
    const struct sh_filter_schema *a = sh_schema_views_get(vs, posts, SH_SCHEMA_VIEW_CLIENT);
    assert_int_equal(sh_schema_views_built(vs), 1);
    assert_int_equal(a->max_multi_hops, 2);
    for (int i = 0; i < 100; i++)
        assert_ptr_equal(sh_schema_views_get(vs, posts, SH_SCHEMA_VIEW_CLIENT), a);
    assert_int_equal(sh_schema_views_built(vs), 1);
    const struct sh_filter_schema *h = sh_schema_views_get(vs, posts, SH_SCHEMA_VIEW_HIDDEN);
    assert_ptr_not_equal(h, a);
    assert_int_equal(h->max_multi_hops, 0);
    sh_schema_views_get(vs, coll(w, "users"), SH_SCHEMA_VIEW_HIDDEN);
    assert_int_equal(sh_schema_views_built(vs), 3);

    /* the same SQL and parameters as a view built for the one compile */
    const char *text = "team.name = 'x' && author.fav.title != '' && editors.name ?= 'y'";
    struct sh_filter *f;
    struct sh_filter_error err;
    assert_int_equal(sh_filter_parse(text, strlen(text), &f, &err), 0);
    struct sh_schema_view v;
    sh_schema_view_init(&v, posts, &w->resolver, SH_SCHEMA_VIEW_CLIENT);
    v.schema.max_multi_hops = 2;
    struct sh_filter_sql q1 = {0}, q2 = {0}, q3 = {0};
    assert_int_equal(sh_filter_compile(f, &v.schema, NULL, &q1, &err), 0);
    assert_int_equal(sh_filter_compile(f, a, NULL, &q2, &err), 0);
    assert_int_equal(sh_filter_compile(f, a, NULL, &q3, &err), 0); /* hops built by q2 reused */
    assert_string_equal(q1.sql, q2.sql);
    assert_string_equal(q2.sql, q3.sql);
    assert_int_equal(q1.nparams, q2.nparams);
    assert_int_equal(q1.reads, q2.reads);
    sh_filter_sql_deinit(&q1);
    sh_filter_sql_deinit(&q2);
    sh_filter_sql_deinit(&q3);
    sh_schema_view_deinit(&v);
    sh_filter_free(f);
    sh_schema_views_free(vs);
    sh_schema_views_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guest_sees_nothing_hidden),
        cmocka_unit_test(test_semi_joins_see_nothing_hidden),
        cmocka_unit_test(test_auth_paths_see_nothing_hidden),
        cmocka_unit_test(test_oracle_catches_old_compile),
        cmocka_unit_test(test_user_sees_only_own_email),
        cmocka_unit_test(test_compiler_reports_reads),
        cmocka_unit_test(test_filter_uses),
        cmocka_unit_test(test_views_built_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
