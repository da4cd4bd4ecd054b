/*
 * GET/PATCH /api/settings (PocketBase's apis/settings.go and the shape of
 * core/settings_model.go: meta, logs, smtp, s3, backups, batch, rateLimits,
 * trustedProxy), superusers only. The settings live in the database
 * (_params row "settings", migration 3) and are written through the writer
 * thread; a PATCH is merged onto the current settings (objects key by key,
 * arrays replaced, unknown keys dropped, a value of the wrong JSON type a
 * 400), validated per key with PocketBase's error codes, stored, and then
 * applied at once without a restart:
 *  - rateLimits: when enabled, each rule (label "/path/prefix" or
 *    "METHOD /path/prefix", audience "", "@guest" or "@auth", maxRequests
 *    per duration seconds) limits each client address on the requests it
 *    matches (the longest matching label wins) — a middleware of this file;
 *  - trustedProxy: headers naming X-Forwarded-For make the loopback and
 *    private ranges trusted proxies (sh_client_ip then takes the right-most
 *    untrusted address); an empty list trusts none;
 *  - backups: cron and cronMaxKeep reschedule the backup job (crons.c).
 * Secrets (smtp.password, s3.secret, backups.s3.secret) are never returned
 * (PocketBase's masking: an empty string); a PATCH that sends them empty or
 * leaves them out keeps the stored ones. Command-line flags and STAGEHAND_*
 * variables win where set (--trusted-proxy over trustedProxy,
 * --rate-limit-all over rateLimits): such settings are stored but not
 * applied, and GET names them in "overriddenBy" ({"trustedProxy":
 * "--trusted-proxy"}).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "api_int.h"
#include "auth_int.h"
#include "ops_int.h"
#include "stagehand/api.h"
#include "stagehand/config.h"

#define PRIVATE_RANGES "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
#define MAX_RULES      64
#define RULE_KEYS      4096 /* addresses one rule remembers */

static const char defaults_json[] =
    "{\"meta\":{\"appName\":\"Acme\",\"appURL\":\"http://localhost:8090\","
    "\"senderName\":\"Support\",\"senderAddress\":\"support@example.com\",\"hideControls\":false},"
    "\"logs\":{\"maxDays\":5,\"minLevel\":0,\"logIP\":true,\"logAuthId\":false},"
    "\"smtp\":{\"enabled\":false,\"port\":587,\"host\":\"smtp.example.com\",\"username\":\"\","
    "\"password\":\"\",\"authMethod\":\"\",\"tls\":false,\"localName\":\"\"},"
    "\"s3\":{\"enabled\":false,\"bucket\":\"\",\"region\":\"\",\"endpoint\":\"\",\"accessKey\":"
    "\"\","
    "\"secret\":\"\",\"forcePathStyle\":false},"
    "\"backups\":{\"cron\":\"\",\"cronMaxKeep\":3,\"s3\":{\"enabled\":false,\"bucket\":\"\","
    "\"region\":\"\",\"endpoint\":\"\",\"accessKey\":\"\",\"secret\":\"\",\"forcePathStyle\":false}"
    "},"
    "\"batch\":{\"enabled\":true,\"maxRequests\":50,\"timeout\":3,\"maxBodySize\":0},"
    "\"rateLimits\":{\"enabled\":false,\"rules\":[{\"label\":\"/api/\",\"audience\":\"\","
    "\"duration\":10,\"maxRequests\":300}]},"
    "\"trustedProxy\":{\"headers\":[],\"useLeftmostIP\":false}}";

static const char rule_template[] =
    "{\"label\":\"\",\"audience\":\"\",\"duration\":0,\"maxRequests\":0}";

static const char *const secrets[][2] = {
    {"smtp", "password"}, {"s3", "secret"}, {"backups", "s3"}, /* backups.s3.secret */
};

struct rule {
    char method[16]; /* "" = any */
    char *prefix;
    int audience; /* 0 all, 1 guests, 2 signed in */
    struct sh_ratelimit *rl;
};

struct sh_api_settings {
    uv_loop_t *loop;
    const struct sh_config *cfg;
    struct sh_db *db;
    struct sh_api_auth *auth;
    struct sh_api_crons *crons;
    struct sh_logs *logs; /* the stored logs, whose retention logs.maxDays sets; may be NULL */
    struct sh_api_records *records; /* whose batch limits batch sets; may be NULL */
    cJSON *cur;                     /* every value, secrets included */
    struct rule *rules;
    size_t nrules;
};

