/*
 * sse_client: a realtime load client on libuv. Opens N SSE streams
 * (GET /api/realtime), subscribes client i to "<prefix><i % C>/" + "*" with
 * pipelined POST /api/realtime on one control connection, then either
 * times E creates (each POSTed on a second connection, titled "rt-<k>",
 * into "<prefix>0") from the create's acknowledgement (and from its send)
 * until the last subscriber of that collection has its event, or holds the
 * streams for T seconds counting events (load from elsewhere, e.g. wrk).
 *
 *   sse_client [-n N] [-C COLLS] [-P PREFIX] [-e CREATES] [-w WAIT_S] [-t HOLD_S] HOST PORT
 *
 * Output (stdout): "ready clients=<n> subscribed=<n>" once set up (then it
 * waits WAIT_S, so that the caller can read the server's RSS), then either
 * "delay_ack_ms p50=.. p99=.. max=.. delay_send_ms p50=.. p99=.. max=..
 * missed=<n>" or "held events=<n> dropped=<n>". Exit 0, or 1 on errors
 * (setup incomplete, a create refused). Build: cc -O2 -o sse_client
 * sse_client.c -luv
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#define MAX_CREATES 10000
#define INFLIGHT    256 /* connects at once */
#define TAIL        32  /* bytes carried over between reads (a token cut in two) */

struct client {
    uv_tcp_t tcp;
    unsigned idx;
    int coll;
    int state; /* 0 connecting, 1 waiting for PB_CONNECT, 2 streaming, 3 closed */
    char id[64];
    char *acc; /* setup bytes until PB_CONNECT */
    size_t acc_len;
    char tail[TAIL];
    size_t tail_len;
};

static uv_loop_t *loop;
static struct sockaddr_in addr;
static struct client *clients;
static unsigned n_clients = 1000, n_colls = 1, n_creates = 0, wait_s = 2, hold_s = 10;
static const char *prefix = "rt";
static unsigned connected, next_connect, inflight, closed_streams;
static uint64_t events_total;
static unsigned *got; /* per create k: clients that have it */
static unsigned per_coll0;
static char readbuf[65536];

/* control connections */
struct ctl {
    uv_tcp_t tcp;
    char *in;
    size_t in_len, in_cap;
    unsigned answers;
    void (*on_read)(struct ctl *c);
};
static struct ctl sub_ctl, create_ctl;
static unsigned subscribed;
static unsigned cur_create;
static uint64_t t_send, t_ack, t_done;
static double *d_ack, *d_send;
static unsigned n_done, missed;
static uv_timer_t timer;

static void start_creates(void);
static void next_create(void);
static void maybe_done(void);

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)h;
    (void)sz;
    *b = uv_buf_init(readbuf, sizeof(readbuf));
}

static void write_done(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void send_bytes(uv_stream_t *s, const char *p, size_t n)
{
    uv_write_t *w = malloc(sizeof(*w));
    char *copy = malloc(n);
    memcpy(copy, p, n);
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy, (unsigned)n);
    uv_write(w, s, &b, 1, write_done);
}

/* Finds tok in the stream of c: in p[0..n), and across the previous read's
 * end (the carried tail). With digits, the number after tok (up to a '"')
 * goes to on_k; without, each occurrence counts. */
static void scan_tok(struct client *c, const char *p, size_t n, const char *tok, size_t tl,
                     bool digits_follow)
{
    char joined[TAIL + 64];
    size_t head = n < tl + 12 ? n : tl + 12;
    memcpy(joined, c->tail, c->tail_len);
    memcpy(joined + c->tail_len, p, head);
    const char *scan_from[2] = {joined, p};
    size_t scan_len[2] = {c->tail_len + head, n};
    for (int part = 0; part < 2; part++) {
        const char *s = scan_from[part], *end = s + scan_len[part];
        while ((s = memmem(s, (size_t)(end - s), tok, tl)) != NULL) {
            const char *d = s + tl;
            unsigned k = 0;
            int digits = 0;
            while (digits_follow && d < end && *d >= '0' && *d <= '9') {
                k = k * 10 + (unsigned)(*d - '0');
                d++;
                digits++;
            }
            /* complete: the number ends in a quote (or no number is read) */
            bool complete = !digits_follow || (d < end && *d == '"' && digits);
            /* in the joined part, only occurrences cut by the previous read's
             * end: starting in the tail, ending in the new bytes */
            size_t stop = (size_t)(d - joined) + (digits_follow ? 1 : 0); /* past the end */
            bool fresh = part == 1 || ((size_t)(s - joined) < c->tail_len && stop > c->tail_len);
            if (complete && fresh) {
                if (!digits_follow)
                    events_total++;
                else if (got && k < n_creates && c->coll == 0)
                    got[k]++;
            }
            s = d > s ? d : s + 1;
        }
    }
}

