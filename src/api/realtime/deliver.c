/*
 * Change events, from a committed write to the streams. The write's job
 * copied the row as committed (for a delete, as it was just before) on the
 * writer; after the commit, on the loop and in commit order, the event is
 * queued with the groups whose topic names the collection (and "*" or the
 * record's id). Delivery walks the queue in order: per group, one check of
 * the rule (listRule for "*", viewRule for an id) ANDed with the topic's
 * filter against that row, with the group's identity, through the records
 * read path (db/records' sh_rec_match, so hidden fields and email
 * visibility are those of a GET by that subscriber), then expand, the
 * owner's own email, fields, and one serialisation; then the message is
 * gathered per member, and each member's gathered events of the turn leave
 * in one write (a commit's wave of events costs one write per client, not
 * one per event; the last event of the queue is written directly to a
 * member with nothing gathered, without a copy). A client written less than
 * --realtime-coalesce ago keeps what it gathered until the window's timer
 * (broker.c, sh__rt_flush_due): a lone event leaves at once, a stream of
 * them costs one write per client per window, not one per loop turn.
 * Work is bounded per loop turn (TURN_BUDGET_NS): a
 * large fan-out goes on in the next turns (an idle handle) instead of stalling the loop, and events
 * behind it wait, so order is kept.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "auth_int.h"
#include "realtime_int.h"

#define TURN_BUDGET_NS (5u * 1000 * 1000)
#define CHECK_EVERY    64 /* writes between clock reads */

struct sh__rt_event {
    struct sh_list link;
    struct sh_catalog_snap *snap; /* a reference */
    char *coll_id;
    enum sh_rec_op op;
    struct sh_rec_row *row;
    struct sh__rt_group **targets; /* a reference each */
    unsigned n, next;
    bool started; /* targets[next] is being written; its payload in rt->payload */
    bool send;    /* ... and it passed its check */
};

static void on_pump(uv_idle_t *h)
{
    sh__rt_pump(h->data);
}

static const char *action_name(enum sh_rec_op op)
{
    return op == SH_REC_CREATE ? "create" : op == SH_REC_UPDATE ? "update" : "delete";
}

static const char *row_id(const struct sh_rec_row *row)
{
    for (int i = 0; i < row->n; i++)
        if (strcmp(row->names[i], "id") == 0)
            return (const char *)sqlite3_value_text(row->vals[i]);
    return NULL;
}

static void event_free(struct sh__rt *rt, struct sh__rt_event *ev)
{
    for (unsigned i = 0; i < ev->n; i++)
        sh__rt_group_unref(rt, ev->targets[i]);
    free(ev->targets);
    sh_rec_row_free(ev->row);
    sh_catalog_snap_free(ev->snap);
    free(ev->coll_id);
    free(ev);
}

static void add_targets(struct sh__rt_event *ev, struct sh__rt_coll *ce, const char *id,
                        unsigned *cap)
{
    if (!ce)
        return;
    for (struct sh_list *p = ce->groups.next; p != &ce->groups; p = p->next) {
        struct sh__rt_group *g = sh_list_entry(p, struct sh__rt_group, by_coll);
        if (g->rec_id && strcmp(g->rec_id, id) != 0)
            continue;
        if (ev->n == *cap) {
            *cap = *cap ? *cap * 2 : 8;
            ev->targets = sh_realloc(ev->targets, *cap * sizeof(*ev->targets));
        }
        g->refs++;
        ev->targets[ev->n++] = g;
    }
}

static bool sets_password(const struct sh_rec_write *w)
{
    for (size_t i = 0; i < w->nhashes; i++)
        if (strcmp(w->hashes[i].field, "password") == 0)
            return true;
    return false;
}

void sh_api_records_token_key_changed(struct sh_api_records *api, const char *collection_id,
                                      const char *record_id)
{
    if (api->realtime) {
        sh__rt_downgrade(api->realtime, collection_id, record_id);
        sh__rt_remote_downgrade(api->realtime, collection_id, record_id);
    }
}

bool sh_api_records_listened(struct sh_api_records *api, const struct sh_collection *c)
{
    /* in a group another instance's subscribers may want it */
    return sh__rt_wants(api->realtime, c) || sh__rt_remote_wants(api->realtime, c);
}

