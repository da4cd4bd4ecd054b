/*
 * The collections API of issue 9 on the real binary: PUT
 * /api/collections/import of a PocketBase-exported schema (every field type
 * and option stagehand has, every auth option) stored unchanged and read back
 * equal; deleteMissing; options stagehand does not support refused with a
 * 400 naming them; OTP, MFA and OAuth2 refused while unimplemented; PocketBase's
 * token durations by default; sign-in by any identity field; passwordAuth
 * disabled; meta/scaffolds and meta/oauth2-providers; truncate (relations
 * cleared or the truncate refused, an auth collection's sessions gone);
 * static route segments winning over :collection; the default `users` of a
 * new data directory (--init-schema); list filter/sort and created/updated.
 * Field types, views and renames: test_collections_types.c.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_auth_client.h"

/* As PocketBase 0.28's "Export collections" writes them (secrets left out),
 * in pieces (C's string literal limit); exported() joins them. */
static const char exported_0[] = "[";

static const char exported_1[] =
    "{'id':'pbc_1736455494','name':'members','type':'auth','system':false,"
    " 'listRule':'id = @request.auth.id','viewRule':'id = @request.auth.id','createRule':'',"
    " 'updateRule':'id = @request.auth.id','deleteRule':'id = @request.auth.id',"
    " 'authRule':'verified = false','manageRule':null,"
    " 'authAlert':{'enabled':true,'emailTemplate':{'subject':'Login from a new location',"
    "   'body':'<p>Hello,</p>'}},"
    " 'oauth2':{'enabled':false,'mappedFields':{'id':'','name':'name','username':'',"
    "   'avatarURL':''},'providers':[]},"
    " 'passwordAuth':{'enabled':true,'identityFields':['email','username']},"
    " 'mfa':{'enabled':false,'duration':1800,'rule':''},"
    " 'otp':{'enabled':false,'duration':180,'length':8,'emailTemplate':{'subject':'OTP',"
    "   'body':'<p>{OTP}</p>'}},"
    " 'authToken':{'duration':604800},'passwordResetToken':{'duration':1800},"
    " 'emailChangeToken':{'duration':1800},'verificationToken':{'duration':259200},"
    " 'fileToken':{'duration':180},"
    " 'verificationTemplate':{'subject':'Verify','body':'<p>{TOKEN}</p>'},"
    " 'resetPasswordTemplate':{'subject':'Reset','body':'<p>{TOKEN}</p>'},"
    " 'confirmEmailChangeTemplate':{'subject':'Confirm','body':'<p>{TOKEN}</p>'},";

static const char exported_2[] =
    " 'fields':["
    "  {'autogeneratePattern':'[a-z0-9]{15}','hidden':false,'id':'text3208210256','max':15,"
    "   'min':15,'name':'id','pattern':'^[a-z0-9]+$','presentable':false,'primaryKey':true,"
    "   'required':true,'system':true,'type':'text'},"
    "  {'cost':0,'hidden':true,'id':'password901924565','max':0,'min':8,'name':'password',"
    "   'pattern':'','presentable':false,'required':true,'system':true,'type':'password'},"
    "  {'autogeneratePattern':'[a-zA-Z0-9]{50}','hidden':true,'id':'text2504183744','max':60,"
    "   'min':30,'name':'tokenKey','pattern':'','presentable':false,'primaryKey':false,"
    "   'required':true,'system':true,'type':'text'},"
    "  {'exceptDomains':null,'hidden':false,'id':'email3885137012','name':'email',"
    "   'onlyDomains':null,'presentable':false,'required':true,'system':true,'type':'email'},"
    "  {'hidden':false,'id':'bool1547992806','name':'emailVisibility','presentable':false,"
    "   'required':false,'system':true,'type':'bool'},"
    "  {'hidden':false,'id':'bool256245529','name':'verified','presentable':false,"
    "   'required':false,'system':true,'type':'bool'},"
    "  {'autogeneratePattern':'','hidden':false,'id':'text4166911607','max':40,'min':3,"
    "   'name':'username','pattern':'^[a-z0-9_]+$','presentable':true,'primaryKey':false,"
    "   'required':true,'system':false,'type':'text'},"
    "  {'autogeneratePattern':'','hidden':false,'id':'text1579384326','max':0,'min':0,"
    "   'name':'name','pattern':'','presentable':false,'primaryKey':false,'required':false,"
    "   'system':false,'type':'text'},"
    "  {'hidden':false,'id':'autodate2990389176','name':'created','onCreate':true,"
    "   'onUpdate':false,'presentable':false,'system':false,'type':'autodate'},"
    "  {'hidden':false,'id':'autodate3332085495','name':'updated','onCreate':true,"
    "   'onUpdate':true,'presentable':false,'system':false,'type':'autodate'}],"
    " 'indexes':['CREATE UNIQUE INDEX `idx_tokenKey_pbc_1736455494` ON `members` (`tokenKey`)',"
    "   'CREATE UNIQUE INDEX `idx_email_pbc_1736455494` ON `members` (`email`) WHERE `email` != "
    "\\'\\'',"
    "   'CREATE UNIQUE INDEX `idx_username_pbc_1736455494` ON `members` (`username`)']},";