/* Counts events, and the "rt-<k>" titles of timed creates. */
static void scan_events(struct client *c, const char *p, size_t n)
{
    static const char ev[] = "data:{\"action\":\"", title[] = "\"title\":\"rt-";
    scan_tok(c, p, n, ev, sizeof(ev) - 1, false);
    scan_tok(c, p, n, title, sizeof(title) - 1, true);
    /* the last TAIL bytes seen, for the next read */
    if (n >= TAIL) {
        memcpy(c->tail, p + n - TAIL, TAIL);
        c->tail_len = TAIL;
    } else {
        size_t keep = c->tail_len + n <= TAIL ? c->tail_len : TAIL - n;
        memmove(c->tail, c->tail + c->tail_len - keep, keep);
        memcpy(c->tail + keep, p, n);
        c->tail_len = keep + n;
    }
}

static void subscribe_all(void);
static void connect_more(void);

static void client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct client *c = s->data;
    if (nread < 0) {
        if (c->state == 2)
            closed_streams++;
        c->state = 3;
        uv_close((uv_handle_t *)s, NULL);
        return;
    }
    if (c->state == 1) {
        c->acc = realloc(c->acc, c->acc_len + (size_t)nread + 1);
        memcpy(c->acc + c->acc_len, b->base, (size_t)nread);
        c->acc_len += (size_t)nread;
        c->acc[c->acc_len] = 0;
        char *body = strstr(c->acc, "\r\n\r\n");
        char *msg_end = body ? strstr(body + 4, "\n\n") : NULL;
        if (!msg_end)
            return;
        char *id = strstr(body, "id:");
        size_t l = id ? strcspn(id + 3, "\n") : 0;
        if (!id || l == 0 || l >= sizeof(c->id)) {
            fprintf(stderr, "client %u: no PB_CONNECT\n", c->idx);
            exit(1);
        }
        memcpy(c->id, id + 3, l);
        c->id[l] = 0;
        free(c->acc);
        c->acc = NULL;
        c->state = 2;
        connected++;
        inflight--;
        if (connected == n_clients)
            subscribe_all();
        else
            connect_more();
        return;
    }
    if (c->state == 2) {
        scan_events(c, b->base, (size_t)nread);
        maybe_done();
    }
}

static void connect_more(void);

static void on_connect(uv_connect_t *req, int status)
{
    struct client *c = req->data;
    free(req);
    if (status) {
        fprintf(stderr, "connect %u: %s\n", c->idx, uv_strerror(status));
        exit(1);
    }
    static const char get[] = "GET /api/realtime HTTP/1.1\r\nHost: bench\r\n\r\n";
    c->state = 1;
    send_bytes((uv_stream_t *)&c->tcp, get, sizeof(get) - 1);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, client_read);
    connect_more();
}

static void connect_more(void)
{
    while (next_connect < n_clients && inflight < INFLIGHT) {
        struct client *c = &clients[next_connect];
        c->idx = next_connect;
        c->coll = (int)(next_connect % n_colls);
        next_connect++;
        inflight++;
        uv_tcp_init(loop, &c->tcp);
        c->tcp.data = c;
        uv_connect_t *req = malloc(sizeof(*req));
        req->data = c;
        uv_tcp_connect(req, &c->tcp, (const struct sockaddr *)&addr, on_connect);
    }
}

/* ---- control connections: count the answers' status lines ---- */

