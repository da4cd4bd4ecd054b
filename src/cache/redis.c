/*
 * The Redis connection: connect and handshake, commands with deadlines, the
 * breaker, reconnects with backoff. See include/stagehand/cache.h for the
 * states and the contract.
 *
 * Every accepted command is a struct sh_redis_call handed to hiredis as its
 * privdata; hiredis calls back exactly once per command (with the reply, or
 * with NULL when the connection goes), and that callback frees the call. A
 * call also waits on r->pending, in issue order, until it is answered or its
 * deadline passes; since every command gets the same timeout, the head of
 * the list has the earliest deadline and one timer serves them all. A call
 * that passed its deadline has had its fn called with NULL and is only
 * waiting for hiredis to let go of it.
 *
 * Dropping a connection: r->ac is cleared first, so nothing new is issued on
 * it, then redisAsyncFree (deferred by hiredis when we are inside one of its
 * callbacks) completes every outstanding call as failed.
 */
#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_int.h"
#include "stagehand/cache.h"
#include "stagehand/core.h"
#include "stagehand/lru.h"

#define MOD              "redis"
#define BACKOFF_START_MS 100

struct sh_redis_call {
    struct sh_list link; /* r->pending while waiting for its answer or deadline */
    struct sh_redis *r;
    sh_redis_reply_fn fn; /* NULL once called or cancelled */
    void *arg;
    uint64_t deadline;
    bool waiting;
};

struct sh_redis {
    uv_loop_t *loop;
    struct sh_redis_options opt;
    struct sh_redis_addr addr;
    char where[SH_REDIS_HOST_MAX + 16]; /* for log lines */
    redisAsyncContext *ac;
    enum sh_redis_state state;
    uint64_t handshake_deadline;
    uv_timer_t deadline_timer;
    uv_timer_t retry_timer;
    uv_getaddrinfo_t gai;
    bool resolving;
    bool closing;
    int open_handles;
    uint64_t backoff_ms;
    unsigned failures_in_row;
    unsigned inflight; /* calls hiredis still holds */
    struct sh_list pending;
    struct sh_redis_stats st;
    char last_problem[200];
    char *channel; /* subscriber mode (opt.channel copied) */
};

void sh_redis_options_init(struct sh_redis_options *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = 5;
    o->connect_timeout_ms = 1000;
    o->backoff_max_ms = 5000;
    o->breaker_threshold = 5;
    o->max_pending = 4096;
}

/* A problem is logged when it differs from the last one logged, so a Redis
 * that stays away costs one line, not one per attempt. */
static void problem(struct sh_redis *r, const char *what, const char *detail)
{
    char line[sizeof r->last_problem];
    snprintf(line, sizeof line, "%s: %s", what, detail ? detail : "");
    if (strcmp(line, r->last_problem) == 0)
        return;
    memcpy(r->last_problem, line, sizeof line);
    sh_log_warn(MOD, "%s (%s); serving without Redis until it answers", line, r->where);
}

static void start_connect(struct sh_redis *r);
static void became_up(struct sh_redis *r);
static void on_subscription(redisAsyncContext *ac, void *reply, void *privdata);
static void on_retry(uv_timer_t *t);
static void on_deadline(uv_timer_t *t);

static void schedule_retry(struct sh_redis *r)
{
    if (r->closing)
        return;
    uint64_t delay = r->backoff_ms;
    r->backoff_ms =
        r->backoff_ms * 2 > r->opt.backoff_max_ms ? r->opt.backoff_max_ms : r->backoff_ms * 2;
    uv_timer_stop(&r->deadline_timer);
    uv_timer_start(&r->retry_timer, on_retry, delay, 0);
}

/* Forgets the connection and frees it (now, or when hiredis's callback in
 * progress returns). Outstanding calls complete as failed. */
static void drop(struct sh_redis *r)
{
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    r->state = SH_REDIS_DOWN;
    if (ac)
        redisAsyncFree(ac);
}

static void note_failure(struct sh_redis *r)
{
    if (++r->failures_in_row < r->opt.breaker_threshold || r->state != SH_REDIS_UP)
        return;
    r->st.breaker_opens++;
    char detail[64];
    snprintf(detail, sizeof detail, "%u commands in a row failed or timed out", r->failures_in_row);
    problem(r, "breaker open", detail);
    drop(r);
    schedule_retry(r);
}