static const char exported_3[] =
    "{'id':'pbc_1125843985','name':'posts','type':'base','system':false,"
    " 'listRule':'','viewRule':'','createRule':'@request.auth.id != \\\"\\\"',"
    " 'updateRule':'author = @request.auth.id','deleteRule':null,";

static const char exported_4[] =
    " 'fields':["
    "  {'autogeneratePattern':'[a-z0-9]{15}','hidden':false,'id':'text3208210256','max':15,"
    "   'min':15,'name':'id','pattern':'^[a-z0-9]+$','presentable':false,'primaryKey':true,"
    "   'required':true,'system':true,'type':'text'},"
    "  {'autogeneratePattern':'','hidden':false,'id':'text724990059','max':200,'min':1,"
    "   'name':'title','pattern':'','presentable':true,'primaryKey':false,'required':true,"
    "   'system':false,'type':'text'},"
    "  {'hidden':false,'id':'number2245608546','max':100,'min':0,'name':'score',"
    "   'onlyInt':true,'presentable':false,'required':false,'system':false,'type':'number'},"
    "  {'hidden':false,'id':'number1','max':null,'min':null,'name':'ratio',"
    "   'onlyInt':false,'presentable':false,'required':false,'system':false,'type':'number'},"
    "  {'hidden':false,'id':'bool1748787223','name':'draft','presentable':false,"
    "   'required':false,'system':false,'type':'bool'},"
    "  {'exceptDomains':['spam.io'],'hidden':false,'id':'email1','name':'contact',"
    "   'onlyDomains':null,'presentable':false,'required':false,'system':false,'type':'email'},"
    "  {'exceptDomains':null,'hidden':false,'id':'url4101391790','name':'link',"
    "   'onlyDomains':['example.com'],'presentable':false,'required':false,'system':false,"
    "   'type':'url'},"
    "  {'hidden':false,'id':'date2862495610','max':'2030-01-01 00:00:00.000Z',"
    "   'min':'2020-01-01 00:00:00.000Z','name':'published','presentable':false,"
    "   'required':false,'system':false,'type':'date'},"
    "  {'hidden':false,'id':'select1','maxSelect':1,'name':'status','presentable':false,"
    "   'required':false,'system':false,'type':'select','values':['draft','live']},"
    "  {'hidden':false,'id':'select2','maxSelect':3,'name':'tags','presentable':false,"
    "   'required':false,'system':false,'type':'select','values':['a','b','c']},"
    "  {'hidden':true,'id':'json1','maxSize':2000000,'name':'meta','presentable':false,"
    "   'required':false,'system':false,'type':'json'},"
    "  {'convertURLs':true,'hidden':false,'id':'editor3685223346','maxSize':100,"
    "   'name':'body','presentable':false,'required':false,'system':false,'type':'editor'},"
    "  {'hidden':false,'id':'geoPoint1587448267','name':'location','presentable':false,"
    "   'required':false,'system':false,'type':'geoPoint'},"
    "  {'cascadeDelete':false,'collectionId':'pbc_1736455494','hidden':false,"
    "   'id':'relation3182418120','maxSelect':1,'minSelect':0,'name':'author',"
    "   'presentable':false,'required':false,'system':false,'type':'relation'},"
    "  {'hidden':false,'id':'autodate2990389176','name':'created','onCreate':true,"
    "   'onUpdate':false,'presentable':false,'system':false,'type':'autodate'},"
    "  {'hidden':false,'id':'autodate3332085495','name':'updated','onCreate':true,"
    "   'onUpdate':true,'presentable':false,'system':false,'type':'autodate'}],"
    " 'indexes':['CREATE INDEX `idx_posts_title` ON `posts` (`title` COLLATE NOCASE, "
    "`score` DESC)']},";

static const char exported_5[] =
    "{'id':'pbc_3','name':'comments','type':'base','system':false,"
    " 'listRule':'','viewRule':'','createRule':null,'updateRule':null,'deleteRule':null,";

