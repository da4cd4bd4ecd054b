/*
 * Change events across a group of instances (--redis): subscribers of any
 * instance receive the events of writes committed by any other.
 *
 * Every committed write's event is published on the Redis channel
 * "stagehand:realtime" with the row as committed (every column: its storage
 * class and value; integers as decimal strings so that none loses
 * precision, blobs as hex), the collection id, the action, and this
 * process's instance id (random at start). Every instance subscribes (a
 * connection of its own in subscriber mode), ignores its own messages —
 * its own subscribers had the event at once, locally — and turns the
 * others into the same event a local write makes: the row rebuilt as SQLite
 * values, then the broker's one path (rule check per group, visibility as a
 * GET, ordered delivery). So each subscriber gets each event exactly once.
 * The tokenKey downgrades (a deleted account, a new password, logout-all)
 * travel the same way.
 *
 * Interest: an instance with subscribers publishes which collections they
 * name (at once when a subscription changes, then every second); the others
 * remember it for a few seconds. A write captures its row and publishes its
 * event only when this instance or another listens to its collection, so a
 * collection nobody subscribes to costs nothing more than alone. A
 * subscription's interest message leaves for Redis in the loop turn of its
 * answer; a write the client makes next crosses the proxy and the client
 * first, so it practically always reaches a writer after the interest did.
 * A write racing a brand-new subscription within that fraction of a
 * millisecond may go unpublished (as it may be committed just before the
 * subscription on one instance alone).
 *
 * Order: an instance publishes after its commit, in its commit order; Redis
 * delivers one publisher's messages in order. Commits of two instances to
 * one collection within the same fraction of a millisecond may reach a third
 * in either order. While Redis is away, events of other instances are not
 * received (their writes still are; the SDK's subscribers see the next
 * events); each resubscription is logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>
#include <sqlite3.h>

#include "realtime_int.h"
#include "records_int.h"
#include "stagehand/cache.h"
#include "stagehand/catalog.h"

#define CHANNEL "stagehand:realtime"

#define INTEREST_MAX   256  /* collections the other instances listen to, remembered */
#define INTEREST_TTL   3000 /* ms an instance's interest lasts without news */
#define INTEREST_EVERY 1000 /* ms between this instance's interest messages */

struct interest {
    char coll[64];
    uint64_t until; /* uv_now ms */
};

struct sh__rt_remote {
    struct sh_api_records *api;
    struct sh_redis *pub; /* borrowed: the server's client */
    struct sh_redis *sub; /* owned: the subscriber connection */
    char inst[33];
    unsigned subscriptions;
    struct interest wanted[INTEREST_MAX]; /* by the other instances */
    unsigned nwanted;
    uv_timer_t timer; /* INTEREST_EVERY */
};

static const char *const op_names[] = {
    [SH_REC_CREATE] = "create", [SH_REC_UPDATE] = "update", [SH_REC_DELETE] = "delete"};

/* ---- out ---- */

static void publish(struct sh__rt_remote *rm, cJSON *msg)
{
    cJSON_AddStringToObject(msg, "i", rm->inst);
    char *text = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    if (!text)
        return;
    sh_redis_publish(rm->pub, CHANNEL, text, strlen(text));
    cJSON_free(text);
}

static cJSON *row_json(const struct sh_rec_row *row)
{
    cJSON *o = cJSON_CreateObject(), *names = cJSON_AddArrayToObject(o, "n"),
          *types = cJSON_AddArrayToObject(o, "t"), *vals = cJSON_AddArrayToObject(o, "v");
    for (int i = 0; i < row->n; i++) {
        sqlite3_value *v = row->vals[i];
        cJSON_AddItemToArray(names, cJSON_CreateString(row->names[i]));
        char num[32];
        switch (sqlite3_value_type(v)) {
        case SQLITE_INTEGER:
            snprintf(num, sizeof num, "%lld", (long long)sqlite3_value_int64(v));
            cJSON_AddItemToArray(types, cJSON_CreateString("i"));
            cJSON_AddItemToArray(vals, cJSON_CreateString(num));
            break;
        case SQLITE_FLOAT:
            cJSON_AddItemToArray(types, cJSON_CreateString("f"));
            cJSON_AddItemToArray(vals, cJSON_CreateNumber(sqlite3_value_double(v)));
            break;
        case SQLITE_TEXT:
            cJSON_AddItemToArray(types, cJSON_CreateString("t"));
            cJSON_AddItemToArray(vals, cJSON_CreateString((const char *)sqlite3_value_text(v)));
            break;
        case SQLITE_BLOB: {
            size_t n = (size_t)sqlite3_value_bytes(v);
            char *hex = sh_malloc(2 * n + 1);
            sodium_bin2hex(hex, 2 * n + 1, sqlite3_value_blob(v), n);
            cJSON_AddItemToArray(types, cJSON_CreateString("b"));
            cJSON_AddItemToArray(vals, cJSON_CreateString(hex));
            free(hex);
            break;
        }
        default:
            cJSON_AddItemToArray(types, cJSON_CreateString("n"));
            cJSON_AddItemToArray(vals, cJSON_CreateNull());
        }
    }
    return o;
}

