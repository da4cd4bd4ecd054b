/*
 * The constructs of issue 9's filter language, compiled and run against a
 * PocketBase-style blog in an in-memory SQLite database: back-relations
 * (`comments_via_post`, single and multiple relations, nested, confined by
 * the source's listRule, refused when unindexed or hidden), @collection with
 * aliases (one shared join per alias for `?op`, PocketBase's correlation),
 * :each, :changed, geoDistance and strftime, and the hostile cases: alias
 * collisions, modifiers on the wrong type, recursion through relations,
 * @collection from a confined (client) filter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "stagehand/core.h"
#include "stagehand/filter.h"

#define IX SH_FILTER_FIELD_INDEXED

static const struct sh_filter_field user_fields[] = {
    {"name", SH_FIELD_TEXT, 0, NULL},
    {"secret", SH_FIELD_TEXT, SH_FILTER_FIELD_HIDDEN, NULL},
};
static const struct sh_filter_field post_fields[] = {
    {"title", SH_FIELD_TEXT, 0, NULL},
    {"views", SH_FIELD_NUMBER, 0, NULL},
    {"author", SH_FIELD_RELATION, IX, "users"},
    {"tags", SH_FIELD_SELECT, SH_FILTER_FIELD_MULTI, NULL},
};
static const struct sh_filter_field comment_fields[] = {
    {"text", SH_FIELD_TEXT, 0, NULL},
    {"post", SH_FIELD_RELATION, IX, "posts"},
    {"author", SH_FIELD_RELATION, IX, "users"},
    {"flagged", SH_FIELD_BOOL, SH_FILTER_FIELD_HIDDEN, NULL},
    {"reviewer", SH_FIELD_RELATION, IX | SH_FILTER_FIELD_HIDDEN, "posts"},
};
static const struct sh_filter_field like_fields[] = {
    {"posts", SH_FIELD_RELATION, SH_FILTER_FIELD_MULTI, "posts"},
    {"single", SH_FIELD_RELATION, 0, "posts"}, /* not indexed */
    {"kind", SH_FIELD_TEXT, IX, NULL},
};
/* The client's view of comments: the hidden fields cannot be filtered. */
static const struct sh_filter_field comment_client_fields[] = {
    {"text", SH_FIELD_TEXT, 0, NULL},
    {"post", SH_FIELD_RELATION, IX, "posts"},
    {"author", SH_FIELD_RELATION, IX, "users"},
    {"flagged", SH_FIELD_BOOL, SH_FILTER_FIELD_NOFILTER, NULL},
    {"reviewer", SH_FIELD_RELATION, IX | SH_FILTER_FIELD_NOFILTER, "posts"},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct sh_filter_schema *resolve(void *ud, const char *collection);
static const struct sh_filter_schema *resolve_client(void *ud, const char *collection);

#define SCHEMA(t, f)                                                                               \
    {                                                                                              \
        .table = t, .fields = f, .nfields = N(f), .resolve = resolve                               \
    }
static const struct sh_filter_schema users = SCHEMA("users", user_fields);
static const struct sh_filter_schema posts = SCHEMA("posts", post_fields);
static const struct sh_filter_schema comments = SCHEMA("comments", comment_fields);
static const struct sh_filter_schema likes = SCHEMA("likes", like_fields);
static const struct sh_filter_schema secrets = SCHEMA("secrets", like_fields);

static const struct sh_filter_schema *resolve(void *ud, const char *collection)
{
    (void)ud;
    const struct sh_filter_schema *all[] = {&users, &posts, &comments, &likes};
    for (size_t i = 0; i < N(all); i++)
        if (strcmp(all[i]->table, collection) == 0)
            return all[i];
    return NULL;
}

/* Confined (a client's filter): comments are listable only when not flagged
 * (its listRule), `secrets` not at all. */
static struct sh_filter *comments_rule;
static struct sh_filter_schema c_users, c_posts, c_comments, c_likes, c_secrets;

static const struct sh_filter_schema *resolve_client(void *ud, const char *collection)
{
    (void)ud;
    struct sh_filter_schema *all[] = {&c_users, &c_posts, &c_comments, &c_likes, &c_secrets};
    for (size_t i = 0; i < N(all); i++)
        if (strcmp(all[i]->table, collection) == 0)
            return all[i];
    return NULL;
}

static const char blog_sql[] =
    "CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT, secret TEXT, created TEXT, updated "
    "TEXT);"
    "CREATE TABLE posts (id TEXT PRIMARY KEY, title TEXT, views NUMERIC, author TEXT, tags TEXT,"
    " created TEXT, updated TEXT);"
    "CREATE TABLE comments (id TEXT PRIMARY KEY, text TEXT, post TEXT, author TEXT, flagged "
    "BOOLEAN, reviewer TEXT, created TEXT, updated TEXT);"
    "CREATE INDEX comments_post ON comments (post);"
    "CREATE INDEX comments_author ON comments (author);"
    "CREATE TABLE likes (id TEXT PRIMARY KEY, posts TEXT, single TEXT, kind TEXT, created TEXT, "
    "updated TEXT);"
    "CREATE INDEX likes_kind ON likes (kind);"
    "CREATE TABLE secrets (id TEXT PRIMARY KEY, posts TEXT, single TEXT, kind TEXT);"
    "INSERT INTO users (id, name, secret) VALUES ('u1', 'ann', 's1'), ('u2', 'bob', 's2');"
    "INSERT INTO posts (id, title, views, author, tags, created) VALUES"
    " ('p1', 'hello', 10, 'u1', '[\"a\",\"e\"]', '2024-01-01 10:00:00.000Z'),"
    " ('p2', 'world', 5, 'u2', '[\"e\"]', '2023-05-01 10:00:00.000Z'),"
    " ('p3', 'empty', 0, 'u1', '[]', '2024-03-01 10:00:00.000Z');"
    "INSERT INTO comments (id, text, post, author, flagged, reviewer) VALUES"
    " ('c1', 'great post', 'p1', 'u2', 1, 'p3'),"
    " ('c2', 'meh', 'p1', 'u1', 0, NULL),"
    " ('c3', 'bad', 'p2', 'u1', 0, NULL);"
    "INSERT INTO likes (id, posts, single) VALUES ('l1', '[\"p1\",\"p2\"]', 'p3');";

static int setup(void **state)
{
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        return -1;
    char *msg = NULL;
    if (sqlite3_exec(db, blog_sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "fixture: %s\n", msg);
        sqlite3_free(msg);
        sqlite3_close(db);
        return -1;
    }
    struct sh_filter_error err;
    const char *rule = "flagged = false";
    if (sh_filter_parse(rule, strlen(rule), &comments_rule, &err))
        return -1;
    c_users = users;
    c_posts = posts;
    c_comments = comments;
    c_likes = likes;
    c_secrets = secrets;
    struct sh_filter_schema *all[] = {&c_users, &c_posts, &c_comments, &c_likes, &c_secrets};
    for (size_t i = 0; i < N(all); i++) {
        all[i]->resolve = resolve_client;
        all[i]->access = SH_FILTER_ACCESS_CONFINED;
    }
    c_comments.fields = comment_client_fields;
    c_comments.row_rule = comments_rule;
    c_comments.row_rule_schema = &comments;
    c_secrets.access |= SH_FILTER_ACCESS_NOLIST;
    c_posts.max_multi_hops = 1;
    *state = db;
    return 0;
}

static int teardown(void **state)
{
    sh_filter_free(comments_rule);
    comments_rule = NULL;
    sqlite3_close(*state);
    return 0;
}

/* Compiles filter against s and returns the SQL (static buffer). */
static const char *sql_of(const struct sh_filter_schema *s, const char *filter)
{
    static char out[4096];
    struct sh_filter *f;
    struct sh_filter_error err;
    struct sh_filter_sql q;
    assert_int_equal(sh_filter_parse(filter, strlen(filter), &f, &err), 0);
    if (sh_filter_compile(f, s, NULL, &q, &err))
        fail_msg("%s: %s", filter, err.message);
    sh_filter_free(f);
    snprintf(out, sizeof(out), "%s", q.sql);
    sh_filter_sql_deinit(&q);
    return out;
}

/* Runs `SELECT id FROM posts WHERE <filter>`; the ids joined by commas
 * (static buffer), or "ERR: <message>" for a refused filter. */
static const char *run(sqlite3 *db, const struct sh_filter_schema *s, const char *filter,
                       const struct sh_filter_ctx *ctx)
{
    static char ids[512];
    struct sh_filter *f;
    struct sh_filter_error err;
    struct sh_filter_sql q;
    if (sh_filter_parse(filter, strlen(filter), &f, &err) != 0) {
        snprintf(ids, sizeof(ids), "ERR: %s", err.message);
        return ids;
    }
    int rc = sh_filter_compile(f, s, ctx, &q, &err);
    sh_filter_free(f);
    if (rc) {
        snprintf(ids, sizeof(ids), "ERR: %s", err.message);
        return ids;
    }
    char *sql = sqlite3_mprintf("SELECT id FROM posts WHERE %s ORDER BY id", q.sql);
    sqlite3_stmt *stmt = NULL;
    ids[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s\n  %s", filter, sqlite3_errmsg(db), sql);
    assert_int_equal(sqlite3_bind_parameter_count(stmt), (int)q.nparams);
    assert_int_equal(sh_filter_sql_bind(&q, stmt, 1), SQLITE_OK);
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (ids[0])
            strcat(ids, ",");
        strcat(ids, (const char *)sqlite3_column_text(stmt, 0));
    }
    if (step != SQLITE_DONE)
        fail_msg("step %s: %s\n  %s", filter, sqlite3_errmsg(db), sql);
    sqlite3_finalize(stmt);
    sqlite3_free(sql);
    sh_filter_sql_deinit(&q);
    return ids;
}

#define EXPECT_AS(s, filter, ctx, want)                                                            \
    do {                                                                                           \
        const char *got_ = run(db, (s), (filter), (ctx));                                          \
        if (strcmp(got_, (want)) != 0)                                                             \
            fail_msg("%s: got \"%s\", want \"%s\"", (filter), got_, (want));                       \
    } while (0)
#define EXPECT(filter, want) EXPECT_AS(&posts, filter, NULL, want)
#define CLIENT(filter, want) EXPECT_AS(&c_posts, filter, NULL, want)
#define REFUSED_AS(s, filter, part)                                                                \
    do {                                                                                           \
        const char *got_ = run(db, (s), (filter), NULL);                                           \
        if (strncmp(got_, "ERR: ", 5) != 0 || !strstr(got_, (part)))                               \
            fail_msg("%s: got \"%s\", want an error with \"%s\"", (filter), got_, (part));         \
    } while (0)
#define REFUSED(filter, part) REFUSED_AS(&posts, filter, part)

static void test_lang_back_relations(void **state)
{
    sqlite3 *db = *state;
    EXPECT("comments_via_post.text ?~ 'great'", "p1");
    EXPECT("comments_via_post.text ~ 'e'", "p1"); /* every comment; none: no match */
    EXPECT("comments_via_post.text ?~ 'a'", "p1,p2");
    EXPECT("comments_via_post.author.name ?= 'bob'", "p1");
    EXPECT("comments_via_post.author.name ?= 'ann'", "p1,p2");
    EXPECT("comments_via_post.id = ''", "p3"); /* no comments: one NULL row */
    EXPECT("comments_via_post ?= 'c3'", "p2");
    EXPECT("comments_via_post.author ?= 'u1'", "p1,p2"); /* the indexed semi-join */
    EXPECT("'u2' ?= comments_via_post.author", "p1");
    EXPECT("comments_via_post.author ?= ''", "p3");
    /* the semi-join form keeps the NULL row of a post without comments */
    EXPECT("comments_via_post.text ?= ''", "p3");
    EXPECT("comments_via_post.text ?!= 'meh'", "p1,p2,p3");
    EXPECT("comments_via_post.text ?= null || title = 'world'", "p2,p3");
    EXPECT("'great post' ?= comments_via_post.text", "p1");
    EXPECT("comments_via_post.author.secret ?= 's1'", "p1,p2"); /* rules see hidden */
    /* a multiple relation (json_each scan) and a self-join back */
    EXPECT("likes_via_posts.id ?= 'l1'", "p1,p2");
    EXPECT("likes_via_single.id ?= 'l1'", "p3");
    EXPECT("comments_via_post.post.comments_via_post.text ?= 'bad'", "p2");
    EXPECT("author.comments_via_author.text ?= 'bad'", "p1,p3");
    /* a hidden relation, used by a rule */
    EXPECT("comments_via_reviewer.text ?= 'great post'", "p3");
    /* unknown or not a back-relation: as an unknown field */
    REFUSED("nothing_via_post.text ?= 'x'", "unknown field");
    REFUSED("comments_via_text.id ?= 'x'", "unknown field");
    REFUSED("users_via_author.id ?= 'x'", "unknown field"); /* users has no author */
    REFUSED("comments_via_post.nope ?= 'x'", "unknown field");
    REFUSED("_via_post.id ?= 'x'", "unknown field");
    REFUSED("comments_via_.id ?= 'x'", "unknown field");
    /* recursion through relations is bounded */
    REFUSED("comments_via_post.post.comments_via_post.post.comments_via_post.post."
            "comments_via_post.text ?= 'x'",
            "too many relation levels");
}

static void test_lang_back_relations_confined(void **state)
{
    sqlite3 *db = *state;
    /* c1 is flagged: the listRule hides it from the client */
    CLIENT("comments_via_post.text ?~ 'great'", "");
    CLIENT("comments_via_post.text ?~ 'meh'", "p1");
    CLIENT("comments_via_post.id = ''", "p3");
    CLIENT("comments_via_post.text ?!= 'meh'", "p2,p3"); /* p1's other comment is hidden */
    CLIENT("comments_via_post.text ?= ''", "p3");
    /* the semi-join (indexed author) applies the listRule too: c1 is hidden */
    CLIENT("comments_via_post.author ?= 'u2'", "");
    CLIENT("comments_via_post.author ?= 'u1'", "p1,p2");
    EXPECT_AS(&c_posts, "comments_via_post.author ?= 'u2'", NULL, "");
    /* hidden field of the source, through the back-relation or its link */
    REFUSED_AS(&c_posts, "comments_via_post.flagged ?= true", "cannot use field");
    REFUSED_AS(&c_posts, "comments_via_reviewer.text ?= 'x'", "cannot use field");
    /* unindexed (single or multiple): refused for clients, not for rules */
    REFUSED_AS(&c_posts, "likes_via_single.id ?= 'l1'", "needs an index");
    REFUSED_AS(&c_posts, "likes_via_posts.id ?= 'l1'", "needs an index");
    REFUSED_AS(&c_posts, "secrets_via_single.id ?= 'x'", "only superusers");
    /* --filter-max-multi-hops applies to back-relations (1 here) */
    CLIENT("comments_via_post.author.name ?= 'ann'", "p1,p2");
    REFUSED_AS(&c_posts, "comments_via_post.post.comments_via_post.text ?= 'x'",
               "too many multi-valued");
    /* the bound is per path: two operands of one hop each pass */
    CLIENT("comments_via_post.text ?= tags", "p3"); /* NULL row = [null]: empty = empty */
}

static void test_lang_collection(void **state)
{
    sqlite3 *db = *state;
    EXPECT("@collection.comments.post ?= id", "p1,p2");
    EXPECT("@collection.comments.post != ''", "p1,p2,p3"); /* every comment has a post */
    EXPECT("@collection.comments.text ~ 'a'", "");         /* not every comment has an a */
    EXPECT("@collection.comments.text ?~ 'a'", "p1,p2,p3");
    /* one alias, one row: a comment on this post by its author */
    EXPECT("@collection.comments:c.post ?= id && @collection.comments:c.author ?= author", "p1");
    /* two aliases: independent rows (p2 has a comment, and u2 wrote one) */
    EXPECT("@collection.comments:a.post ?= id && @collection.comments:b.author ?= author", "p1,p2");
    /* no alias is one alias: the collection's name */
    EXPECT("@collection.comments.post ?= id && @collection.comments.author ?= author", "p1");
    EXPECT("@collection.comments.post ?= id || title = 'empty'", "p1,p2,p3");
    /* the semi-join shape, and shapes that are not (a record field, :changed, OR) */
    EXPECT("@collection.comments.post ?= id && @collection.comments.author ?= 'u1'", "p1,p2");
    EXPECT("@collection.comments.post ?= id && @collection.comments.author ?= 'u2' && "
           "@collection.comments.text ?~ 'great'",
           "p1");
    EXPECT("@collection.comments.author ?= 'u2' && id ?= @collection.comments.post && "
           "@collection.comments.text = 'x'",
           "");
    EXPECT("@collection.comments.post ?= id && @collection.comments.text ?~ 'ea'", "p1");
    EXPECT("id ?= @collection.comments.post && @collection.comments.text ?~ 'ea'", "p1");
    EXPECT("@collection.comments.post ?= id && (@collection.comments.text = 'bad' || 1 = 2)", "");
    EXPECT("@collection.comments.post ?= id && (@collection.comments.text ?= 'bad' || 1 = 2)",
           "p2");
    EXPECT("@collection.comments.post ?= id && @collection.comments.author ?= 'u1' && views > 5",
           "p1");
    EXPECT("@collection.comments.post ?= id && geoDistance(0, 0, 0, 0) = 0", "p1,p2");
    EXPECT("@collection.comments.post ?= id && @collection.comments.author.name ?= 'bob'", "p1");
    EXPECT("@collection.likes.posts ?= id && @collection.likes.id ?= 'l1'", "p1,p2");
    EXPECT("@collection.comments.reviewer ?= id", "p3");
    EXPECT("@collection.comments:c.author.name ?= 'bob' && @collection.comments:c.post ?= id",
           "p1");
    EXPECT("@collection.users.secret ?= 's2' && @collection.users.id ?= author", "p2");
    EXPECT("author = @collection.users.id", ""); /* plain op: every user */
    EXPECT("@collection.likes.posts ?= id", "p1,p2");
    EXPECT("@collection.posts.comments_via_post.id ?= ''", "p1,p2,p3"); /* p3 has none */
    REFUSED("@collection.comments.comments_via_post.id ?= ''", "unknown field");
    REFUSED("@collection.comments:x.post ?= id && @collection.users:x.name ?= 'ann'",
            "names two collections");
    REFUSED("@collection.nowhere.id ?= id", "unknown collection");
    REFUSED("@collection.comments.nope ?= id", "unknown field");
    REFUSED("@collection.comments ?= id", "@collection needs a field");
    REFUSED("@collection.comments:c ?= id", "@collection needs a field");
    REFUSED("@collection.com-ments.id ?= id", "@collection needs a field");
    REFUSED("@collection.comments:1x.id ?= id", "invalid @collection");
    REFUSED("@collection.comments.id:isset = true", "modifier not allowed");
    /* a client may not (the API answers 403 first; the compiler agrees) */
    REFUSED_AS(&c_posts, "@collection.comments.post ?= id", "Only superusers");
    REFUSED_AS(&c_posts, "@collection.comments.post = id", "Only superusers");
    /* too many aliases */
    REFUSED("@collection.users:a.id ?= 1 && @collection.users:b.id ?= 1 && "
            "@collection.users:c.id ?= 1 && @collection.users:d.id ?= 1 && "
            "@collection.users:e.id ?= 1 && @collection.users:f.id ?= 1 && "
            "@collection.users:g.id ?= 1 && @collection.users:h.id ?= 1 && "
            "@collection.users:i.id ?= 1",
            "too many @collection aliases");
}

static void test_lang_modifiers(void **state)
{
    sqlite3 *db = *state;
    EXPECT("tags:each ~ 'e'", "p2");
    EXPECT("tags:each ?= 'a'", "p1");
    EXPECT("tags:each != 'a'", "p2,p3");
    EXPECT("tags:length = 2", "p1");
    EXPECT("title:lower = 'world' || comments_via_post.text:lower ?= 'MEH'", "p2");
    EXPECT("comments_via_post.text:lower ?= 'meh'", "p1");
    EXPECT("comments_via_post.text:each ?~ 'bad'", "p2");
    /* :length of a back-relation: the number of rows pointing here (p1 has
     * c1 and c2, p2 c3, p3 none), under the rows' listRule for a client */
    EXPECT("comments_via_post:length = 2", "p1");
    EXPECT("comments_via_post:length > 0", "p1,p2");
    EXPECT("comments_via_post:length = 0", "p3");
    EXPECT("comments_via_post:length >= views", "p3");
    EXPECT("likes_via_posts:length = 1", "p1,p2"); /* a multiple relation */
    EXPECT("likes_via_single:length = 1", "p3");
    EXPECT("author.comments_via_author:length = 2", "p1,p3"); /* u1 wrote c2, c3 */
    EXPECT("comments_via_post.post.comments_via_post:length ?= 2", "p1");
    EXPECT("comments_via_post.post.comments_via_post:length = 1", "p2");
    CLIENT("comments_via_post:length = 1", "p1,p2"); /* c1 is flagged: not counted */
    CLIENT("comments_via_post:length = 2", "");
    REFUSED_AS(&c_posts, "likes_via_single:length > 0", "needs an index");
    REFUSED_AS(&c_posts, "likes_via_posts:length > 0", "needs an index");
    REFUSED_AS(&c_posts, "secrets_via_single:length > 0", "only superusers");
    REFUSED("comments_via_post.text:length = 1", ":length needs a multi-valued field");
    REFUSED("title:each = 'a'", ":each needs a multi-valued field");
    REFUSED("views:lower = 'a'", ":lower needs a text field");
    REFUSED("title:length = 1", ":length needs a multi-valued field");
    REFUSED("title:changed = true", "modifier not allowed");
    REFUSED("title:bogus = 1", "unknown modifier");
    REFUSED("tags:each:each = 1", "invalid field name");
    REFUSED("@request.auth.id:changed = true", "modifier not allowed");
    REFUSED("@request.body.a.b:changed = true", "modifier not allowed");

    cJSON *body = cJSON_Parse("{\"title\":\"hello\",\"tags\":[\"e\"],\"views\":5,\"list\":[1,2]}");
    struct sh_filter_ctx ctx = {.body = body};
    EXPECT_AS(&posts, "@request.body.title:changed = true", &ctx, "p2,p3");
    EXPECT_AS(&posts, "@request.body.title:changed = false", &ctx, "p1");
    EXPECT_AS(&posts, "@request.body.views:changed = true", &ctx, "p1,p3");
    EXPECT_AS(&posts, "@request.body.tags:changed = false", &ctx, "p2");
    EXPECT_AS(&posts, "@request.body.author:changed = true", &ctx, ""); /* not sent */
    EXPECT_AS(&posts, "@request.body.list:each > 0", &ctx, "p1,p2,p3");
    EXPECT_AS(&posts, "@request.body.list:each > 1", &ctx, "");
    EXPECT_AS(&posts, "@request.body.list:each ?> 1", &ctx, "p1,p2,p3");
    const char *got = run(db, &posts, "@request.body.nope:changed = true", &ctx);
    assert_non_null(strstr(got, ":changed needs a field"));
    cJSON_Delete(body);
}

/* @request.auth.<collection>_via_<field>: the rows pointing at the
 * signed-in record, as a back-relation from any other record. */
static void test_lang_auth_back_relations(void **state)
{
    sqlite3 *db = *state;
    cJSON *auth = cJSON_Parse("{\"id\":\"u1\",\"name\":\"ann\"}");
    struct sh_filter_ctx ctx = {.auth = auth, .auth_schema = &users};
    EXPECT_AS(&posts, "@request.auth.comments_via_author.post ?= id", &ctx, "p1,p2");
    EXPECT_AS(&posts, "@request.auth.comments_via_author ?= 'c3'", &ctx, "p1,p2,p3");
    EXPECT_AS(&posts, "@request.auth.comments_via_author:length = 2", &ctx, "p1,p2,p3");
    EXPECT_AS(&posts, "@request.auth.comments_via_author:length = 1", &ctx, "");
    EXPECT_AS(&posts, "@request.auth.posts_via_author.title ?= title", &ctx, "p1,p3");
    EXPECT_AS(&posts, "@request.auth.posts_via_author.comments_via_post.text ?~ 'great'", &ctx,
              "p1,p2,p3");
    EXPECT_AS(&posts, "@request.auth.name = 'ann'", &ctx, "p1,p2,p3"); /* fields still read */
    const char *got = run(db, &posts, "@request.auth.nothing_via_author.id ?= 'x'", &ctx);
    assert_string_equal(got, ""); /* not a back-relation: an absent key, NULL */
    cJSON_Delete(auth);

    /* another user: other rows; the client's view counts what it may list */
    auth = cJSON_Parse("{\"id\":\"u2\"}");
    ctx.auth = auth;
    EXPECT_AS(&posts, "@request.auth.comments_via_author.post ?= id", &ctx, "p1");
    EXPECT_AS(&posts, "@request.auth.comments_via_author:length = 1", &ctx, "p1,p2,p3");
    ctx.auth_schema = &c_users;
    EXPECT_AS(&c_posts, "@request.auth.comments_via_author:length = 0", &ctx, "p1,p2,p3");
    EXPECT_AS(&c_posts, "@request.auth.comments_via_author.post ?= id", &ctx, "");
    cJSON_Delete(auth);

    /* a guest: NULL, as every @request.auth.* */
    struct sh_filter_ctx guest = {.auth_schema = &users};
    EXPECT_AS(&posts, "@request.auth.comments_via_author.post ?= id", &guest, "");
}

/* text after sh_filter_rename over schema s (text itself when unchanged) */
static const char *renamed(const struct sh_filter_schema *s, const char *text,
                           const struct sh_filter_rename *rn)
{
    static char buf[512];
    char *out;
    if (sh_filter_rename(text, s, rn, &out) != 0)
        return "ERR";
    snprintf(buf, sizeof(buf), "%s", out ? out : text);
    free(out);
    return buf;
}

/* A rename carried into the rules of other collections: only identifiers
 * that resolve to the renamed field or collection change. */
static void test_lang_rename(void **state)
{
    (void)state;
    /* users.name -> handle */
    const char *name[] = {"name"}, *handle[] = {"handle"}, *post[] = {"post"},
               *article[] = {"article"};
    const struct sh_filter_rename field = {
        .table = "users", .from = name, .to = handle, .nfields = 1};
    assert_string_equal(renamed(&posts, "author.name = 'name' && title = 'x'", &field),
                        "author.handle = 'name' && title = 'x'");
    assert_string_equal(renamed(&comments, "post.author.name ?= author.name // name", &field),
                        "post.author.handle ?= author.handle // name");
    assert_string_equal(renamed(&posts, "comments_via_post.author.name:lower ?= 'a'", &field),
                        "comments_via_post.author.handle:lower ?= 'a'");
    assert_string_equal(renamed(&posts, "@collection.users:u.name ?= @request.auth.name", &field),
                        "@collection.users:u.handle ?= @request.auth.name");
    assert_string_equal(renamed(&posts, "strftime('%Y', author.name) = '2024'", &field),
                        "strftime('%Y', author.handle) = '2024'");
    /* not the renamed collection's field: as written */
    const struct sh_filter_rename other = {
        .table = "posts", .from = name, .to = handle, .nfields = 1};
    assert_string_equal(renamed(&users, "name = 'x'", &other), "name = 'x'");
    assert_string_equal(renamed(&posts, "title = 'author.name' && nope.name = 1", &field),
                        "title = 'author.name' && nope.name = 1");
    assert_string_equal(renamed(&posts, "bad (", &field), "ERR");

    /* comments.post -> article: the back-relation's field part */
    const struct sh_filter_rename via = {
        .table = "comments", .from = post, .to = article, .nfields = 1};
    assert_string_equal(renamed(&posts, "comments_via_post.post.title ?= 'x'", &via),
                        "comments_via_article.article.title ?= 'x'");
    assert_string_equal(renamed(&users, "comments_via_author.post ?= 'p1'", &via),
                        "comments_via_author.article ?= 'p1'");
    assert_string_equal(renamed(&posts, "@collection.comments.post ?= id", &via),
                        "@collection.comments.article ?= id");
    /* comments -> remarks: the back-relation's collection part, @collection */
    const struct sh_filter_rename coll = {.table = "comments", .new_table = "remarks"};
    assert_string_equal(
        renamed(&posts, "comments_via_post:length > 1 && @collection.comments:c.post ?= id", &coll),
        "remarks_via_post:length > 1 && @collection.remarks:c.post ?= id");
    assert_string_equal(renamed(&posts, "author.comments_via_author.text ?= 'x'", &coll),
                        "author.remarks_via_author.text ?= 'x'");
    assert_string_equal(renamed(&posts, "title = 'comments_via_post'", &coll),
                        "title = 'comments_via_post'");
    /* both at once, resolved against the names before the change */
    const struct sh_filter_rename both = {
        .table = "comments", .from = post, .to = article, .nfields = 1, .new_table = "remarks"};
    assert_string_equal(
        renamed(&posts, "comments_via_post.post.id ?= @collection.comments.post", &both),
        "remarks_via_article.article.id ?= @collection.remarks.article");
}

static void test_lang_functions(void **state)
{
    sqlite3 *db = *state;
    EXPECT("geoDistance(0, 0, 0, 1) > 111.1 && geoDistance(0, 0, 0, 1) < 111.3", "p1,p2,p3");
    EXPECT("geoDistance(13.4, 52.5, 13.4, 52.5) = 0", "p1,p2,p3");
    EXPECT("geoDistance(views, 0, 0, 0) < 600", "p2,p3"); /* 10 deg of lon: 1112 km */
    /* Berlin - Paris: about 878 km */
    EXPECT("geoDistance(13.405, 52.52, 2.3522, 48.8566) > 870 && "
           "geoDistance(13.405, 52.52, 2.3522, 48.8566) < 885",
           "p1,p2,p3");
    EXPECT("strftime('%Y', created) = '2024'", "p1,p3");
    EXPECT("strftime('%Y-%m', created, '+1 month') = '2024-04'", "p3");
    EXPECT("strftime('%Y', 'garbage') = null", "p1,p2,p3");
    REFUSED("geoDistance(1, 2, 3) > 0", "too few function arguments");
    REFUSED("geoDistance(1, 2, 3, 4, 5) > 0", "too many function arguments");
    REFUSED("nope(1) > 0", "unknown function");
    REFUSED("geoDistance(tags, 0, 0, 0) > 0", "single values");
    REFUSED("geoDistance(@collection.users.id, 0, 0, 0) > 0", "function argument");
    REFUSED("strftime('%Y', strftime('%Y', created)) = 1", "nested function");
    REFUSED("strftime('%Y',) = 1", "expected a value");
    REFUSED("strftime('%Y' created) = 1", "expected ',' or ')'");
    REFUSED("strftime('%Y', created = 1", "expected ',' or ')'");
    REFUSED("geoDistance(secret_nope, 0, 0, 0) > 0", "unknown field");
    REFUSED("1 = 1, 2", "expected");
}

/* `SELECT id FROM posts ORDER BY <sort>, id`, or "ERR: <message>". */
static const char *run_sort(sqlite3 *db, const struct sh_filter_schema *s, const char *sort)
{
    static char ids[256];
    struct sh_filter_error err;
    struct sh_filter_sql q;
    if (sh_sort_compile(sort, strlen(sort), s, &q, &err)) {
        snprintf(ids, sizeof(ids), "ERR: %s", err.message);
        return ids;
    }
    char *sql = sqlite3_mprintf("SELECT id FROM posts ORDER BY %s, id", q.sql);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s\n  %s", sort, sqlite3_errmsg(db), sql);
    assert_int_equal(sh_filter_sql_bind(&q, stmt, 1), SQLITE_OK);
    ids[0] = '\0';
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        if (ids[0])
            strcat(ids, ",");
        strcat(ids, (const char *)sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_free(sql);
    sh_filter_sql_deinit(&q);
    return ids;
}

static void test_lang_sort(void **state)
{
    sqlite3 *db = *state;
    /* p1: "great post", "meh"; p2: "bad"; p3: none (NULL sorts first) */
    assert_string_equal(run_sort(db, &posts, "comments_via_post.text"), "p3,p2,p1");
    assert_string_equal(run_sort(db, &posts, "-comments_via_post.text"), "p1,p2,p3");
    assert_string_equal(run_sort(db, &posts, "-comments_via_post.author.name,title"), "p1,p2,p3");
    /* by the number of comments; a client counts the ones it may list */
    assert_string_equal(run_sort(db, &posts, "-comments_via_post:length,-title"), "p1,p2,p3");
    assert_string_equal(run_sort(db, &c_posts, "-comments_via_post:length,-title"), "p2,p1,p3");
    /* the client sees no flagged comment: p1 sorts by "meh" alone */
    assert_string_equal(run_sort(db, &c_posts, "comments_via_post.text"), "p3,p2,p1");
    assert_non_null(
        strstr(run_sort(db, &c_posts, "comments_via_post.flagged"), "cannot use field"));
    assert_non_null(strstr(run_sort(db, &posts, "tags"), "cannot sort by multi-valued"));
    assert_non_null(strstr(run_sort(db, &posts, "@collection.comments.text"), "bad term"));
}

/* The query plan of `SELECT id FROM posts WHERE <filter>`, one line per
 * step, "|"-separated (static buffer); *scan_per_row is set when a table is
 * scanned under a correlated subquery (once per record: unbounded cost). */
static const char *plan_of(sqlite3 *db, const char *filter, bool *scan_per_row)
{
    static char out[2048];
    int ids[128], parents[128], corr[128], n = 0;
    *scan_per_row = false;
    struct sh_filter *f;
    struct sh_filter_error err;
    struct sh_filter_sql q;
    assert_int_equal(sh_filter_parse(filter, strlen(filter), &f, &err), 0);
    if (sh_filter_compile(f, &posts, NULL, &q, &err))
        fail_msg("%s: %s", filter, err.message);
    sh_filter_free(f);
    char *sql = sqlite3_mprintf("EXPLAIN QUERY PLAN SELECT id FROM posts WHERE %s", q.sql);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW && n < 128) {
        const char *d = (const char *)sqlite3_column_text(st, 3);
        ids[n] = sqlite3_column_int(st, 0);
        parents[n] = sqlite3_column_int(st, 1);
        corr[n] = strncmp(d, "CORRELATED", 10) == 0;
        for (int k = 0; k < n; k++)
            if (ids[k] == parents[n] && corr[k])
                corr[n] = 1; /* under a correlated subquery */
        if (corr[n] && strncmp(d, "SCAN ", 5) == 0 && !strstr(d, "CONSTANT ROW") &&
            !strstr(d, "(subquery"))
            *scan_per_row = true;
        n++;
        strncat(out, d, sizeof(out) - strlen(out) - 2);
        strcat(out, "|");
    }
    sqlite3_finalize(st);
    sqlite3_free(sql);
    sh_filter_sql_deinit(&q);
    return out;
}

/* Every join on comments is a search of its post index: no table is
 * scanned once per record. */
/* likes whose listRule hides kind 'k1' (an unconfined view: a rule's). */
static struct sh_filter_schema r_likes, r_posts;
static const struct sh_filter_schema *resolve_ruled(void *ud, const char *collection)
{
    return strcmp(collection, "likes") == 0 ? &r_likes : resolve(ud, collection);
}

/* `?=` of an indexed column through a multiple relation (likes.posts, a
 * JSON array of ids) is the semi-join over the enumerated ids. It answers as
 * the per-post probe does (which :lower forces: the oracle here) for arrays
 * with duplicates, a JSON scalar, malformed JSON, NULL, [], ids of no post,
 * non-text elements, a NULL kind, and under the rows' listRule. */
static void test_lang_semi_join_multiple(void **state)
{
    sqlite3 *db = *state;
    static const char rows[] =
        "UPDATE likes SET kind = 'k1' WHERE id = 'l1';"
        "INSERT INTO likes (id, posts, kind) VALUES ('l2', '[\"p3\",\"p3\"]', 'k1'),"
        " ('l3', 'not json', 'k1'), ('l4', NULL, 'k1'), ('l5', '\"p2\"', 'k2'),"
        " ('l6', '[]', 'k1'), ('l7', '[\"p1\",\"px\"]', 'k3'), ('l8', '[\"p2\"]', NULL),"
        " ('l9', '[1, null, {\"a\": 1}]', 'k4');";
    assert_int_equal(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
    EXPECT("likes_via_posts.kind ?= 'k1'", "p1,p2,p3");
    EXPECT("'k2' ?= likes_via_posts.kind", "p2");
    EXPECT("likes_via_posts.kind ?= 'k3'", "p1");
    EXPECT("likes_via_posts.kind ?= 'k4' || likes_via_posts.kind ?= 'none'", "");
    EXPECT("likes_via_posts.kind ?= 'k1' && title != 'hello'", "p2,p3");

    struct sh_filter *rule;
    struct sh_filter_error err;
    assert_int_equal(sh_filter_parse("kind != 'k1'", 12, &rule, &err), 0);
    r_likes = likes;
    r_likes.resolve = resolve_ruled;
    r_likes.row_rule = rule;
    r_posts = posts;
    r_posts.resolve = resolve_ruled;
    EXPECT_AS(&r_posts, "likes_via_posts.kind ?= 'k1'", NULL, "");
    EXPECT_AS(&r_posts, "likes_via_posts.kind ?= 'k3'", NULL, "p1");

    static const char *const values[] = {"k1", "k2", "k3", "k4", "none", "p1"};
    const struct sh_filter_schema *views[] = {&posts, &r_posts};
    for (size_t v = 0; v < N(views); v++) {
        for (size_t i = 0; i < N(values); i++) {
            char semi[96], probe[96], want[512];
            snprintf(semi, sizeof(semi), "likes_via_posts.kind ?= '%s'", values[i]);
            snprintf(probe, sizeof(probe), "likes_via_posts.kind:lower ?= '%s'", values[i]);
            if (!strstr(sql_of(views[v], semi), " IN (SELECT "))
                fail_msg("%s: not the semi-join: %s", semi, sql_of(views[v], semi));
            if (strstr(sql_of(views[v], probe), " IN (SELECT "))
                fail_msg("%s: the oracle is a semi-join too", probe);
            snprintf(want, sizeof(want), "%s", run(db, views[v], probe, NULL));
            EXPECT_AS(views[v], semi, NULL, want);
        }
    }
    sh_filter_free(rule);
}

static void test_lang_plans_use_indexes(void **state)
{
    sqlite3 *db = *state;
    static const struct {
        const char *filter, *step; /* a step the plan must have */
    } cases[] = {
        /* ?= of an indexed column of the rows against a value: the
         * semi-join, its list computed once by the index, then the posts
         * read by id */
        {"comments_via_post.author ?= 'u1'", "LIST SUBQUERY"},
        {"comments_via_post.author ?= 'u1'", "INDEX comments_author (author=?)"},
        {"comments_via_post.author ?= 'u1'", "SEARCH posts USING COVERING INDEX"},
        /* the same through a multiple relation: its ids enumerated once */
        {"likes_via_posts.kind ?= 'k1'", "INDEX likes_kind (kind=?)"},
        {"likes_via_posts.kind ?= 'k1'", "LIST SUBQUERY"},
        /* not indexed, or the NULL row may match: the per-post probe by the
         * relation's index (a page can stop early) */
        {"comments_via_post.text ?~ 'great'", "INDEX comments_post (post=?)"},
        {"comments_via_post.text ?= 'meh'", "INDEX comments_post (post=?)"},
        {"comments_via_post.text ?!= 'meh'", "INDEX comments_post (post=?)"},
        {"comments_via_post.text ~ 'e'", "INDEX comments_post (post=?)"},
        {"comments_via_post.text ?= title", "INDEX comments_post (post=?)"},
        /* a back-relation's count: by the relation's index, per record */
        {"comments_via_post:length > 1", "INDEX comments_post (post=?)"},
        {"@collection.comments.post ?= id", "INDEX comments_post (post=?)"},
        {"@collection.comments:c.post ?= id && @collection.comments:c.text ?~ 'a'",
         "INDEX comments_post (post=?)"},
        /* a row pointing here found by an indexed equality: the semi-join */
        {"@collection.comments:c.post ?= id && @collection.comments:c.author ?= 'u1'",
         "INDEX comments_author (author=?)"},
        {"id ?= @collection.comments:c.post && @collection.comments:c.author ?= 'u1'",
         "SEARCH posts USING COVERING INDEX"},
        /* a condition on the record too: the joined row, by the index */
        {"@collection.comments.post ?= id && @collection.comments.author ?= author",
         "INDEX comments_post (post=?)"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        bool bad;
        const char *p = plan_of(db, cases[i].filter, &bad);
        if (!strstr(p, cases[i].step) || bad)
            fail_msg("%s: want %s, plan %s", cases[i].filter, cases[i].step, p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lang_back_relations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lang_back_relations_confined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lang_collection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lang_modifiers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lang_auth_back_relations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lang_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lang_functions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lang_sort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lang_semi_join_multiple, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lang_plans_use_indexes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
