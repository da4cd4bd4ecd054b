/*
 * The realtime broker: GET /api/realtime opens an event stream (http's
 * sse.c) and registers a client under a random 40-character id, announced
 * by the PB_CONNECT message; POST /api/realtime replaces the client's whole
 * set of subscriptions, with the identity of that request's token (a guest
 * may become signed in; any other change of identity is 403, as in
 * PocketBase).
 *
 * Each subscription is a member of a group: the subscribers with the same
 * identity (auth record, or guest) and the same topic string, options
 * included, which therefore see exactly the same events and the same
 * record JSON (deliver.c checks the rule once per group). Groups are found
 * by the collection their topic names (rt->colls), identities are shared by
 * every client of one auth record (rt->idents). A client costs its struct,
 * one pointer per subscription and the connection it streams on.
 *
 * One timer sweeps every client: a stream without a message for
 * --realtime-idle closes (PocketBase's idle close; the SDK reconnects), a
 * stream without any byte for --realtime-heartbeat gets a comment line, so
 * that proxies (nginx's 60 s proxy_read_timeout) keep quiet streams open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "realtime_int.h"
#include "stagehand/config.h"

#define MAX_CLIENT_ID 255

/* ---- identities ---- */

struct ident_key {
    const char *collection_id, *record_id;
};

static uint64_t ident_hash(const char *cid, const char *rid)
{
    uint64_t h = sh_hash_bytes(cid, strlen(cid) + 1, SH_HASH_SEED);
    return sh_hash_bytes(rid, strlen(rid), h);
}

static bool ident_eq(const struct sh_lru_node *n, const void *key)
{
    const struct sh__rt_ident *i = (const struct sh__rt_ident *)n;
    const struct ident_key *k = key;
    return strcmp(i->collection_id, k->collection_id) == 0 &&
           strcmp(i->record_id, k->record_id) == 0;
}

/* The identity of au (a new reference), or NULL for a guest. */
static struct sh__rt_ident *ident_get(struct sh__rt *rt, const struct sh_auth *au)
{
    if (!au)
        return NULL;
    struct ident_key k = {au->collection_id, au->record_id};
    uint64_t h = ident_hash(k.collection_id, k.record_id);
    struct sh__rt_ident *i = (struct sh__rt_ident *)sh_lru_find(&rt->idents, h, ident_eq, &k);
    if (i) {
        i->refs++;
        return i;
    }
    i = sh_calloc(1, sizeof(*i));
    i->refs = 1;
    i->collection_id = sh_strdup(au->collection_id);
    i->record_id = sh_strdup(au->record_id);
    i->collection_name = sh_strdup(au->collection_name ? au->collection_name : "");
    i->auth.superuser = au->superuser;
    i->auth.collection_id = i->collection_id;
    i->auth.collection_name = i->collection_name;
    i->auth.record_id = i->record_id;
    i->record = au->record ? cJSON_Duplicate(au->record, 1) : NULL;
    i->auth.record = i->record;
    sh_lru_insert(&rt->idents, &i->node, h);
    return i;
}

static void ident_unref(struct sh__rt *rt, struct sh__rt_ident *i)
{
    if (!i || --i->refs)
        return;
    sh_lru_remove(&rt->idents, &i->node);
    cJSON_Delete(i->record);
    free(i->collection_id);
    free(i->record_id);
    free(i->collection_name);
    free(i);
}

/* ---- the collection index ---- */

static bool coll_eq(const struct sh_lru_node *n, const void *key)
{
    return strcmp(((const struct sh__rt_coll *)n)->name, key) == 0;
}

struct sh__rt_coll *sh__rt_coll_find(struct sh__rt *rt, const char *name)
{
    uint64_t h = sh_hash_bytes(name, strlen(name), SH_HASH_SEED);
    return (struct sh__rt_coll *)sh_lru_find(&rt->colls, h, coll_eq, name);
}

bool sh__rt_wants(struct sh__rt *rt, const struct sh_collection *c)
{
    return rt && (sh__rt_coll_find(rt, c->id) || sh__rt_coll_find(rt, c->name));
}

/* ---- groups ---- */

struct group_key {
    const struct sh__rt_ident *who;
    const char *topic;
    size_t len;
};