void sh_api_records_committed(struct sh_api_records *api, struct sh_rec_write *w)
{
    struct sh__rt *rt = api->realtime;
    if (!rt)
        return;
    /* A new password or a deleted account ends its tokens: its streams are
     * guests from this event on. */
    const char *rid = w->row ? row_id(w->row) : w->id;
    if (w->c->type == SH_COLLECTION_AUTH && rid &&
        (w->op == SH_REC_DELETE || (w->op == SH_REC_UPDATE && sets_password(w)))) {
        sh__rt_downgrade(rt, w->c->id, rid);
        sh__rt_remote_downgrade(rt, w->c->id, rid);
    }
    if (!w->row || !rid)
        return;
    sh__rt_remote_event(rt, w); /* before the push takes the row */
    sh__rt_event_push(rt, w);
}

void sh__rt_event_push(struct sh__rt *rt, struct sh_rec_write *w)
{
    struct sh__rt_event *ev = sh_calloc(1, sizeof(*ev));
    const char *id = row_id(w->row);
    unsigned cap = 0;
    add_targets(ev, sh__rt_coll_find(rt, w->c->id), id, &cap);
    if (strcmp(w->c->name, w->c->id) != 0)
        add_targets(ev, sh__rt_coll_find(rt, w->c->name), id, &cap);
    if (!ev->n) {
        free(ev);
        return;
    }
    ev->row = w->row;
    w->row = NULL;
    ev->snap = sh_catalog_snap_ref(w->snap);
    ev->coll_id = sh_strdup(w->c->id);
    ev->op = w->op;
    sh_list_insert_tail(&rt->events, &ev->link);
    rt->nevents++;
    /* Delivered from the idle handle, after the rest of this completion
     * wave: the events of one group commit reach each client in one write. */
    if (!uv_is_active((uv_handle_t *)&rt->pump) && !uv_is_closing((uv_handle_t *)&rt->pump))
        uv_idle_start(&rt->pump, on_pump);
}

/* Checks ev against group g and writes the message into rt->payload.
 * true when g's members get it. */
static bool build(struct sh__rt *rt, struct sh__rt_event *ev, struct sh__rt_group *g)
{
    struct sh_api_records *api = rt->api;
    const struct sh_collection *c = sh_catalog_snap_find(ev->snap, ev->coll_id);
    if (!c)
        return false;
    enum sh_rule_kind k = g->rec_id ? SH_RULE_VIEW : SH_RULE_LIST;
    bool su = g->who && g->who->auth.superuser;
    if (!su && !c->rules[k])
        return false; /* superusers only */
    const struct sh_filter *rule = NULL;
    if (!su && c->rule_filters[k] && !sh_filter_is_empty(c->rule_filters[k]))
        rule = c->rule_filters[k];
    void *ref;
    struct sh_schema_views *views = sh__rec_views_get_ref(api, ev->snap, &ref);
    struct sh_filter_ctx ctx = {0};
    if (g->who) {
        ctx.auth = g->who->auth.record;
        const struct sh_collection *ac = sh_catalog_snap_find(ev->snap, g->who->collection_id);
        if (ac) {
            ctx.auth_schema = sh_schema_views_get(views, ac, SH_SCHEMA_VIEW_HIDDEN);
            ctx.auth_client_schema = sh_schema_views_get(views, ac, SH_SCHEMA_VIEW_CLIENT);
        }
    }
    ctx.query = g->query;
    ctx.headers = g->headers;
    ctx.method = "GET";
    ctx.context = "realtime";
    ctx.now_ms = sh__now_ms();
    struct sh_rec_access acc = {
        .resolver = &ev->snap->resolver,
        .ctx = &ctx,
        .flags = su ? SH_REC_SUPERUSER : 0,
        .limits = &api->limits,
        .views = views,
    };
    cJSON *rec = NULL;
    struct sh_filter_error err = {0};
    int rc = sh_db_read_begin(api->db);
    if (rc == 0)
        rc = sh_rec_match(api->db, &acc, c, rule, g->filter, ev->row, &rec, &err);
    if (rc == 0 && g->expand)
        rc = sh_rec_expand(api->db, &acc, c, rec, g->expand);
    if (rc == 0) {
        struct sh_req as = {0}; /* the subscriber, as the records helpers see a request */
        as.auth = g->who ? &g->who->auth : NULL;
        sh__auth_own_email(&as, rec);
        if (g->fields)
            sh__fields_pick(rec, g->fields);
    } else if (rc != SH_ENOTFOUND) {
        sh_log_warn("realtime", "event for %s not checked for topic %s: %s", c->name, g->topic,
                    err.message[0] ? err.message : sh_strerror(rc));
    }
    sh__rec_views_put(ref);
    if (rc) {
        cJSON_Delete(rec);
        return false;
    }
    char *text = cJSON_PrintUnformatted(rec);
    cJSON_Delete(rec);
    struct sh_buf *b = &rt->payload;
    b->len = 0;
    sh_buf_appends(b, "\nevent:");
    sh_buf_append(b, g->topic, g->topic_len);
    sh_buf_appends(b, "\ndata:{\"action\":\"");
    sh_buf_appends(b, action_name(ev->op));
    sh_buf_appends(b, "\",\"record\":");
    sh_buf_appends(b, text ? text : "{}");
    sh_buf_appends(b, "}\n\n");
    free(text);
    return true;
}