static const char exported_6[] =
    " 'fields':["
    "  {'autogeneratePattern':'[a-z0-9]{15}','hidden':false,'id':'text3208210256','max':15,"
    "   'min':15,'name':'id','pattern':'^[a-z0-9]+$','presentable':false,'primaryKey':true,"
    "   'required':true,'system':true,'type':'text'},"
    "  {'autogeneratePattern':'','hidden':false,'id':'text1','max':0,'min':0,"
    "   'name':'text','pattern':'','presentable':false,'primaryKey':false,'required':false,"
    "   'system':false,'type':'text'},"
    "  {'cascadeDelete':true,'collectionId':'pbc_1125843985','hidden':false,'id':'rel1',"
    "   'maxSelect':1,'minSelect':0,'name':'post','presentable':false,'required':false,"
    "   'system':false,'type':'relation'},"
    "  {'hidden':false,'id':'autodate2990389176','name':'created','onCreate':true,"
    "   'onUpdate':false,'presentable':false,'system':false,'type':'autodate'},"
    "  {'hidden':false,'id':'autodate3332085495','name':'updated','onCreate':true,"
    "   'onUpdate':true,'presentable':false,'system':false,'type':'autodate'}],"
    " 'indexes':[]}"
    "]";

static const char *exported(void)
{
    return it_sprintf("%s%s%s%s%s%s%s", exported_0, exported_1, exported_2, exported_3, exported_4,
                      exported_5, exported_6);
}

static struct it_server *srv;
static struct it_conn *conn;
static const char *tsu; /* a superuser's token */

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = rc_server(NULL, "--rate-limit-auth", "off", NULL);
    if (!srv)
        return -1;
    ac_superuser(srv, "root@example.com", "root password");
    struct it_conn *c = it_conn_open(srv);
    tsu = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    it_conn_close(c);
    return 0;
}

static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

static struct rc_resp *as(const char *token, const char *method, const char *path, const char *json)
{
    return ac_req(conn, method, path, token, json ? rc_q(json) : NULL);
}

/* PUT /api/collections/import of collections (JSON text of an array). */
static struct rc_resp *import(const char *collections, bool delete_missing)
{
    return ac_req(conn, "PUT", "/api/collections/import", tsu,
                  it_sprintf("{\"collections\":%s,\"deleteMissing\":%s}", collections,
                             delete_missing ? "true" : "false"));
}

static const cJSON *field_by_id(const cJSON *c, const char *id)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, rc_get(c, "fields")) {
        if (strcmp(rc_str(f, "id"), id) == 0)
            return f;
    }
    return NULL;
}

static void assert_json_equal(const cJSON *want, const cJSON *got, const char *what)
{
    if (!cJSON_Compare(want, got, true)) {
        char *w = cJSON_PrintUnformatted(want), *g = got ? cJSON_PrintUnformatted(got) : NULL;
        fail_msg("%s differs:\n want %s\n got  %s", what, w, g ? g : "(missing)");
    }
}