static uint64_t group_hash(const struct group_key *k)
{
    uintptr_t w = (uintptr_t)k->who;
    return sh_hash_bytes(k->topic, k->len, sh_hash_bytes(&w, sizeof(w), SH_HASH_SEED));
}

static bool group_eq(const struct sh_lru_node *n, const void *key)
{
    const struct sh__rt_group *g = (const struct sh__rt_group *)n;
    const struct group_key *k = key;
    return g->who == k->who && g->topic_len == k->len && memcmp(g->topic, k->topic, k->len) == 0;
}

void sh__rt_group_unref(struct sh__rt *rt, struct sh__rt_group *g)
{
    if (--g->refs)
        return;
    ident_unref(rt, g->who);
    sh__rt_topic_deinit(g);
    free(g->members);
    free(g->topic);
    free(g);
}

/* Takes g out of the index (its last member left). */
static void group_unlink(struct sh__rt *rt, struct sh__rt_group *g)
{
    if (!g->linked)
        return;
    g->linked = false;
    sh_lru_remove(&rt->groups, &g->node);
    sh_list_remove(&g->by_coll);
    struct sh__rt_coll *ce = g->coll_entry;
    if (ce && sh_list_empty(&ce->groups)) {
        sh_lru_remove(&rt->colls, &ce->node);
        free(ce->name);
        free(ce);
    }
    g->coll_entry = NULL;
    sh__rt_group_unref(rt, g);
}

/* The group of (who, topic), made and indexed if new; NULL with err for
 * topic options that do not parse. */
static struct sh__rt_group *group_get(struct sh__rt *rt, struct sh__rt_ident *who,
                                      const char *topic, size_t len, char *err, size_t errlen)
{
    struct group_key k = {who, topic, len};
    uint64_t h = group_hash(&k);
    struct sh__rt_group *g = (struct sh__rt_group *)sh_lru_find(&rt->groups, h, group_eq, &k);
    if (g)
        return g;
    g = sh_calloc(1, sizeof(*g));
    g->topic = sh_malloc(len + 1);
    memcpy(g->topic, topic, len);
    g->topic[len] = 0;
    g->topic_len = len;
    if (sh__rt_topic_parse(g, err, errlen)) {
        sh__rt_topic_deinit(g);
        free(g->topic);
        free(g);
        return NULL;
    }
    g->who = who;
    if (who)
        who->refs++;
    g->refs = 1;
    g->linked = true;
    sh_lru_insert(&rt->groups, &g->node, h);
    struct sh__rt_coll *ce = sh__rt_coll_find(rt, g->coll);
    if (!ce) {
        ce = sh_calloc(1, sizeof(*ce));
        ce->name = sh_strdup(g->coll);
        sh_list_init(&ce->groups);
        sh_lru_insert(&rt->colls, &ce->node,
                      sh_hash_bytes(ce->name, strlen(ce->name), SH_HASH_SEED));
    }
    g->coll_entry = ce;
    sh_list_insert_tail(&ce->groups, &g->by_coll);
    return g;
}

static void member_set(struct sh__rt_group *g, unsigned pos, struct sh__rt_member *m)
{
    g->members[pos] = m;
    m->pos = pos;
}

/* Takes m out of its group, keeping the members an event in progress has
 * reached in front of the cursor, and frees it. */
static void member_remove(struct sh__rt *rt, struct sh__rt_member *m)
{
    struct sh__rt_group *g = m->group;
    unsigned pos = m->pos, last = g->n - 1;
    if (pos < g->cursor) {
        member_set(g, pos, g->members[g->cursor - 1]);
        if (g->cursor - 1 != last)
            member_set(g, g->cursor - 1, g->members[last]);
        g->cursor--;
    } else if (pos != last) {
        member_set(g, pos, g->members[last]);
    }
    g->n--;
    free(m);
    if (g->n == 0)
        group_unlink(rt, g);
}

static void member_add(struct sh__rt_client *cl, struct sh__rt_group *g)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 4;
        g->members = sh_realloc(g->members, g->cap * sizeof(*g->members));
    }
    struct sh__rt_member *m = sh_calloc(1, sizeof(*m));
    m->client = cl;
    m->group = g;
    member_set(g, g->n++, m);
    cl->subs[cl->nsubs++] = m;
}

static void client_clear(struct sh__rt_client *cl)
{
    for (unsigned i = 0; i < cl->nsubs; i++)
        member_remove(cl->rt, cl->subs[i]);
    free(cl->subs);
    cl->subs = NULL;
    cl->nsubs = 0;
}

