/*
 * Internals of realtime (API.md "Realtime"): the broker of SSE clients and
 * their subscriptions (broker.c: clients, identities, groups, the routes,
 * heartbeat and idle sweep), topics and their options (topic.c), and the
 * delivery of change events (deliver.c). Lives in the api library because
 * every check it makes is the records read path (rules, field visibility,
 * expand, fields) of api/records. Not a public interface. Loop thread only.
 *
 * The shape that makes fan-out cheap: subscribers that share the same
 * effective rule inputs (the same auth record, or guest, and the same topic
 * string with its options) form one group; an event costs one rule check
 * and one serialisation per matching group, then one write per member.
 * Groups are found through an index by the collection named in the topic.
 */
#ifndef STAGEHAND_API_REALTIME_INT_H
#define STAGEHAND_API_REALTIME_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "records_int.h"
#include "stagehand/auth.h"
#include "stagehand/lru.h"

#define SH__RT_ID_LEN 40

/* Who a client is, shared by every client signed in as the same record. */
struct sh__rt_ident {
    struct sh_lru_node node; /* in rt->idents by (collection id, record id) */
    unsigned refs;
    struct sh_auth auth; /* superuser, ids; record: a copy (as rules see it) */
    char *collection_id, *record_id, *collection_name; /* owned; auth points here */
    struct cJSON *record;                              /* owned; auth.record */
};

struct sh__rt_member;

/* Subscribers of one topic string with one identity. */
struct sh__rt_group {
    struct sh_lru_node node; /* in rt->groups by (ident, topic) */
    struct sh_list by_coll;  /* in the collection index entry's list */
    struct sh__rt_coll *coll_entry;
    unsigned refs;            /* the index's one, plus each queued event's */
    bool linked;              /* still in the index */
    struct sh__rt_ident *who; /* NULL = guest; a reference */
    char *topic;              /* as submitted, options included */
    size_t topic_len;
    char *coll;                    /* collection id or name, as in the topic */
    char *rec_id;                  /* NULL for "*" */
    struct sh_filter *filter;      /* options.query.filter; NULL = none */
    char *expand, *fields;         /* options.query; NULL = none */
    struct cJSON *query, *headers; /* @request.query / headers; may be NULL */
    struct sh__rt_member **members;
    unsigned n, cap;
    unsigned cursor; /* members [0, cursor) got the event in progress */
};

/* The groups whose topic names one collection string. */
struct sh__rt_coll {
    struct sh_lru_node node; /* in rt->colls by name */
    struct sh_list groups;
    char *name;
};

struct sh__rt_client;

/* One subscription of one client: its place in a group. */
struct sh__rt_member {
    struct sh__rt_client *client;
    struct sh__rt_group *group;
    unsigned pos; /* index in group->members */
};

struct sh__rt_client {
    struct sh_lru_node node; /* in rt->clients by id */
    struct sh_list all;      /* in rt->all (heartbeat and idle sweep) */
    struct sh__rt *rt;
    struct sh_req *req;       /* the stream */
    struct sh__rt_ident *who; /* NULL = guest; a reference */
    struct sh__rt_member **subs;
    unsigned nsubs;
    uint64_t last_msg;   /* loop ms of the last message (idle close) */
    uint64_t last_write; /* loop ms of the last bytes sent (heartbeat) */
    uint64_t last_event; /* loop ms of the last change events sent (coalescing) */
    /* Events of this delivery turn not yet written: one write per client
     * per turn however many events it got (empty, unallocated, between
     * turns). */
    struct sh_buf pend;
    size_t pend_base;                 /* the stream's unwritten bytes when pend began (they only
                                       * shrink meanwhile; the flush's send checks exactly) */
    struct sh__rt_client *dirty_next; /* in rt->dirty while pend holds bytes */
    bool dirty;
    bool closing;
    char id[SH__RT_ID_LEN + 1];
};

struct sh__rt_event;

#define SH__RT_SPARE_MAX   1024
#define SH__RT_SPARE_BYTES (4 * 1024 * 1024)

