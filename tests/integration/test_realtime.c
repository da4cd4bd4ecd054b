/*
 * Realtime over SSE against the real binary: the stream's head and the
 * PB_CONNECT message byte for byte; subscribe, replace and clear; the
 * 404/403/400 answers and the limits; events only for committed writes and
 * in commit order (a failed write sends nothing, pipelined writes arrive in
 * their order); the rules per subscriber (the owner sees its record,
 * another user and a guest do not), hidden fields never sent, a topic's
 * filter and fields, delete events with the record as it was; the
 * heartbeat and the idle close with short flags; a consumer that stops
 * reading is disconnected (logged) while another keeps receiving; SIGTERM with
 * streams open exits at once; gathered events from reused buffers carry only
 * their own stream's bytes; a tokenKey change (logout-all, a new
 * password) turns the record's streams into guests before their next event.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_auth_client.h"

static const char schema[] =
    "["
    "{'name':'users','type':'auth','fields':[{'name':'name','type':'text'}],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':'id = @request.auth.id',"
    "  'deleteRule':null},"
    "{'name':'notes','type':'base','fields':[{'name':'title','type':'text'},"
    "  {'name':'owner','type':'relation','collectionId':'users','maxSelect':1},"
    "  {'name':'h','type':'text','hidden':true},{'name':'n','type':'number','max':100}],"
    "  'listRule':'owner = @request.auth.id','viewRule':'owner = @request.auth.id',"
    "  'createRule':'','updateRule':'','deleteRule':''},"
    "{'name':'pub','type':'base','fields':[{'name':'title','type':'text'},"
    "  {'name':'n','type':'number','max':100}],"
    "  'listRule':'','viewRule':'','createRule':'','updateRule':'','deleteRule':''},"
    "{'name':'locked','type':'base','fields':[{'name':'x','type':'text'}],"
    "  'listRule':null,'viewRule':null,'createRule':'','updateRule':null,'deleteRule':null}"
    "]";

static struct it_server *srv;
static struct it_conn *conn;
static const char *ann, *bob; /* record ids */
static const char *ta, *tb;   /* tokens */

static int group_setup(void **state)
{
    (void)state;
    it_group_begin();
    srv = rc_server(rc_q(schema), "--sync", "normal", "--rate-limit-auth", "off", NULL);
    if (!srv)
        return -1;
    struct it_conn *c = it_conn_open(srv);
    ann = ac_signup(c, "users", "ann@example.com", "anns password", "\"name\":\"ann\"");
    bob = ac_signup(c, "users", "bob@example.com", "bobs password", "\"name\":\"bob\"");
    ta = ac_login(c, "users", "ann@example.com", "anns password", NULL);
    tb = ac_login(c, "users", "bob@example.com", "bobs password", NULL);
    it_conn_close(c);
    return 0;
}

static int open_conn(void)
{
    conn = it_conn_open(srv);
    return conn ? 0 : -1;
}

/* ---- an SSE client on a raw connection ---- */

struct sse {
    struct it_conn *c;
    char id[64];
};

/* The next message (up to its blank line) of s, or NULL when none comes
 * within ms. Comment-only messages (heartbeats) are returned too. */
static char *sse_next(struct sse *s, int ms)
{
    int64_t end = it_now_ms() + ms;
    for (;;) {
        struct it_conn *c = s->c;
        char *start = c->buf + c->off;
        size_t n = c->len - c->off;
        for (size_t i = 0; i + 1 < n; i++)
            if (start[i] == '\n' && start[i + 1] == '\n') {
                char *msg = it_alloc(i + 3);
                memcpy(msg, start, i + 2);
                msg[i + 2] = 0;
                c->off += i + 2;
                return msg;
            }
        int64_t left = end - it_now_ms();
        if (left <= 0 || c->eof)
            return NULL;
        if (it_conn_fill(c, (int)left) <= 0 && c->eof)
            return NULL;
    }
}