static void test_import_pocketbase_export_unchanged(void **state)
{
    (void)state;
    rc_assert_error(ac_req(conn, "PUT", "/api/collections/import", NULL, "{}"), 401, NULL, NULL);
    struct rc_resp *r = import(rc_q(exported()), false);
    if (r->status != 204)
        fail_msg("import: %d %s", r->status, r->raw->body);
    cJSON *in = cJSON_Parse(rc_q(exported()));
    const cJSON *want;
    cJSON_ArrayForEach(want, in) {
        const char *name = rc_str(want, "name");
        r = as(tsu, "GET", it_sprintf("/api/collections/%s", name), NULL);
        assert_int_equal(r->status, 200);
        const cJSON *k;
        cJSON_ArrayForEach(k, want) {
            const cJSON *got = cJSON_GetObjectItemCaseSensitive(r->json, k->string);
            if (strcmp(k->string, "fields") == 0) {
                assert_int_equal(cJSON_GetArraySize(got), cJSON_GetArraySize(k));
                const cJSON *f;
                cJSON_ArrayForEach(f, k) {
                    assert_json_equal(f, field_by_id(r->json, rc_str(f, "id")),
                                      it_sprintf("%s.%s", name, rc_str(f, "name")));
                }
            } else if (strcmp(k->string, "indexes") == 0 && strcmp(name, "members") == 0) {
                /* On purpose: the email's unique index compares without case. */
                assert_int_equal(cJSON_GetArraySize(got), 3);
                char *ix = cJSON_PrintUnformatted(got);
                bool nocase = strstr(ix, "(`email` COLLATE NOCASE)") != NULL;
                free(ix);
                assert_true(nocase);
            } else {
                assert_json_equal(k, got, it_sprintf("%s.%s", name, k->string));
            }
        }
        /* nothing the export did not have, but for created/updated */
        cJSON_ArrayForEach(k, r->json) {
            if (strcmp(k->string, "created") && strcmp(k->string, "updated") &&
                !cJSON_GetObjectItemCaseSensitive(want, k->string))
                fail_msg("%s: unexpected key %s", name, k->string);
        }
        /* secrets are never shown */
        assert_null(strstr(r->raw->body, "\"secret\""));
    }
    cJSON_Delete(in);

    /* The imported collections work: sign up, sign in by username or email. */
    r = as(NULL, "POST", "/api/collections/members/records",
           "{'email':'ann@example.com','username':'ann_1','password':'anns password',"
           "'passwordConfirm':'anns password'}");
    if (r->status != 200)
        fail_msg("sign-up: %d %s", r->status, r->raw->body);
    const char *ann = it_strdup(rc_str(r->json, "id"));
    r = as(NULL, "POST", "/api/collections/members/auth-with-password",
           "{'identity':'ann_1','password':'anns password'}");
    assert_int_equal(r->status, 200);
    assert_string_equal(rc_str(rc_get(r->json, "record"), "id"), ann);
    r = as(NULL, "POST", "/api/collections/members/auth-with-password",
           "{'identity':'ANN@example.com','password':'anns password'}");
    assert_int_equal(r->status, 200);
    rc_assert_error(as(NULL, "POST", "/api/collections/members/auth-with-password",
                       "{'identity':'ann_1','password':'wrong password'}"),
                    400, NULL, NULL);
    rc_assert_error(as(NULL, "POST", "/api/collections/members/auth-with-password",
                       "{'identity':'nobody','password':'anns password'}"),
                    400, NULL, NULL);

    /* deleteMissing: comments is not listed, so it goes; posts and members
     * stay with their data (here: ann) */
    cJSON *two = cJSON_Parse(rc_q(exported()));
    cJSON_DeleteItemFromArray(two, 2);
    char *text = cJSON_PrintUnformatted(two);
    cJSON_Delete(two);
    r = import(it_strdup(text), true);
    free(text);
    if (r->status != 204)
        fail_msg("import deleteMissing: %d %s", r->status, r->raw->body);
    rc_assert_error(as(tsu, "GET", "/api/collections/comments", NULL), 404, NULL, NULL);
    assert_int_equal(as(tsu, "GET", "/api/collections/posts", NULL)->status, 200);
    r = as(tsu, "GET", "/api/collections/members/records", NULL);
    assert_int_equal(cJSON_GetArraySize(rc_get(r->json, "items")), 1);
    /* _superusers is never missing */
    assert_int_equal(as(tsu, "GET", "/api/collections/_superusers", NULL)->status, 200);
    /* a collection a kept one relates to cannot go (posts.author ->
     * members): nothing changes */
    r = as(tsu, "GET", "/api/collections/posts", NULL);
    char *posts = cJSON_PrintUnformatted(r->json);
    r = import(it_sprintf("[%s]", posts), true);
    free(posts);
    rc_assert_error(r, 400, "collections", NULL);
    assert_non_null(strstr(r->raw->body, "posts.author"));
    assert_int_equal(as(tsu, "GET", "/api/collections/members", NULL)->status, 200);
    /* all of them may go at once */
    assert_int_equal(import(rc_q("[{'name':'other','type':'base'}]"), true)->status, 204);
    rc_assert_error(as(tsu, "GET", "/api/collections/posts", NULL), 404, NULL, NULL);
    rc_assert_error(as(tsu, "GET", "/api/collections/members", NULL), 404, NULL, NULL);
    assert_int_equal(as(tsu, "GET", "/api/collections/other", NULL)->status, 200);
    /* all or nothing: a bad collection refuses the whole import */
    r = import(rc_q("[{'name':'fine','type':'base'},{'name':'bad','type':'base',"
                    "'fields':[{'name':'x','type':'texty'}]}]"),
               false);
    rc_assert_error(r, 400, "collections", NULL);
    assert_non_null(strstr(r->raw->body, "texty"));
    rc_assert_error(as(tsu, "GET", "/api/collections/fine", NULL), 404, NULL, NULL);
    rc_assert_error(ac_req(conn, "PUT", "/api/collections/import", tsu, "{\"collections\":{}}"),
                    400, "collections", NULL);
}