/* Replaces cl's subscriptions with topics[0..n) under cl->who. 0, or -1
 * with err (cl then has none). */
static int client_subscribe(struct sh__rt_client *cl, const cJSON *const *topics, unsigned n,
                            char *err, size_t errlen)
{
    client_clear(cl);
    if (!n)
        return 0;
    cl->subs = sh_calloc(n, sizeof(*cl->subs));
    for (unsigned i = 0; i < n; i++) {
        const char *t = topics[i]->valuestring;
        size_t len = strlen(t);
        bool dup = false; /* the same topic twice is one subscription */
        for (unsigned k = 0; k < cl->nsubs && !dup; k++)
            dup = cl->subs[k]->group->topic_len == len &&
                  memcmp(cl->subs[k]->group->topic, t, len) == 0;
        if (dup)
            continue;
        struct sh__rt_group *g = group_get(cl->rt, cl->who, t, len, err, errlen);
        if (!g) {
            client_clear(cl);
            return -1;
        }
        member_add(cl, g);
    }
    return 0;
}

/* ---- clients ---- */

static bool client_eq(const struct sh_lru_node *n, const void *key)
{
    return strcmp(((const struct sh__rt_client *)n)->id, key) == 0;
}

static struct sh__rt_client *client_find(struct sh__rt *rt, const char *id)
{
    uint64_t h = sh_hash_bytes(id, strlen(id), SH_HASH_SEED);
    return (struct sh__rt_client *)sh_lru_find(&rt->clients, h, client_eq, id);
}

/* cl->pend, empty, from the spare buffers when one is kept. */
static void pend_take(struct sh__rt *rt, struct sh__rt_client *cl)
{
    if (cl->pend.cap || !rt->nspare)
        return;
    cl->pend = rt->spare[--rt->nspare];
    rt->spare_bytes -= cl->pend.cap;
    rt->spare_used = true;
}

/* Empties cl->pend: its memory is kept as a spare while the bounds allow,
 * freed otherwise. */
static void pend_give(struct sh__rt *rt, struct sh__rt_client *cl)
{
    struct sh_buf b = cl->pend;
    sh_buf_init(&cl->pend);
    if (b.cap && rt->nspare < SH__RT_SPARE_MAX && rt->spare_bytes + b.cap <= SH__RT_SPARE_BYTES) {
        b.len = 0;
        rt->spare[rt->nspare++] = b;
        rt->spare_bytes += b.cap;
        return;
    }
    sh_buf_deinit(&b);
}

/* Frees the spare buffers (unused for a sweep period, or at the end). */
static void spare_free(struct sh__rt *rt)
{
    while (rt->nspare)
        sh_buf_deinit(&rt->spare[--rt->nspare]);
    rt->spare_bytes = 0;
}

static void undirty(struct sh__rt_client *cl)
{
    if (cl->dirty) {
        for (struct sh__rt_client **pp = &cl->rt->dirty; *pp; pp = &(*pp)->dirty_next)
            if (*pp == cl) {
                *pp = cl->dirty_next;
                break;
            }
        cl->dirty = false;
    }
    pend_give(cl->rt, cl);
}

static void on_stream_closed(void *arg)
{
    struct sh__rt_client *cl = arg;
    struct sh__rt *rt = cl->rt;
    undirty(cl);
    client_clear(cl);
    sh_lru_remove(&rt->clients, &cl->node);
    sh_list_remove(&cl->all);
    ident_unref(rt, cl->who);
    rt->nclients--;
    free(cl);
}

static void drop_behind(struct sh__rt_client *cl)
{
    struct sh__rt *rt = cl->rt;
    cl->closing = true;
    rt->dropped++;
    sh_log_warn("realtime",
                "client %s fell behind (over --realtime-queue %llu bytes): disconnected", cl->id,
                (unsigned long long)rt->cfg->realtime_queue);
}

int sh__rt_client_send(struct sh__rt_client *cl, const uv_buf_t *bufs, unsigned n, bool message)
{
    if (cl->closing)
        return -1;
    struct sh__rt *rt = cl->rt;
    if (sh_sse_send(cl->req, bufs, n, (size_t)rt->cfg->realtime_queue)) {
        drop_behind(cl);
        return -1;
    }
    uint64_t now = uv_now(rt->loop);
    cl->last_write = now;
    if (message)
        cl->last_msg = now;
    return 0;
}