/* The next message that is not a comment. */
static char *sse_event(struct sse *s, int ms)
{
    int64_t end = it_now_ms() + ms;
    for (;;) {
        int64_t left = end - it_now_ms();
        char *m = sse_next(s, left > 0 ? (int)left : 0);
        if (!m || m[0] != ':')
            return m;
    }
}

static void close_fd(void *p)
{
    struct it_conn *c = p;
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
}

/* A connection to sv whose receive buffer is made small before it connects
 * (made small later, the kernel's window probes back off for seconds). */
static struct it_conn *small_conn(struct it_server *sv)
{
    struct it_conn *c = it_alloc(sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    it_defer(close_fd, c);
    int small = 4096;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)sv->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    return c;
}

/* Opens a stream on sv (on c, or a new connection when NULL), checks its
 * head and PB_CONNECT byte for byte. */
static struct sse *sse_open_conn(struct it_server *sv, struct it_conn *c)
{
    struct sse *s = it_alloc(sizeof(*s));
    s->c = c ? c : it_conn_open_or_fail(sv);
    assert_int_equal(it_conn_sends(s->c, "GET /api/realtime HTTP/1.1\r\nHost: t\r\n\r\n"), IT_OK);
    int64_t end = it_now_ms() + IT_MS_IO;
    char *head_end = NULL;
    while (!(head_end = strstr(s->c->buf ? s->c->buf + s->c->off : "", "\r\n\r\n")) &&
           it_now_ms() < end)
        it_conn_fill(s->c, 200);
    assert_non_null(head_end);
    size_t hl = (size_t)(head_end - (s->c->buf + s->c->off)) + 4;
    char *head = it_alloc(hl + 1);
    memcpy(head, s->c->buf + s->c->off, hl);
    s->c->off += hl;
    assert_non_null(strstr(head, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(head, "\r\nContent-Type: text/event-stream\r\n"));
    assert_non_null(strstr(head, "\r\nCache-Control: no-store\r\n"));
    assert_non_null(strstr(head, "\r\nX-Accel-Buffering: no\r\n"));
    assert_null(strstr(head, "Content-Length"));
    char *m = sse_next(s, IT_MS_IO);
    assert_non_null(m);
    assert_int_equal(strncmp(m, "id:", 3), 0);
    size_t idl = strcspn(m + 3, "\n");
    assert_int_equal(idl, 40);
    memcpy(s->id, m + 3, idl);
    s->id[idl] = 0;
    assert_string_equal(
        m, it_sprintf("id:%s\nevent:PB_CONNECT\ndata:{\"clientId\":\"%s\"}\n\n", s->id, s->id));
    return s;
}

static struct sse *sse_open_on(struct it_server *sv)
{
    return sse_open_conn(sv, NULL);
}

static struct sse *sse_open(void)
{
    return sse_open_on(srv);
}

/* POST /api/realtime for s with topics (a JSON array text), as token. */
static struct rc_resp *subscribe_on(struct it_conn *c, struct sse *s, const char *token,
                                    const char *topics)
{
    return ac_req(c, "POST", "/api/realtime", token,
                  it_sprintf("{\"clientId\":\"%s\",\"subscriptions\":%s}", s->id, topics));
}

static void subscribe(struct sse *s, const char *token, const char *topics)
{
    struct rc_resp *r = subscribe_on(conn, s, token, topics);
    if (r->status != 204)
        fail_msg("subscribe: %d %s", r->status, r->raw->body);
}

/* Splits an event message into its event name and parsed data. */
static const cJSON *ev_parse(const char *m, struct sse *s, const char **name)
{
    assert_non_null(m);
    const char *want = it_sprintf("id:%s\nevent:", s->id);
    if (strncmp(m, want, strlen(want)) != 0)
        fail_msg("not an event of %s: %s", s->id, m);
    const char *p = m + strlen(want);
    const char *nl = strchr(p, '\n');
    char *n = it_alloc((size_t)(nl - p) + 1);
    memcpy(n, p, (size_t)(nl - p));
    *name = n;
    assert_int_equal(strncmp(nl + 1, "data:", 5), 0);
    const char *d = nl + 6;
    assert_string_equal(d + strlen(d) - 2, "\n\n");
    cJSON *j = rc_track(cJSON_ParseWithLength(d, strlen(d) - 2));
    assert_non_null(j);
    return j;
}

static const char *create(const char *coll, const char *token, const char *json)
{
    struct rc_resp *r =
        ac_req(conn, "POST", it_sprintf("/api/collections/%s/records", coll), token, rc_q(json));
    if (r->status != 200)
        fail_msg("create %s: %d %s", coll, r->status, r->raw->body);
    return it_strdup(rc_str(r->json, "id"));
}

/* ---- tests ---- */

static void test_wire_subscribe_replace_clear(void **state)
{
    (void)state;
    struct sse *s = sse_open();
    subscribe(s, NULL, "[\"pub/*\"]");
    const char *id = create("pub", NULL, "{'title':'one','n':1}");
    const char *name;
    char *m = sse_event(s, IT_MS_IO);
    const cJSON *d = ev_parse(m, s, &name);
    assert_string_equal(name, "pub/*");
    assert_string_equal(rc_str(d, "action"), "create");
    const cJSON *rec = rc_get(d, "record");
    assert_string_equal(rc_str(rec, "id"), id);
    assert_string_equal(rc_str(rec, "title"), "one");
    assert_string_equal(rc_str(rec, "collectionName"), "pub");
    /* the record is what a GET gives */
    struct rc_resp *g =
        ac_req(conn, "GET", it_sprintf("/api/collections/pub/records/%s", id), NULL, NULL);
    char *want = cJSON_PrintUnformatted(g->json), *got = cJSON_PrintUnformatted(rec);
    assert_string_equal(got, want);
    free(want);
    free(got);

    /* replace: the id topic with options; the event name is the topic as sent */
    const char *topic =
        it_sprintf("pub/%s?options=%s", id, rc_enc("{\"query\":{\"fields\":\"id,title\"}}"));
    subscribe(s, NULL, it_sprintf("[\"%s\"]", topic));
    create("pub", NULL, "{'title':'two'}"); /* no longer subscribed to * */
    assert_int_equal(ac_req(conn, "PATCH", it_sprintf("/api/collections/pub/records/%s", id), NULL,
                            rc_q("{'title':'one!'}"))
                         ->status,
                     200);
    d = ev_parse(sse_event(s, IT_MS_IO), s, &name);
    assert_string_equal(name, topic);
    assert_string_equal(rc_str(d, "action"), "update");
    rec = rc_get(d, "record");
    assert_string_equal(rc_str(rec, "title"), "one!");
    assert_int_equal(cJSON_GetArraySize(rec), 2); /* fields=id,title */

    /* clear: nothing more */
    subscribe(s, NULL, "[]");
    create("pub", NULL, "{'title':'three'}");
    assert_null(sse_event(s, 300));
}

static void test_errors_and_limits(void **state)
{
    (void)state;
    struct sse *s = sse_open();
    struct rc_resp *r =
        ac_req(conn, "POST", "/api/realtime", NULL, "{\"clientId\":\"nope\",\"subscriptions\":[]}");
    rc_assert_error(r, 404, NULL, NULL);
    rc_assert_error(ac_req(conn, "POST", "/api/realtime", NULL, "{\"subscriptions\":[]}"), 400,
                    "clientId", NULL);
    rc_assert_error(ac_req(conn, "POST", "/api/realtime", NULL, "{\"clientId\":"), 400, NULL, NULL);
    /* 1001 subscriptions, a 2501-character topic */
    struct sh_b {
        char *p;
    } big = {it_alloc(1001 * 12 + 4)};
    char *p = big.p;
    *p++ = '[';
    for (int i = 0; i < 1001; i++)
        p += sprintf(p, "%s\"pub/%04d\"", i ? "," : "", i);
    strcpy(p, "]");
    rc_assert_error(subscribe_on(conn, s, NULL, big.p), 400, "subscriptions", NULL);
    char *longt = it_alloc(2600);
    memset(longt, 'a', 2501);
    memcpy(longt, "pub/", 4);
    longt[2501] = 0;
    rc_assert_error(subscribe_on(conn, s, NULL, it_sprintf("[\"%s\"]", longt)), 400,
                    "subscriptions", NULL);
    longt[2500] = 0; /* exactly the limit */
    assert_int_equal(subscribe_on(conn, s, NULL, it_sprintf("[\"%s\"]", longt))->status, 204);
    /* a guest may sign in; then another identity (or none) is 403 */
    subscribe(s, ta, "[\"pub/*\"]");
    rc_assert_error(subscribe_on(conn, s, tb, "[\"pub/*\"]"), 403, NULL, NULL);
    rc_assert_error(subscribe_on(conn, s, NULL, "[\"pub/*\"]"), 403, NULL, NULL);
    subscribe(s, ta, "[\"pub/*\"]");
}

static void test_rules_hidden_filter_delete(void **state)
{
    (void)state;
    struct sse *sa = sse_open(), *sb = sse_open(), *sg = sse_open();
    subscribe(sa, ta, "[\"notes/*\"]");
    subscribe(sb, tb, "[\"notes/*\"]");
    subscribe(sg, NULL, "[\"notes/*\",\"locked/*\"]");
    const char *n1 = create("notes", NULL,
                            it_sprintf("{'title':'for ann','owner':'%s','h':'secret','n':1}", ann));
    const char *name;
    const cJSON *d = ev_parse(sse_event(sa, IT_MS_IO), sa, &name);
    const cJSON *rec = rc_get(d, "record");
    assert_string_equal(rc_str(rec, "id"), n1);
    assert_null(cJSON_GetObjectItem(rec, "h")); /* hidden fields never sent */
    create("locked", NULL, "{'x':'y'}");        /* listRule null: superusers only */
    /* a failed write (n over its max) sends nothing; the next one arrives first */
    rc_assert_error(ac_req(conn, "POST", "/api/collections/notes/records", NULL,
                           rc_q(it_sprintf("{'owner':'%s','n':1000}", bob))),
                    400, NULL, NULL);
    const char *n2 = create("notes", NULL, it_sprintf("{'title':'for bob','owner':'%s'}", bob));
    d = ev_parse(sse_event(sb, IT_MS_IO), sb, &name);
    assert_string_equal(rc_str(rc_get(d, "record"), "id"), n2);
    /* ann never saw bob's, the guest saw nothing */
    assert_null(sse_event(sa, 300));
    assert_null(sse_event(sg, 100));

    /* a filter in the options */
    const char *ft = it_sprintf("pub/*?options=%s", rc_enc("{\"query\":{\"filter\":\"n > 5\"}}"));
    subscribe(sg, NULL, it_sprintf("[\"%s\"]", ft));
    create("pub", NULL, "{'title':'small','n':1}");
    const char *big = create("pub", NULL, "{'title':'big','n':9}");
    d = ev_parse(sse_event(sg, IT_MS_IO), sg, &name);
    assert_string_equal(name, ft);
    assert_string_equal(rc_str(rc_get(d, "record"), "id"), big);

    /* delete: the record as it was, under the rule as it was */
    assert_int_equal(
        ac_req(conn, "DELETE", it_sprintf("/api/collections/notes/records/%s", n1), NULL, NULL)
            ->status,
        204);
    d = ev_parse(sse_event(sa, IT_MS_IO), sa, &name);
    assert_string_equal(rc_str(d, "action"), "delete");
    assert_string_equal(rc_str(rc_get(d, "record"), "title"), "for ann");
    assert_null(sse_event(sb, 200));
}

static void test_token_key_change_downgrades(void **state)
{
    (void)state;
    const char *cat = ac_signup(conn, "users", "cat@example.com", "cats password", NULL);
    const char *tc = ac_login(conn, "users", "cat@example.com", "cats password", NULL);
    struct sse *s = sse_open();
    subscribe(s, tc, "[\"notes/*\"]");
    create("notes", NULL, it_sprintf("{'title':'c1','owner':'%s'}", cat));
    const char *name;
    const cJSON *d = ev_parse(sse_event(s, IT_MS_IO), s, &name);
    assert_string_equal(rc_str(rc_get(d, "record"), "title"), "c1");
    /* logout-all gives cat a new tokenKey: the stream is a guest's now */
    assert_int_equal(
        ac_req(conn, "POST", "/api/collections/users/auth-logout-all", tc, NULL)->status, 204);
    create("notes", NULL, it_sprintf("{'title':'c2','owner':'%s'}", cat));
    assert_null(sse_event(s, 500));
    /* and a guest stream may sign in again */
    const char *tc2 = ac_login(conn, "users", "cat@example.com", "cats password", NULL);
    subscribe(s, tc2, "[\"notes/*\"]");
    create("notes", NULL, it_sprintf("{'title':'c3','owner':'%s'}", cat));
    d = ev_parse(sse_event(s, IT_MS_IO), s, &name);
    assert_string_equal(rc_str(rc_get(d, "record"), "title"), "c3");
    /* a new password through the records API does the same */
    struct rc_resp *r =
        ac_req(conn, "PATCH", it_sprintf("/api/collections/users/records/%s", cat), tc2,
               "{\"oldPassword\":\"cats password\",\"password\":\"cats new password\","
               "\"passwordConfirm\":\"cats new password\"}");
    assert_int_equal(r->status, 200);
    create("notes", NULL, it_sprintf("{'title':'c4','owner':'%s'}", cat));
    assert_null(sse_event(s, 500));
}

static void test_pipelined_order(void **state)
{
    (void)state;
    struct sse *s = sse_open();
    subscribe(s, NULL, "[\"pub/*\"]");
    /* 20 creates in one write on one connection: events in commit order */
    struct it_conn *c = it_conn_open_or_fail(srv);
    char *all = it_alloc(20 * 200);
    char *p = all;
    for (int i = 0; i < 20; i++) {
        char body[32];
        int bl = snprintf(body, sizeof(body), "{\"title\":\"p%02d\"}", i);
        p += sprintf(p,
                     "POST /api/collections/pub/records HTTP/1.1\r\nHost: t\r\n"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                     bl, body);
    }
    assert_int_equal(it_conn_sends(c, all), IT_OK);
    for (int i = 0; i < 20; i++) {
        const char *name;
        const cJSON *d = ev_parse(sse_event(s, IT_MS_IO), s, &name);
        assert_string_equal(rc_str(rc_get(d, "record"), "title"), it_sprintf("p%02d", i));
    }
}

/* Gathered events leave from buffers that are reused across streams and
 * windows (the spare pool): with a coalescing window, so that all but the
 * first of a wave are gathered, three waves of pipelined creates, of short
 * and long titles, to streams of different topics (one trims the record to
 * its title) reach every stream complete, in order, under its own id and
 * topic, with nothing of another stream's or an earlier wave's bytes. */
static void test_gathered_buffers_reused(void **state)
{
    (void)state;
    const char *trim = it_sprintf("pub/*?options=%s", rc_enc("{\"query\":{\"fields\":\"title\"}}"));
    const char *topics[3] = {"pub/*", trim, "pub/*"};
    struct it_server *s2 = rc_server(rc_q(schema), "--realtime-coalesce", "100ms", NULL);
    assert_non_null(s2);
    struct it_conn *c = it_conn_open_or_fail(s2);
    struct sse *s[3];
    for (int k = 0; k < 3; k++) {
        s[k] = sse_open_on(s2);
        assert_int_equal(subscribe_on(c, s[k], NULL, it_sprintf("[\"%s\"]", topics[k]))->status,
                         204);
    }
    for (int wave = 0; wave < 3; wave++) {
        char *all = it_alloc(12 * 400);
        char *p = all;
        for (int i = 0; i < 12; i++) {
            char body[200];
            int len = (i + wave) % 2 ? 120 : 2; /* long and short payloads in turn */
            int bl =
                snprintf(body, sizeof(body), "{\"title\":\"w%di%02d-%.*s\",\"n\":%d}", wave, i, len,
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                         i);
            p += sprintf(p,
                         "POST /api/collections/pub/records HTTP/1.1\r\nHost: t\r\n"
                         "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                         bl, body);
        }
        assert_int_equal(it_conn_sends(c, all), IT_OK);
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 12; i++) {
                const char *name;
                const cJSON *d = ev_parse(sse_event(s[k], IT_MS_IO), s[k], &name);
                assert_string_equal(name, topics[k]);
                assert_string_equal(rc_str(d, "action"), "create");
                const cJSON *rec = rc_get(d, "record");
                const char *title = rc_str(rec, "title");
                const char *want = it_sprintf("w%di%02d-", wave, i);
                if (strncmp(title, want, strlen(want)) != 0)
                    fail_msg("stream %d, wave %d: event %d has title %s", k, wave, i, title);
                assert_int_equal(strlen(title), strlen(want) + ((i + wave) % 2 ? 120 : 2));
                if (k == 1)
                    assert_int_equal(cJSON_GetArraySize(rec), 1);
                else
                    assert_int_equal(cJSON_GetNumberValue(rc_get(rec, "n")), i);
            }
    }
    for (int k = 0; k < 3; k++)
        assert_null(sse_event(s[k], 200)); /* nothing more, nothing doubled */
}

static void test_heartbeat_and_idle(void **state)
{
    (void)state;
    struct it_server *s2 =
        rc_server(rc_q(schema), "--realtime-heartbeat", "200ms", "--realtime-idle", "1500ms", NULL);
    assert_non_null(s2);
    struct sse *s = sse_open_on(s2);
    int64_t t0 = it_now_ms();
    char *m = sse_next(s, 3000);
    assert_non_null(m);
    assert_string_equal(m, ":heartbeat\n\n");
    /* no message for 1.5 s: closed (heartbeats do not count) */
    while (sse_next(s, 3000))
        ;
    int64_t took = it_now_ms() - t0;
    assert_true(s->c->eof);
    assert_true(took >= 1300 && took < IT_SLOW(4500));
}

static void test_slow_consumer_dropped(void **state)
{
    (void)state;
    struct it_server *s2 = rc_server(rc_q(schema), "--realtime-queue", "16k", NULL);
    assert_non_null(s2);
    /* the slow one stops reading, with a small receive buffer */
    struct sse *slow = sse_open_conn(s2, small_conn(s2)), *fast = sse_open_on(s2);
    struct it_conn *c = it_conn_open_or_fail(s2);
    assert_int_equal(subscribe_on(c, slow, NULL, "[\"pub/*\"]")->status, 204);
    assert_int_equal(subscribe_on(c, fast, NULL, "[\"pub/*\"]")->status, 204);
    char *title = it_alloc(5000);
    memset(title, 'x', 4900);
    title[4900] = 0;
    int got = 0, sent = 0;
    /* until the slow one is cut (the kernel's buffers hold a few MiB) */
    for (int i = 0; i < 1000 && !it_server_wait_log(s2, "fell behind", 0); i++, sent++) {
        struct rc_resp *r = rc_reqf(c, "POST", "/api/collections/pub/records",
                                    "{\"title\":\"%s\",\"n\":%d}", title, i % 100);
        assert_int_equal(r->status, 200);
        while (sse_event(fast, got < i ? 2000 : 0))
            got++;
    }
    while (got < sent && sse_event(fast, 2000))
        got++;
    assert_int_equal(got, sent); /* the fast one got every event */
    assert_int_equal(it_server_wait_log(s2, "fell behind", 3000), 1);
    /* the slow one was cut: reading what it holds ends in EOF */
    char *log = it_server_log(s2);
    assert_non_null(strstr(log, it_sprintf("client %s fell behind", slow->id)));
    assert_null(strstr(log, it_sprintf("client %s fell behind", fast->id)));
    /* the slow one misses what came after its drop */
    int slow_got = 0;
    while (sse_event(slow, 3000))
        slow_got++;
    assert_true(slow_got < sent);
    assert_true(slow->c->eof); /* and its stream ended */
}

/* --realtime-coalesce: a lone event leaves at once; events that follow it
 * within the window wait for its end and leave together, in order. */
static void test_coalesce_window(void **state)
{
    (void)state;
    struct it_server *s2 = rc_server(rc_q(schema), "--realtime-coalesce", "1s", NULL);
    assert_non_null(s2);
    struct sse *s = sse_open_on(s2);
    struct it_conn *c = it_conn_open_or_fail(s2);
    assert_int_equal(subscribe_on(c, s, NULL, "[\"pub/*\"]")->status, 204);
    const char *name;
    int64_t t0 = it_now_ms();
    assert_int_equal(
        rc_reqf(c, "POST", "/api/collections/pub/records", "{\"title\":\"a\"}")->status, 200);
    const cJSON *d = ev_parse(sse_event(s, 3000), s, &name);
    int64_t t_a = it_now_ms();
    assert_string_equal(rc_str(rc_get(d, "record"), "title"), "a");
    assert_true(t_a - t0 < IT_SLOW(800)); /* the first event of a quiet stream is not held */
    assert_int_equal(
        rc_reqf(c, "POST", "/api/collections/pub/records", "{\"title\":\"b\"}")->status, 200);
    assert_int_equal(
        rc_reqf(c, "POST", "/api/collections/pub/records", "{\"title\":\"c\"}")->status, 200);
    d = ev_parse(sse_event(s, 5000), s, &name);
    int64_t t_b = it_now_ms();
    assert_string_equal(rc_str(rc_get(d, "record"), "title"), "b");
    if (t_b - t_a < 600)
        fail_msg("the event after one just sent came %lld ms later, inside the 1 s window",
                 (long long)(t_b - t_a));
    /* c was held with b: in the same write */
    d = ev_parse(sse_event(s, 200), s, &name);
    assert_string_equal(rc_str(rc_get(d, "record"), "title"), "c");
}

static void test_stop_with_streams_open(void **state)
{
    (void)state;
    struct it_server *s2 = rc_server(rc_q(schema), "--drain-timeout", "20s", NULL);
    assert_non_null(s2);
    struct sse *a = sse_open_on(s2), *b = sse_open_on(s2);
    (void)b;
    int64_t t0 = it_now_ms();
    assert_int_equal(it_server_stop(s2, 5000), 0); /* exits 0, well before the drain deadline */
    assert_true(it_now_ms() - t0 < IT_SLOW(4000));
    assert_int_equal(it_conn_read_to_eof(a->c, 1000), IT_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        it_test_each(test_wire_subscribe_replace_clear, open_conn),
        it_test_each(test_errors_and_limits, open_conn),
        it_test_each(test_rules_hidden_filter_delete, open_conn),
        it_test_each(test_token_key_change_downgrades, open_conn),
        it_test_each(test_pipelined_order, open_conn),
        it_test(test_gathered_buffers_reused),
        it_test(test_heartbeat_and_idle),
        it_test(test_slow_consumer_dropped),
        it_test(test_coalesce_window),
        it_test(test_stop_with_streams_open),
    };
    return cmocka_run_group_tests_name("realtime", tests, group_setup, it_group_teardown);
}