/* Writes the payload to g's members from its cursor on; false when the
 * turn's budget ran out first. */
static bool write_members(struct sh__rt *rt, struct sh__rt_group *g, uint64_t start, bool last)
{
    unsigned count = 0;
    while (g->cursor < g->n) {
        struct sh__rt_client *cl = g->members[g->cursor]->client;
        g->cursor++;
        if (last && !cl->dirty && sh__rt_client_due(cl)) {
            /* nothing gathered for it and no event behind this one: write
             * now, without a copy (one large fan-out) */
            char head[3 + SH__RT_ID_LEN];
            memcpy(head, "id:", 3);
            memcpy(head + 3, cl->id, SH__RT_ID_LEN);
            uv_buf_t bufs[2] = {uv_buf_init(head, sizeof(head)),
                                uv_buf_init(rt->payload.data, (unsigned)rt->payload.len)};
            sh__rt_client_send(cl, bufs, 2, true);
            cl->last_event = cl->last_write;
        } else {
            sh__rt_client_gather(cl, rt->payload.data, rt->payload.len);
        }
        if (++count % CHECK_EVERY == 0 && uv_hrtime() - start > TURN_BUDGET_NS)
            return g->cursor >= g->n;
    }
    return true;
}

void sh__rt_pump(struct sh__rt *rt)
{
    uint64_t start = uv_hrtime();
    while (!sh_list_empty(&rt->events)) {
        struct sh__rt_event *ev = sh_list_entry(rt->events.next, struct sh__rt_event, link);
        while (ev->next < ev->n) {
            struct sh__rt_group *g = ev->targets[ev->next];
            if (!ev->started) {
                if (uv_hrtime() - start > TURN_BUDGET_NS)
                    goto later;
                ev->started = true;
                g->cursor = 0;
                ev->send = g->linked && g->n && build(rt, ev, g);
            }
            bool last = ev->link.next == &rt->events;
            if (ev->send && !write_members(rt, g, start, last))
                goto later;
            g->cursor = 0;
            ev->started = false;
            ev->next++;
        }
        sh_list_remove(&ev->link);
        rt->nevents--;
        event_free(rt, ev);
    }
    sh__rt_flush_due(rt);
    if (uv_is_active((uv_handle_t *)&rt->pump))
        uv_idle_stop(&rt->pump);
    return;
later:
    sh__rt_flush_due(rt);
    if (!uv_is_active((uv_handle_t *)&rt->pump) && !uv_is_closing((uv_handle_t *)&rt->pump))
        uv_idle_start(&rt->pump, on_pump);
}

void sh__rt_events_clear(struct sh__rt *rt)
{
    while (!sh_list_empty(&rt->events)) {
        struct sh__rt_event *ev = sh_list_entry(rt->events.next, struct sh__rt_event, link);
        sh_list_remove(&ev->link);
        if (ev->started && ev->next < ev->n)
            ev->targets[ev->next]->cursor = 0;
        event_free(rt, ev);
    }
    rt->nevents = 0;
}