/* ---- merge: the body onto the current settings, shaped by the template ---- */

/* Builds from template t the value of body b (may be NULL) over current c
 * (may be NULL; then t's). -1 when b has the wrong type somewhere. */
static int merge(const cJSON *t, const cJSON *c, const cJSON *b, cJSON **out);

static int merge_rules(const cJSON *c, const cJSON *b, cJSON **out)
{
    if (!b) {
        *out = cJSON_Duplicate(c, 1);
        return 0;
    }
    if (!cJSON_IsArray(b))
        return -1;
    cJSON *t = cJSON_Parse(rule_template), *arr = cJSON_CreateArray(), *e;
    int rc = 0;
    cJSON_ArrayForEach(e, b) {
        cJSON *one = NULL;
        if (!cJSON_IsObject(e) || merge(t, NULL, e, &one) != 0) {
            rc = -1;
            break;
        }
        cJSON_AddItemToArray(arr, one);
    }
    cJSON_Delete(t);
    if (rc) {
        cJSON_Delete(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

static int merge(const cJSON *t, const cJSON *c, const cJSON *b, cJSON **out)
{
    if (b && cJSON_IsNull(b))
        b = NULL; /* null: keep */
    if (cJSON_IsObject(t)) {
        if (b && !cJSON_IsObject(b))
            return -1;
        cJSON *o = cJSON_CreateObject();
        const cJSON *k;
        cJSON_ArrayForEach(k, t) {
            const cJSON *ck = c ? cJSON_GetObjectItemCaseSensitive(c, k->string) : NULL;
            const cJSON *bk = b ? cJSON_GetObjectItemCaseSensitive(b, k->string) : NULL;
            cJSON *v = NULL;
            int rc = strcmp(k->string, "rules") == 0 ? merge_rules(ck ? ck : k, bk, &v)
                                                     : merge(k, ck, bk, &v);
            if (rc) {
                cJSON_Delete(o);
                return -1;
            }
            cJSON_AddItemToObject(o, k->string, v);
        }
        *out = o;
        return 0;
    }
    const cJSON *src = b ? b : c ? c : t;
    if (cJSON_IsArray(t)) { /* arrays of strings (trustedProxy.headers) */
        if (!cJSON_IsArray(src))
            return -1;
        const cJSON *e;
        cJSON_ArrayForEach(e, src)
            if (!cJSON_IsString(e))
                return -1;
    } else if ((cJSON_IsBool(t) && !cJSON_IsBool(src)) ||
               (cJSON_IsNumber(t) && !cJSON_IsNumber(src)) ||
               (cJSON_IsString(t) && !cJSON_IsString(src))) {
        return -1;
    }
    *out = cJSON_Duplicate(src, 1);
    return 0;
}

static const cJSON *at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = at(o, a, b);
    return cJSON_IsString(x) ? x->valuestring : "";
}

static double num_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = at(o, a, b);
    return cJSON_IsNumber(x) ? x->valuedouble : 0;
}

/* ---- validation: PocketBase's codes, errors nested as the settings ---- */

/* Sets errs.<path...>.field = {code, message} (path NULL-terminated), the
 * first error of a field only. */
static void add_err_at(cJSON *errs, const char *const *path, const char *field, const char *code,
                       const char *msg)
{
    cJSON *g = errs;
    for (; *path; path++) {
        cJSON *x = cJSON_GetObjectItemCaseSensitive(g, *path);
        g = x ? x : cJSON_AddObjectToObject(g, *path);
    }
    if (cJSON_GetObjectItemCaseSensitive(g, field))
        return;
    cJSON *e = cJSON_AddObjectToObject(g, field);
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
}

static void add_err(cJSON *errs, const char *group, const char *sub, const char *field,
                    const char *code, const char *msg)
{
    const char *path[] = {group, sub, NULL};
    add_err_at(errs, path, field, code, msg);
}

static int is_email(const char *s)
{
    const char *at_ = strchr(s, '@');
    return at_ && at_ != s && strchr(at_ + 1, '.') && !strchr(at_ + 1, '@') &&
           at_[strlen(at_) - 1] != '.' && !strpbrk(s, " \t\r\n");
}

static int is_url(const char *s)
{
    return (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) &&
           strlen(strchr(s, ':') + 3) > 0 && !strpbrk(s, " \t\r\n");
}

static void required(cJSON *errs, const cJSON *st, const char *g, const char *f, size_t max)
{
    const char *v = str_at(st, g, f);
    if (!v[0])
        add_err(errs, g, NULL, f, "validation_required", "Cannot be blank.");
    else if (strlen(v) > max)
        add_err(errs, g, NULL, f, "validation_length_too_long",
                "The length must be no more than 255.");
}

static void min_num(cJSON *errs, const cJSON *st, const char *g, const char *f, double min)
{
    double v = num_at(st, g, f);
    if (v < min || v != (double)(int64_t)v) {
        char msg[64];
        snprintf(msg, sizeof(msg), "Must be no less than %.0f.", min);
        add_err(errs, g, NULL, f, "validation_min_greater_equal_than_required", msg);
    }
}

static int audience_of(const char *a)
{
    return strcmp(a, "") == 0 ? 0 : strcmp(a, "@guest") == 0 ? 1 : strcmp(a, "@auth") == 0 ? 2 : -1;
}

static void validate(const cJSON *st, cJSON *errs)
{
    required(errs, st, "meta", "appName", 255);
    required(errs, st, "meta", "appURL", 2048);
    if (str_at(st, "meta", "appURL")[0] && !is_url(str_at(st, "meta", "appURL")))
        add_err(errs, "meta", NULL, "appURL", "validation_is_url", "Must be a valid URL.");
    required(errs, st, "meta", "senderName", 255);
    required(errs, st, "meta", "senderAddress", 255);
    if (str_at(st, "meta", "senderAddress")[0] && !is_email(str_at(st, "meta", "senderAddress")))
        add_err(errs, "meta", NULL, "senderAddress", "validation_is_email",
                "Must be a valid email address.");
    min_num(errs, st, "logs", "maxDays", 0);
    if (cJSON_IsTrue(at(st, "smtp", "enabled"))) {
        required(errs, st, "smtp", "host", 255);
        double port = num_at(st, "smtp", "port");
        if (port < 1 || port > 65535 || port != (double)(int)port)
            add_err(errs, "smtp", NULL, "port", "validation_required", "Cannot be blank.");
    }
    const char *am = str_at(st, "smtp", "authMethod");
    if (am[0] && strcmp(am, "PLAIN") != 0 && strcmp(am, "LOGIN") != 0)
        add_err(errs, "smtp", NULL, "authMethod", "validation_in_invalid",
                "Must be a valid value.");
    if (cJSON_IsTrue(at(st, "s3", "enabled")) ||
        cJSON_IsTrue(at(at(st, "backups", NULL), "s3", "enabled")))
        add_err(errs, cJSON_IsTrue(at(st, "s3", "enabled")) ? "s3" : "backups", NULL, "enabled",
                "validation_not_supported", "S3 storage is not supported by this server.");
    struct sh__cron cr;
    const char *cron = str_at(st, "backups", "cron");
    if (cron[0] && sh__cron_parse(cron, &cr) != 0)
        add_err(errs, "backups", NULL, "cron", "validation_invalid_cron",
                "Invalid cron expression.");
    if (cron[0])
        min_num(errs, st, "backups", "cronMaxKeep", 1);
    min_num(errs, st, "batch", "maxRequests", cJSON_IsTrue(at(st, "batch", "enabled")) ? 1 : 0);
    min_num(errs, st, "batch", "timeout", cJSON_IsTrue(at(st, "batch", "enabled")) ? 1 : 0);
    min_num(errs, st, "batch", "maxBodySize", 0);
    const cJSON *rules = at(st, "rateLimits", "rules"), *e;
    if (cJSON_GetArraySize(rules) > MAX_RULES)
        add_err(errs, "rateLimits", NULL, "rules", "validation_length_too_long",
                "The length must be no more than 64.");
    int i = 0;
    cJSON_ArrayForEach(e, rules) {
        char idx[16];
        snprintf(idx, sizeof(idx), "%d", i++);
        const char *label = str_at(e, "label", NULL);
        const char *sp = strchr(label, ' ');
        const char *path = sp ? sp + 1 : label;
        const char *rk[] = {"rateLimits", "rules", idx, NULL};
        if (!label[0])
            add_err_at(errs, rk, "label", "validation_required", "Cannot be blank.");
        else if (path[0] != '/')
            add_err_at(errs, rk, "label", "validation_invalid_rate_limit_label",
                       "Must be a path prefix (/api/) or a method and a path (POST /api/...).");
        if (num_at(e, "maxRequests", NULL) < 1)
            add_err_at(errs, rk, "maxRequests", "validation_min_greater_equal_than_required",
                       "Must be no less than 1.");
        if (num_at(e, "duration", NULL) < 1 || num_at(e, "duration", NULL) > 86400 * 12)
            add_err_at(errs, rk, "duration", "validation_min_greater_equal_than_required",
                       "Must be no less than 1.");
        if (audience_of(str_at(e, "audience", NULL)) < 0)
            add_err_at(errs, rk, "audience", "validation_in_invalid", "Must be a valid value.");
    }
    const cJSON *hs = at(st, "trustedProxy", "headers");
    cJSON_ArrayForEach(e, hs) {
        if (strcasecmp(e->valuestring, "X-Forwarded-For") != 0) {
            add_err(errs, "trustedProxy", NULL, "headers", "validation_in_invalid",
                    "Only X-Forwarded-For is supported.");
            break;
        }
    }
    if (cJSON_IsTrue(at(st, "trustedProxy", "useLeftmostIP")))
        add_err(errs, "trustedProxy", NULL, "useLeftmostIP", "validation_not_supported",
                "The client is the right-most untrusted address; the left-most can be forged.");
}

/* ---- applying ---- */

static void rules_free(struct sh_api_settings *s)
{
    for (size_t i = 0; i < s->nrules; i++) {
        free(s->rules[i].prefix);
        sh_ratelimit_free(s->rules[i].rl);
    }
    free(s->rules);
    s->rules = NULL;
    s->nrules = 0;
}

static void apply(struct sh_api_settings *s)
{
    const cJSON *st = s->cur;
    rules_free(s);
    if (!s->cfg->rate_limit_all.limit && cJSON_IsTrue(at(st, "rateLimits", "enabled"))) {
        const cJSON *rules = at(st, "rateLimits", "rules"), *e;
        s->rules = sh_calloc((size_t)cJSON_GetArraySize(rules) + 1, sizeof(*s->rules));
        cJSON_ArrayForEach(e, rules) {
            struct rule *ru = &s->rules[s->nrules];
            const char *label = str_at(e, "label", NULL), *sp = strchr(label, ' ');
            if (sp && (size_t)(sp - label) < sizeof(ru->method)) {
                memcpy(ru->method, label, (size_t)(sp - label));
                ru->method[sp - label] = 0;
            }
            ru->prefix = sh_strdup(sp ? sp + 1 : label);
            ru->audience = audience_of(str_at(e, "audience", NULL));
            ru->rl = sh_ratelimit_new((unsigned)num_at(e, "maxRequests", NULL),
                                      (uint64_t)num_at(e, "duration", NULL) * 1000, RULE_KEYS);
            if (!ru->rl) {
                free(ru->prefix);
                continue;
            }
            s->nrules++;
        }
    }
    if (!s->cfg->trusted_proxy) {
        const char *list =
            cJSON_GetArraySize(at(st, "trustedProxy", "headers")) ? PRIVATE_RANGES : "";
        struct sh_cidr_list *l = sh_cidr_list_parse(list, NULL, 0);
        if (l) {
            sh_cidr_list_free(s->auth->trusted);
            s->auth->trusted = l;
        }
    }
    if (s->crons)
        sh__crons_backup_set(s->crons, str_at(st, "backups", "cron"),
                             (unsigned)num_at(st, "backups", "cronMaxKeep"));
    if (s->logs && !sh_config_is_set(s->cfg, "logs-max-days"))
        sh_logs_set_retention(s->logs, (unsigned)num_at(st, "logs", "maxDays"),
                              s->cfg->logs_max_size);
    if (s->records)
        sh_api_records_set_batch(s->records, cJSON_IsTrue(at(st, "batch", "enabled")),
                                 (unsigned)num_at(st, "batch", "maxRequests"),
                                 (uint64_t)(num_at(st, "batch", "timeout") * 1000),
                                 (uint64_t)num_at(st, "batch", "maxBodySize"));
}

void sh_api_settings_use_records(struct sh_api_settings *s, struct sh_api_records *records)
{
    if (!s)
        return;
    s->records = records;
    apply(s);
}

void sh_api_settings_use_logs(struct sh_api_settings *s, struct sh_logs *logs)
{
    if (!s)
        return;
    s->logs = logs;
    apply(s);
}

/* The middleware of rateLimits. */
static int settings_ratelimit(struct sh_req *r, void *ud)
{
    struct sh_api_settings *s = ud;
    if (!s->nrules || sh__rl_exempt(r, s->auth))
        return SH_PASS;
    const struct rule *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < s->nrules; i++) {
        const struct rule *ru = &s->rules[i];
        size_t n = strlen(ru->prefix);
        if ((ru->audience == 1 && r->auth) || (ru->audience == 2 && !r->auth))
            continue;
        if (ru->method[0] && !sh_str_eq(r->method_name, ru->method))
            continue;
        if (r->path.len < n || memcmp(r->path.ptr, ru->prefix, n) != 0)
            continue;
        size_t weight = n + (ru->method[0] ? 1 : 0);
        if (!best || weight > best_len) {
            best = ru;
            best_len = weight;
        }
    }
    if (!best)
        return SH_PASS;
    char addr[SH__RL_ADDR_MAX];
    sh__rl_addr(r, addr);
    struct sh_ratelimit_result res;
    sh_ratelimit_hit(best->rl, addr, strlen(addr), uv_now(s->loop), &res);
    if (res.allowed)
        return SH_PASS;
    sh__rl_answer(r, &res);
    return SH_HANDLED;
}