void sh__rt_client_gather(struct sh__rt_client *cl, const char *payload, size_t len)
{
    struct sh__rt *rt = cl->rt;
    if (cl->closing)
        return;
    size_t add = 3 + SH__RT_ID_LEN + len;
    if (!cl->dirty) /* the stream's state once per write, not once per event */
        cl->pend_base = sh_sse_queued(cl->req);
    if (cl->pend_base + cl->pend.len + add > rt->cfg->realtime_queue) {
        undirty(cl);
        drop_behind(cl);
        sh_sse_close_now(cl->req);
        return;
    }
    if (!cl->dirty)
        pend_take(rt, cl);
    sh_buf_append(&cl->pend, "id:", 3);
    sh_buf_append(&cl->pend, cl->id, SH__RT_ID_LEN);
    sh_buf_append(&cl->pend, payload, len);
    if (!cl->dirty) {
        cl->dirty = true;
        cl->dirty_next = rt->dirty;
        rt->dirty = cl;
    }
}

void sh__rt_flush(struct sh__rt *rt)
{
    while (rt->dirty) {
        struct sh__rt_client *cl = rt->dirty;
        rt->dirty = cl->dirty_next;
        cl->dirty = false;
        uv_buf_t b = uv_buf_init(cl->pend.data, (unsigned)cl->pend.len);
        sh__rt_client_send(cl, &b, 1, true);
        cl->last_event = cl->last_write;
        pend_give(rt, cl); /* an idle stream holds no buffer */
    }
}

bool sh__rt_client_due(const struct sh__rt_client *cl)
{
    uint64_t w = cl->rt->cfg->realtime_coalesce;
    return w == 0 || uv_now(cl->rt->loop) - cl->last_event >= w;
}

static void on_coalesce(uv_timer_t *t)
{
    sh__rt_flush(t->data);
}

void sh__rt_flush_due(struct sh__rt *rt)
{
    struct sh__rt_client *held = NULL;
    while (rt->dirty) {
        struct sh__rt_client *cl = rt->dirty;
        rt->dirty = cl->dirty_next;
        if (!sh__rt_client_due(cl)) {
            cl->dirty_next = held;
            held = cl;
            continue;
        }
        cl->dirty = false;
        uv_buf_t b = uv_buf_init(cl->pend.data, (unsigned)cl->pend.len);
        sh__rt_client_send(cl, &b, 1, true);
        cl->last_event = cl->last_write;
        pend_give(rt, cl);
    }
    rt->dirty = held;
    /* The held ones were written less than a window ago: they are due when
     * the timer fires (one write for all their events of the window). */
    if (held && !uv_is_active((uv_handle_t *)&rt->coalesce) &&
        !uv_is_closing((uv_handle_t *)&rt->coalesce))
        uv_timer_start(&rt->coalesce, on_coalesce, rt->cfg->realtime_coalesce, 0);
}

static void new_id(char out[SH__RT_ID_LEN + 1])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char raw[SH__RT_ID_LEN];
    randombytes_buf(raw, sizeof(raw));
    for (size_t i = 0; i < SH__RT_ID_LEN; i++)
        out[i] = alphabet[raw[i] % 36];
    out[SH__RT_ID_LEN] = 0;
}

int sh_api_realtime_connect(struct sh_req *r, void *ud)
{
    struct sh__rt *rt = ((struct sh_api_records *)ud)->realtime;
    if (r->method == SH_METHOD_HEAD) { /* the head of a stream, without one */
        sh_res_header(r, "Cache-Control", "no-store");
        sh_res_send(r, 200, "text/event-stream", NULL, 0);
        return SH_HANDLED;
    }
    if (rt->nclients >= rt->cfg->realtime_max_clients) {
        sh_res_header(r, "Retry-After", "5");
        sh__api_error(r, 503, "Too many realtime clients; try again later.", NULL);
        return SH_HANDLED;
    }
    struct sh__rt_client *cl = sh_calloc(1, sizeof(*cl));
    cl->rt = rt;
    cl->req = r;
    do
        new_id(cl->id);
    while (client_find(rt, cl->id));
    sh_lru_insert(&rt->clients, &cl->node, sh_hash_bytes(cl->id, SH__RT_ID_LEN, SH_HASH_SEED));
    sh_list_insert_tail(&rt->all, &cl->all);
    rt->nclients++;
    sh_sse_start(r, on_stream_closed, cl);
    char msg[160];
    int len = snprintf(msg, sizeof(msg), "id:%s\nevent:PB_CONNECT\ndata:{\"clientId\":\"%s\"}\n\n",
                       cl->id, cl->id);
    uv_buf_t b = uv_buf_init(msg, (unsigned)len);
    sh__rt_client_send(cl, &b, 1, true);
    return SH_HANDLED;
}