/* The realtime state of one server (struct sh_api_records.realtime). */
struct sh__rt {
    struct sh_api_records *api;
    const struct sh_config *cfg;
    uv_loop_t *loop;
    struct sh_lru clients, idents, groups, colls;
    struct sh_list all;
    unsigned nclients;
    uv_timer_t sweep;
    uv_idle_t pump;
    uv_timer_t coalesce; /* flushes what the window held back (deliver.c) */
    bool handles_open;
    struct sh_list events; /* queued, in commit order (deliver.c) */
    unsigned nevents;
    struct sh_buf payload;       /* the event being written to a group */
    struct sh__rt_client *dirty; /* clients with events gathered this turn */
    /* Emptied gather buffers kept for the next clients (broker.c): a busy
     * stream does not malloc, grow and free one per write; bounded by
     * SH__RT_SPARE_MAX buffers and SH__RT_SPARE_BYTES in all, and given
     * back to the allocator by the sweep once a sweep period went unused. */
    struct sh_buf spare[SH__RT_SPARE_MAX];
    unsigned nspare;
    size_t spare_bytes;
    bool spare_used;              /* taken from since the last sweep */
    uint64_t dropped;             /* clients disconnected for a full queue */
    struct sh__rt_remote *remote; /* the group's events through Redis (remote.c); NULL alone */
};

/* ---- broker.c ---- */
struct sh__rt *sh__rt_new(struct sh_api_records *api);
void sh__rt_free(struct sh__rt *rt);
/* Whether some topic names collection c (by id or name). */
bool sh__rt_wants(struct sh__rt *rt, const struct sh_collection *c);
/* Sends one message (bufs) to client cl: updates its clocks; a client
 * whose queue is full is dropped (logged). 0 or -1. */
int sh__rt_client_send(struct sh__rt_client *cl, const uv_buf_t *bufs, unsigned n, bool message);
/* Gathers one event message (the id line, then payload) for cl, written
 * with the turn's others by sh__rt_flush; a client whose unwritten bytes
 * would pass --realtime-queue is dropped instead (logged). */
void sh__rt_client_gather(struct sh__rt_client *cl, const char *payload, size_t len);
/* Writes what every client gathered, one write each. */
void sh__rt_flush(struct sh__rt *rt);
/* Whether cl may get events now: --realtime-coalesce is off, or cl's last
 * events left at least that long ago (otherwise they wait for the window). */
bool sh__rt_client_due(const struct sh__rt_client *cl);
/* The group entry of collection string name, or NULL. */
struct sh__rt_coll *sh__rt_coll_find(struct sh__rt *rt, const char *name);
void sh__rt_group_unref(struct sh__rt *rt, struct sh__rt_group *g);
/* Every client signed in as (collection_id, record_id) becomes a guest. */
void sh__rt_downgrade(struct sh__rt *rt, const char *collection_id, const char *record_id);

/* ---- topic.c ---- */
/* Fills g's parsed parts from g->topic. 0, or -1 with a message in err. */
int sh__rt_topic_parse(struct sh__rt_group *g, char *err, size_t errlen);
void sh__rt_topic_deinit(struct sh__rt_group *g);

/* ---- deliver.c ---- */
/* A committed write of w (its row taken): queued, delivered in order. */
void sh__rt_event_push(struct sh__rt *rt, struct sh_rec_write *w);

/* ---- remote.c: events of a group of instances, through Redis ---- */
struct sh__rt_remote;
/* Publishes w's event (its captured row) to the other instances. */
void sh__rt_remote_event(struct sh__rt *rt, const struct sh_rec_write *w);
/* Publishes a downgrade (the record's streams become guests) to the others. */
void sh__rt_remote_downgrade(struct sh__rt *rt, const char *collection_id, const char *record_id);
/* Whether another instance of the group has subscribers of c (it said so
 * within the last few seconds): then a write to c captures and publishes. */
bool sh__rt_remote_wants(const struct sh__rt *rt, const struct sh_collection *c);
/* Tells the group now which collections this instance has subscribers of
 * (also every second while it has some). */
void sh__rt_remote_interest(struct sh__rt *rt);
/* Closes the subscriber connection (before the loop's handles close). */
void sh__rt_remote_close(struct sh__rt *rt);
/* Delivers queued events for up to a turn's budget; the idle handle runs
 * it again while events remain. */
void sh__rt_pump(struct sh__rt *rt);
/* Writes what the clients due (sh__rt_client_due) gathered; the others'
 * wait for the coalescing timer, at most --realtime-coalesce from now. */
void sh__rt_flush_due(struct sh__rt *rt);
/* Drops every queued event (shutdown). */
void sh__rt_events_clear(struct sh__rt *rt);

#endif