static void ctl_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct ctl *c = s->data;
    if (nread < 0) {
        fprintf(stderr, "control connection closed: %s\n", uv_strerror((int)nread));
        exit(1);
    }
    if (c->in_len + (size_t)nread + 1 > c->in_cap) {
        c->in_cap = (c->in_len + (size_t)nread + 1) * 2;
        c->in = realloc(c->in, c->in_cap);
    }
    memcpy(c->in + c->in_len, b->base, (size_t)nread);
    c->in_len += (size_t)nread;
    c->in[c->in_len] = 0;
    c->on_read(c);
}

static void ctl_open(struct ctl *c, void (*on_read)(struct ctl *), void (*cb)(uv_connect_t *, int))
{
    uv_tcp_init(loop, &c->tcp);
    uv_tcp_nodelay(&c->tcp, 1);
    c->tcp.data = c;
    c->on_read = on_read;
    uv_connect_t *req = malloc(sizeof(*req));
    req->data = c;
    uv_tcp_connect(req, &c->tcp, (const struct sockaddr *)&addr, cb);
}

/* Consumes complete answers from c->in: 204s without a body, others with
 * a Content-Length. Returns the status of each through cb. */
static void ctl_answers(struct ctl *c, void (*cb)(int status, const char *body))
{
    for (;;) {
        char *end = strstr(c->in, "\r\n\r\n");
        if (!end)
            return;
        int status = atoi(c->in + 9);
        size_t len = 0;
        char *cl = strcasestr(c->in, "Content-Length:");
        if (cl && cl < end)
            len = (size_t)strtoul(cl + 15, NULL, 10);
        size_t total = (size_t)(end + 4 - c->in) + len;
        if (c->in_len < total)
            return;
        char save = c->in[total];
        c->in[total] = 0;
        cb(status, end + 4);
        c->in[total] = save;
        memmove(c->in, c->in + total, c->in_len - total + 1);
        c->in_len -= total;
    }
}

static void hold_done(uv_timer_t *t)
{
    (void)t;
    printf("held events=%llu dropped=%u\n", (unsigned long long)events_total, closed_streams);
    fflush(stdout);
    exit(0);
}

static void after_wait(uv_timer_t *t)
{
    (void)t;
    if (n_creates) {
        start_creates();
    } else {
        uv_timer_start(&timer, hold_done, hold_s * 1000, 0);
    }
}

static void on_sub_answer(int status, const char *body)
{
    if (status != 204) {
        fprintf(stderr, "subscribe answered %d: %s\n", status, body);
        exit(1);
    }
    if (++subscribed == n_clients) {
        printf("ready clients=%u subscribed=%u\n", connected, subscribed);
        fflush(stdout);
        uv_timer_start(&timer, after_wait, wait_s * 1000, 0);
    }
}

static void sub_read(struct ctl *c)
{
    ctl_answers(c, on_sub_answer);
}

static void sub_connected(uv_connect_t *req, int status)
{
    free(req);
    if (status) {
        fprintf(stderr, "control connect: %s\n", uv_strerror(status));
        exit(1);
    }
    uv_read_start((uv_stream_t *)&sub_ctl.tcp, alloc_cb, ctl_read);
    for (unsigned i = 0; i < n_clients; i++) {
        char body[256], reqb[512];
        int bl =
            snprintf(body, sizeof(body), "{\"clientId\":\"%s\",\"subscriptions\":[\"%s%d/*\"]}",
                     clients[i].id, prefix, clients[i].coll);
        int rl = snprintf(reqb, sizeof(reqb),
                          "POST /api/realtime HTTP/1.1\r\nHost: bench\r\nContent-Type: "
                          "application/json\r\nContent-Length: %d\r\n\r\n%s",
                          bl, body);
        send_bytes((uv_stream_t *)&sub_ctl.tcp, reqb, (size_t)rl);
    }
}

static void subscribe_all(void)
{
    ctl_open(&sub_ctl, sub_read, sub_connected);
}

/* ---- timed creates ---- */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, unsigned n, double p)
{
    if (!n)
        return 0;
    unsigned i = (unsigned)(p * (n - 1) + 0.5);
    return v[i];
}

