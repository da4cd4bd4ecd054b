/*
 * Subscription topics, as the SDK sends them: `<collection>/` then `*`
 * (every record) or `<recordId>`, each optionally followed by
 * `?options=<urlencoded JSON>` where the JSON is
 * {"query":{"filter","expand","fields",...},"headers":{...}}. The topic
 * string stays as submitted (it is the SSE event name); this file splits
 * it into the collection, the record id, the parsed filter, expand, fields
 * and the @request.query / @request.headers the rule sees. A topic of
 * another shape is kept (it never matches a record), as PocketBase keeps
 * custom topics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "realtime_int.h"
#include "stagehand/filter.h"

/* The value of the `options` parameter of query q (raw, not decoded), or
 * NULL. */
static const char *options_param(const char *q, size_t *len)
{
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n >= 8 && strncmp(p, "options=", 8) == 0) {
            *len = n - 8;
            return p + 8;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) && v->valuestring[0] ? sh_strdup(v->valuestring) : NULL;
}

/* headers as rules see them: lower case, '-' as '_', string values. */
static cJSON *headers_of(const cJSON *h)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *it;
    cJSON_ArrayForEach(it, h) {
        if (!cJSON_IsString(it) || !it->string || strlen(it->string) >= 128)
            continue;
        char name[128];
        size_t k = 0;
        for (const char *s = it->string; *s; s++, k++)
            name[k] = *s == '-' ? '_' : (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;
        name[k] = 0;
        if (!cJSON_GetObjectItemCaseSensitive(o, name))
            cJSON_AddStringToObject(o, name, it->valuestring);
    }
    return o;
}

/* query values as strings, as a URL query would give them. */
static cJSON *query_of(const cJSON *q)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *it;
    cJSON_ArrayForEach(it, q) {
        if (!it->string || cJSON_GetObjectItemCaseSensitive(o, it->string))
            continue;
        if (cJSON_IsString(it)) {
            cJSON_AddStringToObject(o, it->string, it->valuestring);
        } else if (cJSON_IsNumber(it) || cJSON_IsBool(it)) {
            char *t = cJSON_PrintUnformatted(it);
            cJSON_AddStringToObject(o, it->string, t);
            free(t);
        }
    }
    return o;
}

int sh__rt_topic_parse(struct sh__rt_group *g, char *err, size_t errlen)
{
    const char *t = g->topic;
    const char *qm = strchr(t, '?');
    size_t base = qm ? (size_t)(qm - t) : strlen(t);
    const char *slash = memchr(t, '/', base);
    if (!slash || slash == t || (size_t)(slash - t) + 1 == base) {
        g->coll = sh_strdup(""); /* a custom topic: never matched by records */
        return 0;
    }
    g->coll = sh_malloc((size_t)(slash - t) + 1);
    memcpy(g->coll, t, (size_t)(slash - t));
    g->coll[slash - t] = 0;
    size_t idn = base - (size_t)(slash - t) - 1;
    if (!(idn == 1 && slash[1] == '*')) {
        g->rec_id = sh_malloc(idn + 1);
        memcpy(g->rec_id, slash + 1, idn);
        g->rec_id[idn] = 0;
    }
    if (!qm)
        return 0;
    size_t olen = 0;
    const char *raw = options_param(qm + 1, &olen);
    if (!raw)
        return 0;
    char *json = sh_malloc(olen + 1);
    long n = sh_http_percent_decode(json, raw, olen, SH_PCT_FORM);
    cJSON *opt = n >= 0 ? cJSON_ParseWithLength(json, (size_t)n) : NULL;
    free(json);
    if (!cJSON_IsObject(opt)) {
        cJSON_Delete(opt);
        snprintf(err, errlen, "Invalid subscription options: not a JSON object.");
        return -1;
    }
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(opt, "query");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(opt, "headers");
    int rc = 0;
    if (cJSON_IsObject(q)) {
        g->expand = str_of(q, "expand");
        g->fields = str_of(q, "fields");
        char *filter = str_of(q, "filter");
        struct sh_filter_error ferr;
        if (filter && sh_filter_parse(filter, strlen(filter), &g->filter, &ferr)) {
            snprintf(err, errlen, "Invalid subscription filter: %s", ferr.message);
            rc = -1;
        }
        free(filter);
        g->query = query_of(q);
    }
    if (cJSON_IsObject(h))
        g->headers = headers_of(h);
    cJSON_Delete(opt);
    return rc;
}

void sh__rt_topic_deinit(struct sh__rt_group *g)
{
    free(g->coll);
    free(g->rec_id);
    free(g->expand);
    free(g->fields);
    if (g->filter)
        sh_filter_free(g->filter);
    cJSON_Delete(g->query);
    cJSON_Delete(g->headers);
    g->coll = g->rec_id = g->expand = g->fields = NULL;
    g->filter = NULL;
    g->query = g->headers = NULL;
}