/* ---- the handlers ---- */

static int not_superuser(struct sh_req *r)
{
    if (!r->auth) {
        sh__api_error(r, 401, "The request requires superuser authorization token to be set.",
                      NULL);
        return 1;
    }
    if (!r->auth->superuser) {
        sh__api_error(r, 403, "The authorized record is not allowed to perform this action.", NULL);
        return 1;
    }
    return 0;
}

static void send_masked(struct sh_api_settings *s, struct sh_req *r)
{
    cJSON *o = cJSON_Duplicate(s->cur, 1);
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        cJSON *g = cJSON_GetObjectItemCaseSensitive(o, secrets[i][0]);
        cJSON *x = cJSON_GetObjectItemCaseSensitive(g, secrets[i][1]);
        if (cJSON_IsObject(x))
            x = cJSON_GetObjectItemCaseSensitive(x, "secret");
        if (cJSON_IsString(x))
            cJSON_SetValuestring(x, "");
    }
    cJSON *by = cJSON_AddObjectToObject(o, "overriddenBy");
    if (s->cfg->trusted_proxy)
        cJSON_AddStringToObject(by, "trustedProxy", "--trusted-proxy");
    if (s->cfg->rate_limit_all.limit)
        cJSON_AddStringToObject(by, "rateLimits", "--rate-limit-all");
    if (sh_config_is_set(s->cfg, "logs-max-days"))
        cJSON_AddStringToObject(by, "logs", "--logs-max-days");
    if (sh_config_is_set(s->cfg, "batch-max-requests") ||
        sh_config_is_set(s->cfg, "batch-timeout") || sh_config_is_set(s->cfg, "batch-max-body"))
        cJSON_AddStringToObject(by, "batch", "--batch-*");
    sh__api_send_json(r, 200, o);
}