static void field_400(struct sh_req *r, const char *field, const char *code, const char *msg)
{
    sh__api_field_error(r, "Something went wrong while processing your request.", field, code, msg);
}

int sh_api_realtime_subscribe(struct sh_req *r, void *ud)
{
    struct sh__rt *rt = ((struct sh_api_records *)ud)->realtime;
    const struct sh_config *cfg = rt->cfg;
    cJSON *body = sh__api_body_or_reply(r);
    if (!body)
        return SH_HANDLED;
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(body, "clientId");
    const cJSON *subs = cJSON_GetObjectItemCaseSensitive(body, "subscriptions");
    if (!cJSON_IsString(cid) || !cid->valuestring[0]) {
        field_400(r, "clientId", "validation_required", "Missing required value.");
        return SH_HANDLED;
    }
    if (strlen(cid->valuestring) > MAX_CLIENT_ID) {
        field_400(r, "clientId", "validation_length_out_of_range",
                  "The length must be between 1 and 255.");
        return SH_HANDLED;
    }
    unsigned n = 0;
    if (subs && !cJSON_IsNull(subs)) {
        if (!cJSON_IsArray(subs)) {
            field_400(r, "subscriptions", "validation_invalid_value", "Must be a list of strings.");
            return SH_HANDLED;
        }
        n = (unsigned)cJSON_GetArraySize(subs);
    }
    if (n > cfg->realtime_max_subscriptions) {
        char msg[120];
        snprintf(msg, sizeof(msg), "The maximum allowed number of subscriptions is %u.",
                 cfg->realtime_max_subscriptions);
        field_400(r, "subscriptions", "validation_length_too_long", msg);
        return SH_HANDLED;
    }
    const cJSON **topics = n ? sh_calloc(n, sizeof(*topics)) : NULL;
    unsigned i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, subs) {
        char msg[120];
        if (!cJSON_IsString(it) || !it->valuestring[0]) {
            snprintf(msg, sizeof(msg), "Subscription %u must be a non-empty string.", i);
            field_400(r, "subscriptions", "validation_invalid_value", msg);
            free(topics);
            return SH_HANDLED;
        }
        if (strlen(it->valuestring) > cfg->realtime_max_topic) {
            snprintf(msg, sizeof(msg), "Subscription %u is longer than %u characters.", i,
                     cfg->realtime_max_topic);
            field_400(r, "subscriptions", "validation_length_too_long", msg);
            free(topics);
            return SH_HANDLED;
        }
        topics[i++] = it;
    }
    struct sh__rt_client *cl = client_find(rt, cid->valuestring);
    if (!cl || cl->closing) {
        free(topics);
        sh__api_error(r, 404, "Missing or invalid client id.", NULL);
        return SH_HANDLED;
    }
    const struct sh_auth *au = r->auth;
    if (cl->who && (!au || strcmp(au->collection_id, cl->who->collection_id) != 0 ||
                    strcmp(au->record_id, cl->who->record_id) != 0)) {
        free(topics);
        sh__api_error(r, 403, "The current and the previous request authorization don't match.",
                      NULL);
        return SH_HANDLED;
    }
    if (!cl->who && au) { /* a guest signs in: every subscription follows */
        client_clear(cl);
        cl->who = ident_get(rt, au);
    }
    char err[256];
    int rc = client_subscribe(cl, (const cJSON *const *)topics, i, err, sizeof(err));
    free(topics);
    if (rc) {
        field_400(r, "subscriptions", "validation_invalid_value", err);
        return SH_HANDLED;
    }
    cl->last_msg = uv_now(rt->loop);
    sh__rt_remote_interest(rt); /* the group's writers learn what this instance listens to */
    sh_res_send(r, 204, NULL, NULL, 0);
    return SH_HANDLED;
}