/* Each refused with 400 naming the key, and nothing created. */
static void refused(const char *json, const char *key, const char *named)
{
    struct rc_resp *r = as(tsu, "POST", "/api/collections", json);
    rc_assert_error(r, 400, key, NULL);
    if (!strstr(r->raw->body, named))
        fail_msg("%s: the message does not name %s: %s", json, named, r->raw->body);
    rc_assert_error(as(tsu, "GET", "/api/collections/refused", NULL), 404, NULL, NULL);
}

static void test_unsupported_options_named(void **state)
{
    (void)state;
    refused("{'name':'refused','fields':[{'name':'a','type':'text','maxLength':3}]}", "fields",
            "maxLength");
    refused("{'name':'refused','fields':[{'name':'a','type':'number','pattern':'x'}]}", "fields",
            "pattern");
    refused("{'name':'refused','fields':[{'name':'a','type':'bool','options':{}}]}", "fields",
            "options");
    refused("{'name':'refused','viewQuery':'SELECT 1'}", "viewQuery", "viewQuery");
    refused("{'name':'refused','schema':[]}", "schema", "schema");
    refused("{'name':'refused','passwordAuth':{'enabled':true}}", "passwordAuth", "passwordAuth");
    refused("{'name':'refused','type':'auth','passwordAuth':{'enabled':true,'x':1}}",
            "passwordAuth", "passwordAuth.x");
    /* no silent one-factor sign-in */
    refused("{'name':'refused','type':'auth','otp':{'enabled':true}}", "otp", "otp.enabled");
    refused("{'name':'refused','type':'auth','mfa':{'enabled':true}}", "mfa", "mfa.enabled");
    refused("{'name':'refused','type':'auth','oauth2':{'enabled':true}}", "oauth2",
            "oauth2.enabled");
    /* identity fields need a unique index of their own */
    refused("{'name':'refused','type':'auth','fields':[{'name':'nick','type':'text'}],"
            "'passwordAuth':{'enabled':true,'identityFields':['nick']}}",
            "passwordAuth", "nick");
    refused("{'name':'refused','type':'auth','passwordAuth':{'identityFields':['nope']}}",
            "passwordAuth", "nope");
    refused("{'name':'refused','type':'auth','fileToken':{'duration':5}}", "fileToken",
            "fileToken.duration");
    /* an existing one: PATCH turning MFA on is refused too */
    assert_int_equal(as(tsu, "POST", "/api/collections", "{'name':'accts','type':'auth'}")->status,
                     200);
    rc_assert_error(as(tsu, "PATCH", "/api/collections/accts", "{'mfa':{'enabled':true}}"), 400,
                    "mfa", NULL);
    struct rc_resp *r = as(tsu, "GET", "/api/collections/accts", NULL);
    assert_false(cJSON_IsTrue(rc_get(rc_get(r->json, "mfa"), "enabled")));
}