static void finish(void)
{
    qsort(d_ack, n_done, sizeof(double), cmp_d);
    qsort(d_send, n_done, sizeof(double), cmp_d);
    printf("delay_ack_ms p50=%.2f p99=%.2f max=%.2f delay_send_ms p50=%.2f p99=%.2f max=%.2f "
           "missed=%u dropped=%u\n",
           pct(d_ack, n_done, 0.5), pct(d_ack, n_done, 0.99), n_done ? d_ack[n_done - 1] : 0,
           pct(d_send, n_done, 0.5), pct(d_send, n_done, 0.99), n_done ? d_send[n_done - 1] : 0,
           missed, closed_streams);
    fflush(stdout);
    exit(missed ? 1 : 0);
}

static void on_create_answer(int status, const char *body)
{
    if (status != 200) {
        fprintf(stderr, "create answered %d: %s\n", status, body);
        exit(1);
    }
    t_ack = now_ns();
    maybe_done();
}

static void create_read(struct ctl *c)
{
    ctl_answers(c, on_create_answer);
}

/* The create in progress is done once it was acknowledged and every
 * subscriber of rt0 has its event (called from both reads). */
static void maybe_done(void)
{
    if (!got || cur_create >= n_creates || !t_ack || got[cur_create] < per_coll0)
        return;
    t_done = now_ns();
    d_ack[n_done] = t_done > t_ack ? (double)(t_done - t_ack) / 1e6 : 0;
    d_send[n_done] = (double)(t_done - t_send) / 1e6;
    n_done++;
    cur_create++;
    next_create();
}

static void create_timeout(uv_timer_t *t)
{
    (void)t;
    missed++;
    cur_create++;
    next_create();
}

static void next_create(void)
{
    if (cur_create == n_creates) {
        finish();
        return;
    }
    char body[128], reqb[512];
    int bl = snprintf(body, sizeof(body), "{\"title\":\"rt-%u\"}", cur_create);
    int rl = snprintf(reqb, sizeof(reqb),
                      "POST /api/collections/%s0/records HTTP/1.1\r\nHost: bench\r\nContent-Type: "
                      "application/json\r\nContent-Length: %d\r\n\r\n%s",
                      prefix, bl, body);
    t_ack = 0;
    t_send = now_ns();
    send_bytes((uv_stream_t *)&create_ctl.tcp, reqb, (size_t)rl);
    uv_timer_start(&timer, create_timeout, 5000, 0);
}

static void create_connected(uv_connect_t *req, int status)
{
    free(req);
    if (status) {
        fprintf(stderr, "create connect: %s\n", uv_strerror(status));
        exit(1);
    }
    uv_read_start((uv_stream_t *)&create_ctl.tcp, alloc_cb, ctl_read);
    next_create();
}

static void start_creates(void)
{
    got = calloc(n_creates, sizeof(*got));
    d_ack = calloc(n_creates, sizeof(double));
    d_send = calloc(n_creates, sizeof(double));
    for (unsigned i = 0; i < n_clients; i++)
        per_coll0 += clients[i].coll == 0;
    ctl_open(&create_ctl, create_read, create_connected);
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "n:C:P:e:w:t:")) != -1) {
        switch (opt) {
        case 'n':
            n_clients = (unsigned)atoi(optarg);
            break;
        case 'C':
            n_colls = (unsigned)atoi(optarg);
            break;
        case 'P':
            prefix = optarg;
            break;
        case 'e':
            n_creates = (unsigned)atoi(optarg);
            break;
        case 'w':
            wait_s = (unsigned)atoi(optarg);
            break;
        case 't':
            hold_s = (unsigned)atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: sse_client [-n N] [-C COLLS] [-P PREFIX] [-e CREATES] "
                            "[-w WAIT_S] [-t HOLD_S] HOST PORT\n");
            return 1;
        }
    }
    if (argc - optind != 2 || !n_clients || !n_colls || n_creates > MAX_CREATES) {
        fprintf(stderr,
                "usage: sse_client [-n N] [-C COLLS] [-P PREFIX] [-e CREATES<=%d] "
                "[-w WAIT_S] [-t HOLD_S] HOST PORT\n",
                MAX_CREATES);
        return 1;
    }
    loop = uv_default_loop();
    uv_ip4_addr(argv[optind], atoi(argv[optind + 1]), &addr);
    clients = calloc(n_clients, sizeof(*clients));
    uv_timer_init(loop, &timer);
    connect_more();
    return uv_run(loop, UV_RUN_DEFAULT);
}