void sh__rt_remote_event(struct sh__rt *rt, const struct sh_rec_write *w)
{
    struct sh__rt_remote *rm = rt->remote;
    if (!rm || !w->row || (unsigned)w->op >= SH_ARRAY_LEN(op_names) || !op_names[w->op])
        return;
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "k", "e");
    cJSON_AddStringToObject(msg, "c", w->c->id);
    cJSON_AddStringToObject(msg, "o", op_names[w->op]);
    cJSON_AddItemToObject(msg, "row", row_json(w->row));
    publish(rm, msg);
}

void sh__rt_remote_downgrade(struct sh__rt *rt, const char *collection_id, const char *record_id)
{
    struct sh__rt_remote *rm = rt->remote;
    if (!rm)
        return;
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "k", "d");
    cJSON_AddStringToObject(msg, "c", collection_id);
    cJSON_AddStringToObject(msg, "r", record_id);
    publish(rm, msg);
}

bool sh__rt_remote_wants(const struct sh__rt *rt, const struct sh_collection *c)
{
    const struct sh__rt_remote *rm = rt ? rt->remote : NULL;
    if (!rm)
        return false;
    uint64_t now = uv_now(rm->api->loop);
    for (unsigned i = 0; i < rm->nwanted; i++)
        if (rm->wanted[i].until > now && strcmp(rm->wanted[i].coll, c->id) == 0)
            return true;
    return false;
}

void sh__rt_remote_interest(struct sh__rt *rt)
{
    struct sh__rt_remote *rm = rt ? rt->remote : NULL;
    const struct sh_catalog_snap *snap = rm ? rm->api->catalog->snap : NULL;
    if (!snap)
        return;
    cJSON *msg = cJSON_CreateObject(), *cs = cJSON_AddArrayToObject(msg, "cs");
    for (size_t i = 0; i < snap->n; i++)
        if (sh__rt_wants(rt, snap->list[i]))
            cJSON_AddItemToArray(cs, cJSON_CreateString(snap->list[i]->id));
    if (!cJSON_GetArraySize(cs)) {
        cJSON_Delete(msg);
        return;
    }
    cJSON_AddStringToObject(msg, "k", "w");
    publish(rm, msg);
}

static void on_interest_timer(uv_timer_t *t)
{
    struct sh__rt_remote *rm = t->data;
    sh__rt_remote_interest(rm->api->realtime);
}

/* Another instance listens to these collections for INTEREST_TTL. */
static void remember(struct sh__rt_remote *rm, const cJSON *cs)
{
    uint64_t now = uv_now(rm->api->loop);
    const cJSON *e;
    cJSON_ArrayForEach(e, cs) {
        if (!cJSON_IsString(e) || strlen(e->valuestring) >= sizeof rm->wanted[0].coll)
            continue;
        struct interest *slot = NULL;
        for (unsigned i = 0; i < rm->nwanted && !slot; i++)
            if (strcmp(rm->wanted[i].coll, e->valuestring) == 0 || rm->wanted[i].until <= now)
                slot = &rm->wanted[i];
        if (!slot && rm->nwanted < INTEREST_MAX)
            slot = &rm->wanted[rm->nwanted++];
        if (!slot)
            continue; /* more collections than remembered: they stay unpublished */
        snprintf(slot->coll, sizeof slot->coll, "%s", e->valuestring);
        slot->until = now + INTEREST_TTL;
    }
}

/* ---- in ---- */

/* One value as SQLite holds it, made on the read connection (SELECT ?1). */
static sqlite3_value *value_of(struct sh_db *db, const char *type, const cJSON *v)
{
    sqlite3_stmt *st;
    if (sh_db_prepare(db, "SELECT ?1", &st))
        return NULL;
    unsigned char *blob = NULL;
    if (type[0] == 'i' && cJSON_IsString(v)) {
        sqlite3_bind_int64(st, 1, strtoll(v->valuestring, NULL, 10));
    } else if (type[0] == 'f' && cJSON_IsNumber(v)) {
        sqlite3_bind_double(st, 1, v->valuedouble);
    } else if (type[0] == 't' && cJSON_IsString(v)) {
        sqlite3_bind_text(st, 1, v->valuestring, -1, SQLITE_STATIC);
    } else if (type[0] == 'b' && cJSON_IsString(v)) {
        size_t n = strlen(v->valuestring) / 2, got = 0;
        blob = sh_malloc(n + 1);
        if (sodium_hex2bin(blob, n + 1, v->valuestring, 2 * n, NULL, &got, NULL) == 0)
            sqlite3_bind_blob(st, 1, blob, (int)got, SQLITE_STATIC);
    } /* else NULL */
    sqlite3_value *out =
        sh_db_step(db, st) == 1 ? sqlite3_value_dup(sqlite3_column_value(st, 0)) : NULL;
    sh_db_release(db, st);
    free(blob);
    return out;
}