static void test_auth_option_defaults(void **state)
{
    (void)state;
    struct rc_resp *r =
        as(tsu, "POST", "/api/collections", "{'name':'plain','type':'auth','createRule':''}");
    assert_int_equal(r->status, 200);
    static const struct {
        const char *key;
        int duration;
    } want[] = {{"authToken", 604800},
                {"passwordResetToken", 1800},
                {"emailChangeToken", 1800},
                {"verificationToken", 259200},
                {"fileToken", 180},
                {"mfa", 1800},
                {"otp", 180}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal((int)rc_num(rc_get(r->json, want[i].key), "duration"), want[i].duration);
    assert_null(strstr(r->raw->body, "\"secret\""));
    assert_true(cJSON_IsTrue(rc_get(rc_get(r->json, "passwordAuth"), "enabled")));
    assert_string_equal(
        cJSON_GetArrayItem(rc_get(rc_get(r->json, "passwordAuth"), "identityFields"), 0)
            ->valuestring,
        "email");
    assert_false(cJSON_IsTrue(rc_get(rc_get(r->json, "oauth2"), "enabled")));
    assert_true(cJSON_IsTrue(rc_get(rc_get(r->json, "authAlert"), "enabled")));
    assert_int_equal((int)rc_num(rc_get(r->json, "otp"), "length"), 8);
    /* a duration change keeps everything else (PATCH merges the object) */
    r = as(tsu, "PATCH", "/api/collections/plain", "{'fileToken':{'duration':600}}");
    assert_int_equal(r->status, 200);
    assert_int_equal((int)rc_num(rc_get(r->json, "fileToken"), "duration"), 600);
    assert_int_equal((int)rc_num(rc_get(r->json, "verificationToken"), "duration"), 259200);

    /* passwordAuth disabled: no password sign-in (PocketBase's 403) */
    r = as(NULL, "POST", "/api/collections/plain/records",
           "{'email':'p@example.com','password':'p password','passwordConfirm':'p password'}");
    assert_int_equal(r->status, 200);
    assert_int_equal(as(NULL, "POST", "/api/collections/plain/auth-with-password",
                        "{'identity':'p@example.com','password':'p password'}")
                         ->status,
                     200);
    r = as(tsu, "PATCH", "/api/collections/plain", "{'passwordAuth':{'enabled':false}}");
    assert_int_equal(r->status, 200);
    rc_assert_error(as(NULL, "POST", "/api/collections/plain/auth-with-password",
                       "{'identity':'p@example.com','password':'p password'}"),
                    403, NULL, NULL);
}

static void test_scaffolds_and_providers(void **state)
{
    (void)state;
    rc_assert_error(as(NULL, "GET", "/api/collections/meta/scaffolds", NULL), 401, NULL, NULL);
    struct rc_resp *r = as(tsu, "GET", "/api/collections/meta/scaffolds", NULL);
    assert_int_equal(r->status, 200);
    const cJSON *auth = rc_get(r->json, "auth"), *base = rc_get(r->json, "base");
    assert_string_equal(rc_str(auth, "type"), "auth");
    assert_string_equal(rc_str(base, "type"), "base");
    assert_string_equal(rc_str(base, "name"), "");
    assert_string_equal(rc_str(base, "id"), "");
    assert_int_equal(cJSON_GetArraySize(rc_get(base, "fields")), 3); /* id, created, updated */
    assert_int_equal(cJSON_GetArraySize(rc_get(auth, "fields")), 8);
    assert_non_null(rc_get(auth, "passwordAuth"));
    assert_null(strstr(r->raw->body, "\"secret\""));
    /* a scaffold given a name is a collection */
    cJSON *b = cJSON_Duplicate(auth, 1);
    cJSON_ReplaceItemInObject(b, "name", cJSON_CreateString("from_scaffold"));
    cJSON_DeleteItemFromObject(b, "id");
    char *text = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    r = ac_req(conn, "POST", "/api/collections", tsu, it_strdup(text));
    free(text);
    if (r->status != 200)
        fail_msg("scaffold: %d %s", r->status, r->raw->body);

    r = as(tsu, "GET", "/api/collections/meta/oauth2-providers", NULL);
    assert_int_equal(r->status, 200);
    assert_true(cJSON_IsArray(r->json));
    assert_int_equal(cJSON_GetArraySize(r->json), 0);
    /* the static segment wins, yet a collection may still be called "meta" */
    rc_assert_error(as(tsu, "GET", "/api/collections/import", NULL), 404, NULL, NULL);
    assert_int_equal(as(tsu, "POST", "/api/collections", "{'name':'meta'}")->status, 200);
    assert_int_equal(as(tsu, "GET", "/api/collections/meta", NULL)->status, 200);
}

static void test_truncate(void **state)
{
    (void)state;
    struct rc_resp *r =
        import(rc_q("[{'name':'people','type':'auth','listRule':'','viewRule':'','createRule':''},"
                    "{'name':'notes','type':'base','listRule':'','viewRule':'','createRule':'',"
                    " 'fields':[{'name':'text','type':'text'},"
                    "  {'name':'owner','type':'relation','collectionId':'people','maxSelect':1}]},"
                    "{'name':'pins','type':'base','listRule':'','createRule':'','fields':[{'name':'"
                    "note','type':'relation',"
                    "  'collectionId':'notes','maxSelect':1,'required':true}]}]"),
               false);
    if (r->status != 204)
        fail_msg("import: %d %s", r->status, r->raw->body);
    const char *p = ac_signup(conn, "people", "pat@example.com", "pats password", NULL);
    const char *tok = ac_login(conn, "people", "pat@example.com", "pats password", NULL);
    for (int i = 0; i < 5; i++)
        rc_create(conn, "notes", it_sprintf("{'text':'n%d','owner':'%s'}", i, p));
    const char *pinned = rc_create(conn, "notes", "{'text':'pinned'}");
    rc_create(conn, "pins", it_sprintf("{'note':'%s'}", pinned));
    rc_assert_error(as(NULL, "DELETE", "/api/collections/notes/truncate", NULL), 401, NULL, NULL);
    rc_assert_error(as(tok, "DELETE", "/api/collections/notes/truncate", NULL), 403, NULL, NULL);
    rc_assert_error(as(tsu, "DELETE", "/api/collections/nope/truncate", NULL), 404, NULL, NULL);
    /* a pin requires its note: refused, nothing deleted */
    rc_assert_error(as(tsu, "DELETE", "/api/collections/notes/truncate", NULL), 400, NULL, NULL);
    r = as(NULL, "GET", "/api/collections/notes/records", NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 6);
    /* pins go (nothing points at them: one DELETE), then notes */
    assert_int_equal(as(tsu, "DELETE", "/api/collections/pins/truncate", NULL)->status, 204);
    assert_int_equal(as(tsu, "DELETE", "/api/collections/notes/truncate", NULL)->status, 204);
    r = as(NULL, "GET", "/api/collections/notes/records", NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 0);
    assert_int_equal(cJSON_GetArraySize(rc_get(r->json, "items")), 0);
    /* the collection itself stays and takes records again */
    rc_create(conn, "notes", it_sprintf("{'text':'again','owner':'%s'}", p));
    /* people: its records and their sessions go; a relation to it is cleared */
    assert_int_equal(as(tok, "POST", "/api/collections/people/auth-refresh", NULL)->status, 200);
    assert_int_equal(as(tsu, "DELETE", "/api/collections/people/truncate", NULL)->status, 204);
    rc_assert_error(as(tok, "POST", "/api/collections/people/auth-refresh", NULL), 401, NULL, NULL);
    r = as(NULL, "GET", "/api/collections/people/records", NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 0);
    r = as(NULL, "GET", "/api/collections/notes/records", NULL);
    assert_string_equal(rc_str(cJSON_GetArrayItem(rc_get(r->json, "items"), 0), "owner"), "");
    /* system collections are not truncated */
    rc_assert_error(as(tsu, "DELETE", "/api/collections/_superusers/truncate", NULL), 400, NULL,
                    NULL);
}

static const char *names_of(struct rc_resp *r)
{
    if (r->status != 200)
        fail_msg("list: %d %s", r->status, r->raw->body);
    char *out = it_strdup("");
    const cJSON *e;
    cJSON_ArrayForEach(e, rc_get(r->json, "items")) {
        out = it_sprintf("%s%s%s", out, *out ? "," : "", rc_str(e, "name"));
    }
    return out;
}

static void test_list_filter_sort_and_dates(void **state)
{
    (void)state;
    struct rc_resp *r = as(tsu, "POST", "/api/collections", "{'name':'fs_b','type':'base'}");
    assert_int_equal(r->status, 200);
    const char *created = it_strdup(rc_str(r->json, "created"));
    assert_int_equal(strlen(created), 24); /* 2026-01-02 03:04:05.678Z */
    assert_int_equal(created[10], ' ');
    assert_string_equal(rc_str(r->json, "updated"), created);
    assert_int_equal(as(tsu, "POST", "/api/collections", "{'name':'fs_a','type':'auth'}")->status,
                     200);
    assert_int_equal(as(tsu, "POST", "/api/collections", "{'name':'fs_c','type':'base'}")->status,
                     200);
    const char *base = "/api/collections?perPage=100&filter=";
    assert_string_equal(
        names_of(as(tsu, "GET", it_sprintf("%s%s&sort=-name", base, rc_enc("name ~ 'fs_'")), NULL)),
        "fs_c,fs_b,fs_a");
    assert_string_equal(
        names_of(as(tsu, "GET", it_sprintf("%s%s&sort=name", base, rc_enc("name ~ 'fs_'")), NULL)),
        "fs_a,fs_b,fs_c");
    assert_string_equal(
        names_of(as(tsu, "GET", it_sprintf("%s%s", base, rc_enc("name ~ 'fs_' && type = 'auth'")),
                    NULL)),
        "fs_a");
    assert_string_equal(
        names_of(as(tsu, "GET", it_sprintf("%s%s", base, rc_enc("system = true")), NULL)),
        "_superusers");
    /* paging and totals follow the filter */
    r = as(
        tsu, "GET",
        it_sprintf("/api/collections?perPage=2&page=2&sort=name&filter=%s", rc_enc("name ~ 'fs_'")),
        NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 3);
    assert_int_equal((int)rc_num(r->json, "totalPages"), 2);
    assert_string_equal(names_of(r), "fs_c");
    /* sort alone, by the dates */
    r = as(tsu, "GET", "/api/collections?perPage=100&sort=-created", NULL);
    assert_int_equal(r->status, 200);
    rc_assert_error(as(tsu, "GET", it_sprintf("%s%s", base, rc_enc("nope = 1")), NULL), 400, NULL,
                    NULL);
    rc_assert_error(as(tsu, "GET", "/api/collections?sort=fields", NULL), 400, NULL, NULL);
    rc_assert_error(as(NULL, "GET", it_sprintf("%s%s", base, rc_enc("name != ''")), NULL), 401,
                    NULL, NULL);
    /* an update moves `updated`, not `created` */
    poll(NULL, 0, 5);
    r = as(tsu, "PATCH", "/api/collections/fs_b", "{'listRule':''}");
    assert_int_equal(r->status, 200);
    assert_string_equal(rc_str(r->json, "created"), created);
    assert_true(strcmp(rc_str(r->json, "updated"), created) > 0);
}

/* `--init-schema default` (the server's default): a new data directory
 * starts with PocketBase's `users`, once; `none` and a later delete stick. */
static void test_init_schema(void **state)
{
    (void)state;
    const char *dflt[] = {"--init-schema", "default", "--rate-limit-auth", "off", NULL};
    struct it_server *s = it_server_new();
    assert_non_null(s);
    assert_int_equal(it_server_run(s, dflt), 0);
    ac_superuser(s, "root@example.com", "root password");
    struct it_conn *c = it_conn_open(s);
    const char *su = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    struct rc_resp *r = ac_req(c, "GET", "/api/collections/users", su, NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(rc_str(r->json, "id"), "_pb_users_auth_");
    assert_string_equal(rc_str(r->json, "type"), "auth");
    assert_string_equal(rc_str(r->json, "listRule"), "id = @request.auth.id");
    assert_string_equal(rc_str(r->json, "createRule"), "");
    assert_non_null(strstr(r->raw->body, "\"name\":\"name\""));
    /* a new app signs users up at once, and each sees only itself */
    const char *ann = ac_signup(c, "users", "ann@example.com", "anns password", NULL);
    ac_signup(c, "users", "bob@example.com", "bobs password", NULL);
    const char *ta = ac_login(c, "users", "ann@example.com", "anns password", NULL);
    r = ac_req(c, "GET", "/api/collections/users/records", ta, NULL);
    assert_int_equal(cJSON_GetArraySize(rc_get(r->json, "items")), 1);
    assert_string_equal(rc_str(cJSON_GetArrayItem(rc_get(r->json, "items"), 0), "id"), ann);
    r = ac_req(c, "GET", "/api/collections/users/records", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(rc_get(r->json, "items")), 0);
    /* a restart keeps it (and its records); a delete sticks across restarts */
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    assert_int_equal(it_server_run(s, dflt), 0);
    c = it_conn_open(s);
    su = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    r = ac_req(c, "GET", "/api/collections/users/records", su, NULL);
    assert_int_equal((int)rc_num(r->json, "totalItems"), 2);
    assert_int_equal(ac_req(c, "DELETE", "/api/collections/users", su, NULL)->status, 204);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    assert_int_equal(it_server_run(s, dflt), 0);
    c = it_conn_open(s);
    su = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    rc_assert_error(ac_req(c, "GET", "/api/collections/users", su, NULL), 404, NULL, NULL);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    it_server_cleanup(s);

    /* none: no users, and a later start with default does not add one */
    s = it_server_new();
    assert_non_null(s);
    const char *none[] = {"--init-schema", "none", NULL};
    assert_int_equal(it_server_run(s, none), 0);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    assert_int_equal(it_server_run(s, dflt), 0);
    ac_superuser(s, "root@example.com", "root password");
    c = it_conn_open(s);
    su = ac_login(c, "_superusers", "root@example.com", "root password", NULL);
    rc_assert_error(ac_req(c, "GET", "/api/collections/users", su, NULL), 404, NULL, NULL);
    it_conn_close(c);
    assert_int_equal(it_server_stop(s, IT_MS_STOP), 0);
    it_server_cleanup(s);
    /* a bad value is refused at start */
    s = it_server_new();
    assert_non_null(s);
    const char *bad[] = {"--init-schema", "users", NULL};
    assert_int_not_equal(it_server_run(s, bad), 0);
    it_server_cleanup(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_import_pocketbase_export_unchanged, open_conn),
        it_test_each(test_unsupported_options_named, open_conn),
        it_test_each(test_auth_option_defaults, open_conn),
        it_test_each(test_scaffolds_and_providers, open_conn),
        it_test_each(test_truncate, open_conn),
        it_test_each(test_init_schema, open_conn),
        it_test_each(test_list_filter_sort_and_dates, open_conn),
    };
    return cmocka_run_group_tests_name("collections_api", tests, group_setup, it_group_teardown);
}