static int settings_get(struct sh_req *r, void *ud)
{
    if (not_superuser(r))
        return SH_HANDLED;
    send_masked(ud, r);
    return SH_HANDLED;
}

struct save {
    struct sh__api_job j; /* first */
    struct sh_api_settings *s;
    cJSON *next;
    char *json;
};

static int save_run(sqlite3 *wdb, void *arg)
{
    struct save *v = arg;
    sqlite3_stmt *st;
    int rc = sh_db_writer_prepare(
        wdb,
        "INSERT INTO _params (id, value, created, updated) VALUES ('settings', ?1,"
        " strftime('%Y-%m-%d %H:%M:%fZ','now'), strftime('%Y-%m-%d %H:%M:%fZ','now'))"
        " ON CONFLICT (id) DO UPDATE SET value = excluded.value, updated = excluded.updated",
        &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, v->json, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sh_db_errcode(sqlite3_errcode(wdb));
    sh_db_writer_release(wdb, st);
    return rc;
}

static void save_committed(struct sh__api_job *j, int rc)
{
    struct save *v = (struct save *)j;
    if (rc)
        return;
    cJSON_Delete(v->s->cur);
    v->s->cur = v->next;
    v->next = NULL;
    apply(v->s);
    sh_log_info("settings", "settings saved and applied");
}

static int save_answer(struct sh__api_job *j, struct sh_req *r, int rc)
{
    struct save *v = (struct save *)j;
    if (rc)
        return rc;
    send_masked(v->s, r);
    return 0;
}

static void save_free(struct sh__api_job *j)
{
    struct save *v = (struct save *)j;
    cJSON_Delete(v->next);
    free(v->json);
    free(v);
}

static const struct sh__api_job_ops save_ops = {
    .run = save_run,
    .committed = save_committed,
    .answer = save_answer,
    .free = save_free,
};

static int settings_patch(struct sh_req *r, void *ud)
{
    struct sh_api_settings *s = ud;
    if (not_superuser(r))
        return SH_HANDLED;
    cJSON *body = sh__api_body_or_reply(r);
    if (!body)
        return SH_HANDLED;
    cJSON *t = cJSON_Parse(defaults_json), *next = NULL;
    int rc = merge(t, s->cur, body, &next);
    cJSON_Delete(t);
    if (rc) {
        sh__api_error(r, 400, "Failed to load the submitted data due to invalid formatting.", NULL);
        return SH_HANDLED;
    }
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) { /* "" keeps the secret */
        int nested = strcmp(secrets[i][1], "s3") == 0;
        const char *key = nested ? "secret" : secrets[i][1];
        cJSON *ng = cJSON_GetObjectItemCaseSensitive(next, secrets[i][0]);
        const cJSON *cg = cJSON_GetObjectItemCaseSensitive(s->cur, secrets[i][0]);
        if (nested) {
            ng = cJSON_GetObjectItemCaseSensitive(ng, "s3");
            cg = cJSON_GetObjectItemCaseSensitive(cg, "s3");
        }
        cJSON *nv = cJSON_GetObjectItemCaseSensitive(ng, key);
        const cJSON *cv = cJSON_GetObjectItemCaseSensitive(cg, key);
        if (cJSON_IsString(nv) && !nv->valuestring[0] && cJSON_IsString(cv))
            cJSON_SetValuestring(nv, cv->valuestring);
    }
    cJSON *errs = cJSON_CreateObject();
    validate(next, errs);
    if (cJSON_GetArraySize(errs)) {
        sh__api_error(r, 400, "An error occurred while validating the submitted data.", errs);
        cJSON_Delete(errs);
        cJSON_Delete(next);
        return SH_HANDLED;
    }
    cJSON_Delete(errs);
    struct save *v = sh_calloc(1, sizeof(*v));
    v->s = s;
    v->next = next;
    v->json = cJSON_PrintUnformatted(next);
    SH_ASSERT(v->json);
    sh__api_job_start(&v->j, r, &save_ops, s->db, NULL, NULL);
    sh__api_job_submit(&v->j);
    return SH_HANDLED;
}