void sh__rt_downgrade(struct sh__rt *rt, const char *collection_id, const char *record_id)
{
    for (struct sh_list *p = rt->all.next; p != &rt->all; p = p->next) {
        struct sh__rt_client *cl = sh_list_entry(p, struct sh__rt_client, all);
        if (!cl->who || strcmp(cl->who->collection_id, collection_id) != 0 ||
            strcmp(cl->who->record_id, record_id) != 0)
            continue;
        unsigned n = cl->nsubs;
        char **keep = sh_calloc(n ? n : 1, sizeof(*keep));
        for (unsigned i = 0; i < n; i++)
            keep[i] = sh_strdup(cl->subs[i]->group->topic);
        client_clear(cl);
        ident_unref(rt, cl->who);
        cl->who = NULL;
        if (n)
            cl->subs = sh_calloc(n, sizeof(*cl->subs));
        for (unsigned i = 0; i < n; i++) {
            char err[8];
            struct sh__rt_group *g =
                group_get(rt, NULL, keep[i], strlen(keep[i]), err, sizeof(err));
            if (g)
                member_add(cl, g);
            free(keep[i]);
        }
        free(keep);
    }
}

/* ---- heartbeat and idle close ---- */

static void on_sweep(uv_timer_t *t)
{
    struct sh__rt *rt = t->data;
    uint64_t now = uv_now(rt->loop);
    static char beat[] = ":heartbeat\n\n";
    if (!rt->spare_used)
        spare_free(rt);
    rt->spare_used = false;
    for (struct sh_list *p = rt->all.next, *next; p != &rt->all; p = next) {
        next = p->next;
        struct sh__rt_client *cl = sh_list_entry(p, struct sh__rt_client, all);
        if (cl->closing)
            continue;
        if (now - cl->last_msg >= rt->cfg->realtime_idle) {
            cl->closing = true;
            sh_sse_close(cl->req);
        } else if (now - cl->last_write >= rt->cfg->realtime_heartbeat) {
            uv_buf_t b = uv_buf_init(beat, sizeof(beat) - 1);
            sh__rt_client_send(cl, &b, 1, false);
        }
    }
}

struct sh__rt *sh__rt_new(struct sh_api_records *api)
{
    struct sh__rt *rt = sh_calloc(1, sizeof(*rt));
    rt->api = api;
    rt->cfg = api->cfg;
    rt->loop = api->loop;
    sh_lru_init(&rt->clients, 16384);
    sh_lru_init(&rt->idents, 1024);
    sh_lru_init(&rt->groups, 4096);
    sh_lru_init(&rt->colls, 256);
    sh_list_init(&rt->all);
    sh_list_init(&rt->events);
    sh_buf_init(&rt->payload);
    uint64_t every = rt->cfg->realtime_heartbeat < rt->cfg->realtime_idle
                         ? rt->cfg->realtime_heartbeat
                         : rt->cfg->realtime_idle;
    every /= 4;
    every = every < 20 ? 20 : every > 1000 ? 1000 : every;
    uv_timer_init(rt->loop, &rt->sweep);
    rt->sweep.data = rt;
    uv_timer_start(&rt->sweep, on_sweep, every, every);
    uv_unref((uv_handle_t *)&rt->sweep);
    uv_idle_init(rt->loop, &rt->pump);
    rt->pump.data = rt;
    uv_timer_init(rt->loop, &rt->coalesce);
    rt->coalesce.data = rt;
    uv_unref((uv_handle_t *)&rt->coalesce);
    rt->handles_open = true;
    return rt;
}

void sh__rt_free(struct sh__rt *rt)
{
    if (!rt)
        return;
    sh__rt_events_clear(rt);
    /* Streams still registered (their connections were never closed): the
     * loop is gone, so their callbacks will not come. */
    while (!sh_list_empty(&rt->all)) {
        struct sh__rt_client *cl = sh_list_entry(rt->all.next, struct sh__rt_client, all);
        on_stream_closed(cl);
    }
    sh_lru_deinit(&rt->clients);
    sh_lru_deinit(&rt->idents);
    sh_lru_deinit(&rt->groups);
    sh_lru_deinit(&rt->colls);
    sh_buf_deinit(&rt->payload);
    spare_free(rt);
    free(rt);
}