static struct sh_rec_row *row_of(struct sh_db *db, const cJSON *o)
{
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(o, "n"),
                *types = cJSON_GetObjectItemCaseSensitive(o, "t"),
                *vals = cJSON_GetObjectItemCaseSensitive(o, "v");
    int n = cJSON_GetArraySize(names);
    if (n <= 0 || n > 4096 || cJSON_GetArraySize(types) != n || cJSON_GetArraySize(vals) != n)
        return NULL;
    struct sh_rec_row *row = sh_calloc(1, sizeof *row);
    row->names = sh_calloc((size_t)n, sizeof *row->names);
    row->vals = sh_calloc((size_t)n, sizeof *row->vals);
    for (int i = 0; i < n; i++) {
        const cJSON *name = cJSON_GetArrayItem(names, i), *type = cJSON_GetArrayItem(types, i);
        if (!cJSON_IsString(name) || !cJSON_IsString(type)) {
            sh_rec_row_free(row);
            return NULL;
        }
        row->names[i] = sh_strdup(name->valuestring);
        row->vals[i] = value_of(db, type->valuestring, cJSON_GetArrayItem(vals, i));
        row->n = i + 1;
        if (!row->vals[i]) {
            sh_rec_row_free(row);
            return NULL;
        }
    }
    return row;
}

static void on_message(void *arg, const char *payload, size_t len)
{
    struct sh__rt_remote *rm = arg;
    struct sh__rt *rt = rm->api->realtime;
    cJSON *msg = cJSON_ParseWithLength(payload, len);
    const char *inst = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "i"));
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "k"));
    const char *coll = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "c"));
    if (!rt || !inst || !kind || strcmp(inst, rm->inst) == 0) {
        cJSON_Delete(msg); /* our own (delivered locally already), or malformed */
        return;
    }
    if (strcmp(kind, "w") == 0) {
        remember(rm, cJSON_GetObjectItemCaseSensitive(msg, "cs"));
        cJSON_Delete(msg);
        return;
    }
    if (!coll) {
        cJSON_Delete(msg);
        return;
    }
    if (strcmp(kind, "d") == 0) {
        const char *rid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "r"));
        if (rid)
            sh__rt_downgrade(rt, coll, rid);
        cJSON_Delete(msg);
        return;
    }
    const char *op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "o"));
    struct sh_catalog *cat = rm->api->catalog;
    (void)sh_catalog_refresh(cat); /* the writer may have changed the schema a moment ago */
    const struct sh_collection *c = sh_catalog_find(cat, coll);
    struct sh_rec_write w = {0};
    for (size_t i = 0; op && i < SH_ARRAY_LEN(op_names); i++)
        if (op_names[i] && strcmp(op, op_names[i]) == 0)
            w.op = (enum sh_rec_op)i;
    if (c && op && sh__rt_wants(rt, c)) {
        sh_db_read_begin(rm->api->db);
        w.c = c;
        w.snap = cat->snap;
        w.row = row_of(rm->api->db, cJSON_GetObjectItemCaseSensitive(msg, "row"));
        if (w.row)
            sh__rt_event_push(rt, &w); /* takes the row */
        sh_rec_row_free(w.row);
    }
    cJSON_Delete(msg);
}

static void on_subscribed(void *arg)
{
    struct sh__rt_remote *rm = arg;
    if (rm->subscriptions++)
        sh_log_warn("realtime",
                    "subscribed to %s again: events other instances committed while "
                    "Redis was away were not received",
                    CHANNEL);
}

void sh_api_realtime_use_redis(struct sh_api_records *a, struct sh_redis *pub,
                               const struct sh_redis_options *o)
{
    struct sh__rt *rt = a->realtime;
    if (!rt || !pub || rt->remote)
        return;
    struct sh__rt_remote *rm = sh_calloc(1, sizeof *rm);
    rm->api = a;
    rm->pub = pub;
    unsigned char id[16];
    randombytes_buf(id, sizeof id);
    sodium_bin2hex(rm->inst, sizeof rm->inst, id, sizeof id);
    struct sh_redis_options so = *o;
    so.channel = CHANNEL;
    so.on_message = on_message;
    so.on_subscribed = on_subscribed;
    so.arg = rm;
    if (sh_redis_open(&rm->sub, a->loop, &so)) {
        free(rm);
        return;
    }
    uv_timer_init(a->loop, &rm->timer);
    rm->timer.data = rm;
    uv_timer_start(&rm->timer, on_interest_timer, INTEREST_EVERY, INTEREST_EVERY);
    uv_unref((uv_handle_t *)&rm->timer);
    rt->remote = rm;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void sh__rt_remote_close(struct sh__rt *rt)
{
    if (!rt || !rt->remote)
        return;
    sh_redis_close(rt->remote->sub);
    uv_close((uv_handle_t *)&rt->remote->timer, on_timer_closed); /* frees it */
    rt->remote = NULL;
}

void sh_api_realtime_stop_redis(struct sh_api_records *a)
{
    sh__rt_remote_close(a->realtime);
}