/* ---- life ---- */

struct sh_api_settings *sh_api_settings_new(uv_loop_t *loop, const struct sh_config *cfg,
                                            struct sh_db *db, struct sh_api_auth *auth,
                                            struct sh_api_crons *crons)
{
    struct sh_api_settings *s = sh_calloc(1, sizeof(*s));
    s->loop = loop;
    s->cfg = cfg;
    s->db = db;
    s->auth = auth;
    s->crons = crons;
    cJSON *t = cJSON_Parse(defaults_json), *stored = NULL;
    SH_ASSERT(t);
    sqlite3_stmt *st = NULL;
    /* At start-up, before serving: one indexed read. */
    if (sh_db_prepare(db, "SELECT value FROM _params WHERE id = 'settings'", &st) == 0) {
        if (sh_db_step(db, st) == 1)
            stored = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
        sh_db_release(db, st);
    }
    if (merge(t, NULL, stored, &s->cur) != 0) { /* a stored value of another shape */
        sh_log_warn("settings", "the stored settings do not parse; using the defaults");
        s->cur = cJSON_Duplicate(t, 1);
    }
    cJSON_Delete(stored);
    cJSON_Delete(t);
    apply(s);
    return s;
}

void sh_api_settings_free(struct sh_api_settings *s)
{
    if (!s)
        return;
    rules_free(s);
    cJSON_Delete(s->cur);
    free(s);
}

int sh_api_settings_register(struct sh_router *rt, struct sh_api_settings *s)
{
    int rc = 0;
    rc |= sh_router_use(rt, settings_ratelimit, s);
    rc |= sh_router_add(rt, SH_METHOD_GET, "/api/settings", settings_get, s);
    rc |= sh_router_add(rt, SH_METHOD_PATCH, "/api/settings", settings_patch, s);
    return rc ? SH_EINVAL : 0;
}