static void arm_deadline(struct sh_redis *r)
{
    uint64_t at;
    if (r->state == SH_REDIS_CONNECTING)
        at = r->handshake_deadline;
    else if (!sh_list_empty(&r->pending))
        at = sh_list_entry(sh_list_first(&r->pending), struct sh_redis_call, link)->deadline;
    else {
        uv_timer_stop(&r->deadline_timer);
        return;
    }
    uint64_t now = uv_now(r->loop);
    uv_timer_start(&r->deadline_timer, on_deadline, at > now ? at - now : 0, 0);
}

static void unwait(struct sh_redis_call *c)
{
    if (c->waiting) {
        sh_list_remove(&c->link);
        c->waiting = false;
    }
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct sh_redis_call *c = privdata;
    struct sh_redis *r = c->r;
    bool in_time = c->waiting;
    unwait(c);
    r->inflight--;
    r->st.pending = r->inflight;
    sh_redis_reply_fn fn = c->fn;
    void *arg = c->arg;
    free(c);
    if (in_time) {
        if (reply) {
            r->st.replies++;
            if (((redisReply *)reply)->type == REDIS_REPLY_ERROR)
                r->st.error_replies++;
            r->failures_in_row = 0;
        } else {
            r->st.failures++;
            note_failure(r);
        }
    }
    if (fn)
        fn(arg, reply);
}

static void on_deadline(uv_timer_t *t)
{
    struct sh_redis *r = t->data;
    uint64_t now = uv_now(r->loop);
    if (r->state == SH_REDIS_CONNECTING) {
        if (now < r->handshake_deadline) {
            arm_deadline(r);
            return;
        }
        problem(r, "no answer to the connection handshake", "timed out");
        drop(r);
        schedule_retry(r);
        return;
    }
    while (!sh_list_empty(&r->pending)) {
        struct sh_redis_call *c =
            sh_list_entry(sh_list_first(&r->pending), struct sh_redis_call, link);
        if (c->deadline > now)
            break;
        unwait(c);
        r->st.timeouts++;
        sh_redis_reply_fn fn = c->fn;
        c->fn = NULL;
        if (fn)
            fn(c->arg, NULL);
        note_failure(r); /* may drop the connection: the list is then empty */
    }
    if (r->state == SH_REDIS_UP)
        arm_deadline(r);
}

/* AUTH, SELECT and PING are queued at once; the client is UP when the
 * PING's answer arrives after the others succeeded. */
static void on_handshake(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct sh_redis *r = ac->data;
    const char *step = privdata;
    if (!r || r->ac != ac)
        return; /* a connection already dropped */
    redisReply *rep = reply;
    if (!rep) {
        problem(r, "connection lost during the handshake", step);
        return; /* on_disconnect follows */
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        char detail[160];
        snprintf(detail, sizeof detail, "%s: %.*s", step, (int)(rep->len > 120 ? 120 : rep->len),
                 rep->str ? rep->str : "");
        problem(r, "Redis refused the handshake", detail);
        drop(r);
        r->backoff_ms = r->opt.backoff_max_ms; /* a wrong password won't fix itself soon */
        schedule_retry(r);
        return;
    }
    if (strcmp(step, "PING") != 0)
        return;
    if (r->channel) {
        redisAsyncCommand(ac, on_subscription, r, "SUBSCRIBE %s", r->channel);
        return; /* UP once the subscription is confirmed */
    }
    became_up(r);
}

static void became_up(struct sh_redis *r)
{
    r->state = SH_REDIS_UP;
    r->st.connects++;
    r->failures_in_row = 0;
    r->backoff_ms = BACKOFF_START_MS;
    if (r->last_problem[0])
        sh_log_info(MOD, "connected to %s again", r->where);
    else
        sh_log_info(MOD, "connected to %s", r->where);
    r->last_problem[0] = 0;
    arm_deadline(r);
}

/* Subscriber mode: the confirmation of SUBSCRIBE, then every message, all
 * through this one callback (hiredis keeps it for the channel). */
static void on_subscription(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct sh_redis *r = privdata;
    redisReply *rep = reply;
    if (!r || r->ac != ac || !rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3)
        return;
    const redisReply *kind = rep->element[0];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "subscribe") == 0) {
        became_up(r);
        if (r->opt.on_subscribed)
            r->opt.on_subscribed(r->opt.arg);
    } else if (strcmp(kind->str, "message") == 0 && rep->element[2]->type == REDIS_REPLY_STRING) {
        r->st.replies++;
        if (r->opt.on_message)
            r->opt.on_message(r->opt.arg, rep->element[2]->str, rep->element[2]->len);
    }
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    struct sh_redis *r = cac->data;
    if (!r || r->ac != cac || status == REDIS_OK)
        return;
    problem(r, "cannot connect", cac->errstr);
    r->ac = NULL; /* hiredis frees it after this callback */
    r->state = SH_REDIS_DOWN;
    schedule_retry(r);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    (void)status;
    struct sh_redis *r = cac->data;
    if (!r || r->ac != cac)
        return; /* we dropped it ourselves */
    problem(r, "connection lost", cac->errstr[0] ? cac->errstr : "closed by the server");
    r->ac = NULL;
    r->state = SH_REDIS_DOWN;
    schedule_retry(r);
}

static void connect_to(struct sh_redis *r, const char *ip)
{
    redisAsyncContext *ac = r->addr.unix_socket ? redisAsyncConnectUnix(r->addr.host)
                                                : redisAsyncConnect(ip, r->addr.port);
    if (!ac || ac->err) {
        problem(r, "cannot connect", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(r);
        return;
    }
    ac->data = r;
    if (sh_redis_uv_attach(ac, r->loop) != REDIS_OK) {
        problem(r, "cannot attach the connection to the loop", NULL);
        ac->data = NULL;
        redisAsyncFree(ac);
        schedule_retry(r);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    r->state = SH_REDIS_CONNECTING;
    r->handshake_deadline = uv_now(r->loop) + r->opt.connect_timeout_ms;
    static char auth[] = "AUTH", select_[] = "SELECT", ping[] = "PING";
    if (r->addr.password[0]) {
        if (r->addr.user[0])
            redisAsyncCommand(ac, on_handshake, auth, "AUTH %s %s", r->addr.user, r->addr.password);
        else
            redisAsyncCommand(ac, on_handshake, auth, "AUTH %s", r->addr.password);
    }
    if (r->addr.db)
        redisAsyncCommand(ac, on_handshake, select_, "SELECT %d", r->addr.db);
    redisAsyncCommand(ac, on_handshake, ping, "PING");
    arm_deadline(r);
}

static void maybe_free(struct sh_redis *r)
{
    if (r->closing && r->open_handles == 0 && !r->resolving) {
        free(r->channel);
        free(r);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct sh_redis *r = req->data;
    r->resolving = false;
    if (r->closing) {
        uv_freeaddrinfo(res);
        maybe_free(r);
        return;
    }
    char ip[INET6_ADDRSTRLEN] = "";
    if (status == 0 && res) {
        if (res->ai_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)(void *)res->ai_addr, ip, sizeof ip);
        else
            uv_ip4_name((struct sockaddr_in *)(void *)res->ai_addr, ip, sizeof ip);
    }
    uv_freeaddrinfo(res);
    if (!ip[0]) {
        problem(r, "cannot resolve the host", status ? uv_strerror(status) : "no address");
        schedule_retry(r);
        return;
    }
    connect_to(r, ip);
}

static bool is_ip(const char *h)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static void start_connect(struct sh_redis *r)
{
    if (r->closing || r->ac || r->resolving)
        return;
    if (r->addr.unix_socket || is_ip(r->addr.host)) {
        connect_to(r, r->addr.host);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    r->gai.data = r;
    r->resolving = true;
    int rc = uv_getaddrinfo(r->loop, &r->gai, on_resolved, r->addr.host, NULL, &hints);
    if (rc) {
        r->resolving = false;
        problem(r, "cannot resolve the host", uv_strerror(rc));
        schedule_retry(r);
    }
}

static void on_retry(uv_timer_t *t)
{
    start_connect(t->data);
}

int sh_redis_open(struct sh_redis **out, uv_loop_t *loop, const struct sh_redis_options *o)
{
    struct sh_redis_addr addr;
    const char *why = NULL;
    if (sh_redis_parse_url(o->url, &addr, &why)) {
        sh_log_error(MOD, "--redis: %s", why);
        return SH_EINVAL;
    }
    if (o->password && o->password[0]) {
        if (strlen(o->password) >= sizeof addr.password) {
            sh_log_error(MOD, "the Redis password is too long");
            return SH_EINVAL;
        }
        strcpy(addr.password, o->password);
    }
    struct sh_redis *r = sh_calloc(1, sizeof *r);
    r->loop = loop;
    r->opt = *o;
    r->opt.url = NULL;
    r->opt.password = NULL;
    r->channel = o->channel ? sh_strdup(o->channel) : NULL;
    r->opt.channel = NULL;
    if (r->opt.breaker_threshold == 0)
        r->opt.breaker_threshold = 1;
    if (r->opt.backoff_max_ms < BACKOFF_START_MS)
        r->opt.backoff_max_ms = BACKOFF_START_MS;
    r->addr = addr;
    if (addr.unix_socket)
        snprintf(r->where, sizeof r->where, "unix:%s", addr.host);
    else
        snprintf(r->where, sizeof r->where, "%s:%d", addr.host, addr.port);
    r->backoff_ms = BACKOFF_START_MS;
    sh_list_init(&r->pending);
    uv_timer_init(loop, &r->deadline_timer);
    uv_timer_init(loop, &r->retry_timer);
    r->deadline_timer.data = r;
    r->retry_timer.data = r;
    r->open_handles = 2;
    start_connect(r);
    *out = r;
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct sh_redis *r = h->data;
    r->open_handles--;
    maybe_free(r);
}

void sh_redis_close(struct sh_redis *r)
{
    if (!r || r->closing)
        return;
    r->closing = true;
    drop(r);
    if (r->resolving)
        uv_cancel((uv_req_t *)&r->gai);
    uv_close((uv_handle_t *)&r->deadline_timer, on_handle_closed);
    uv_close((uv_handle_t *)&r->retry_timer, on_handle_closed);
}

int sh_redis_command(struct sh_redis *r, sh_redis_reply_fn fn, void *arg, int argc,
                     const char *const *argv, const size_t *lens, struct sh_redis_call **call)
{
    if (!r || r->channel || r->state != SH_REDIS_UP || !r->ac ||
        r->inflight >= r->opt.max_pending) {
        if (r)
            r->st.refused++;
        return SH_EBUSY;
    }
    struct sh_redis_call *c = sh_malloc(sizeof *c);
    c->r = r;
    c->fn = fn;
    c->arg = arg;
    c->deadline = uv_now(r->loop) + r->opt.timeout_ms;
    /* hiredis takes char ** but copies the arguments; it never writes them */
    if (redisAsyncCommandArgv(r->ac, on_reply, c, argc, (const char **)(uintptr_t)argv, lens) !=
        REDIS_OK) {
        free(c);
        r->st.refused++;
        return SH_EBUSY;
    }
    bool was_empty = sh_list_empty(&r->pending);
    sh_list_insert_tail(&r->pending, &c->link);
    c->waiting = true;
    r->inflight++;
    r->st.pending = r->inflight;
    r->st.commands++;
    if (was_empty)
        arm_deadline(r);
    if (call)
        *call = c;
    return 0;
}

static void on_published(void *arg, const struct redisReply *reply)
{
    (void)arg;
    (void)reply;
}

int sh_redis_publish(struct sh_redis *r, const char *channel, const char *payload, size_t len)
{
    const char *argv[] = {"PUBLISH", channel, payload};
    size_t lens[] = {7, strlen(channel), len};
    return sh_redis_command(r, on_published, NULL, 3, argv, lens, NULL);
}

void sh_redis_cancel(struct sh_redis_call *call)
{
    if (call)
        call->fn = NULL;
}

enum sh_redis_state sh_redis_state(const struct sh_redis *r)
{
    return r ? r->state : SH_REDIS_DOWN;
}

void sh_redis_stats(const struct sh_redis *r, struct sh_redis_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!r)
        return;
    *out = r->st;
    out->pending = r->inflight;
    out->state = r->state;
}
