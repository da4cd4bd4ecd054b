/*
 * llhttp glue: what turns a validated head and its body into a struct
 * sh_req. The head validator (head.c) has already checked the grammar llhttp
 * 8.1 is lenient about, so nothing here checks it again.
 *
 * One pass reads the head (sh__parser_feed_head): the validated head is
 * copied into the request arena once and its request line and field lines
 * are cut in place (memchr for the spaces, the colon and the line end;
 * values OWS-trimmed and NUL-terminated). A request without a body or an
 * Upgrade never reaches llhttp at all; otherwise llhttp sees only the
 * request line, the fields that frame the message (Content-Length,
 * Transfer-Encoding, Connection, Upgrade) and the empty line, then the body.
 * A token, a cookie or a user agent is no longer scanned byte by byte by
 * llhttp after the validator scanned it. Everything kept is in the arena:
 * the read buffer is reused by the next read.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "conn.h"

static struct sh_http_conn *conn_of(llhttp_t *p)
{
    return p->data;
}

static int reject(struct sh_http_conn *hc, int status, const char *reason)
{
    hc->err_status = status;
    hc->err_reason = reason;
    return -1;
}

/* Trailer fields (after a chunked body) are counted against the head limit
 * and dropped: they never passed the validator, so they must not read as
 * request headers. */
static int trailer(struct sh_http_conn *hc, size_t len)
{
    hc->trailer_bytes += len;
    if (hc->trailer_bytes > hc->srv->cfg->max_header_bytes)
        return reject(hc, 431, "Request trailer fields too large.");
    return 0;
}

/* Head fields were taken by sh__parser_feed_head; what llhttp reports of
 * them is the framing it needs, already in r->headers. */
static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct sh_http_conn *hc = conn_of(p);
    (void)at;
    return hc->in_trailers ? trailer(hc, len) : 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct sh_http_conn *hc = conn_of(p);
    (void)at;
    return hc->in_trailers ? trailer(hc, len) : 0;
}

/* Whether llhttp must see the field line name[0..n): it frames the message
 * or decides what follows it. */
static bool framing(const char *name, size_t n)
{
    switch (n) {
    case 7:
        return strncasecmp(name, "upgrade", 7) == 0;
    case 10:
        return strncasecmp(name, "connection", 10) == 0;
    case 14:
        return strncasecmp(name, "content-length", 14) == 0;
    case 17:
        return strncasecmp(name, "transfer-encoding", 17) == 0;
    default:
        return false;
    }
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int head_complete(struct sh_http_conn *hc);
static void message_complete(struct sh_http_conn *hc);
static enum sh_method method_of(struct sh_str m);

llhttp_errno_t sh__parser_feed_head(struct sh_http_conn *hc, const char *p)
{
    struct sh_req *r = &hc->req;
    size_t len = hc->head.head_len, pos = 2 * hc->head.skip;
    unsigned cap = hc->head.nheaders, k = 0;
    char *copy = sh_arena_alloc(&hc->arena, len);
    struct sh_header *h = sh_arena_alloc(&hc->arena, (cap ? cap : 1) * sizeof(*h));
    if (!copy || !h) {
        reject(hc, 431, "Request header fields too large.");
        return HPE_USER;
    }
    memcpy(copy, p, len);
    /* The validator saw `method SP target SP version CRLF`, every line end
     * in CRLF and every field line hold a colon after a non-empty name: the
     * searches below always find one. */
    const char *rl = p + pos, *nl;
    /* where the validator found the request line's spaces and end */
    size_t line = hc->head.rl_end - pos, sp1 = hc->head.rl_sp1 - pos, sp2 = hc->head.rl_sp2 - pos;
    copy[pos + sp1] = copy[pos + sp2] = 0;
    r->method_name = (struct sh_str){copy + pos, sp1};
    r->target = (struct sh_str){copy + pos + sp1 + 1, sp2 - sp1 - 1};
    r->method = method_of(r->method_name);
    /* llhttp is needed for a body (its framing), an Upgrade (which closes
     * the connection after the request) or a method other than the seven we
     * serve (llhttp knows which tokens are methods: "ANNOUNCE" is RTSP's); a
     * request with none of these never reaches it, and llhttp stays at a
     * message start. */
    bool upgrade = false;
    uint64_t lens = 0;
    size_t fields = pos + line;
    for (pos = fields; p[pos] != '\r' && k < cap; pos += line) {
        const char *ln = p + pos;
        nl = memchr(ln, '\n', len - pos);
        line = (size_t)(nl + 1 - ln);
        size_t n = (size_t)((const char *)memchr(ln, ':', line) - ln);
        size_t vs = n + 1, ve = line - 2;
        while (vs < ve && is_ows(ln[vs]))
            vs++;
        while (ve > vs && is_ows(ln[ve - 1]))
            ve--;
        char *c = copy + pos;
        c[n] = 0;
        c[ve] = 0;
        lens |= (uint64_t)1 << (n & 63);
        h[k].name = (struct sh_str){c, n};
        h[k++].value = (struct sh_str){c + vs, ve - vs};
        upgrade |= n == 7 && strncasecmp(ln, "upgrade", 7) == 0;
    }
    r->headers = h;
    r->nheaders = k;
    r->header_lens = lens;
    if (!hc->head.has_content_length && !hc->head.chunked && !upgrade &&
        r->method != SH_METHOD_OTHER) {
        if (head_complete(hc) != 0)
            return HPE_USER;
        message_complete(hc);
        return HPE_PAUSED; /* complete, as llhttp would say after an empty line */
    }
    llhttp_errno_t err = llhttp_execute(&hc->parser, rl, (size_t)(p + fields - rl));
    for (pos = fields; err == HPE_OK && p[pos] != '\r'; pos += line) {
        const char *ln = p + pos;
        line = (size_t)((const char *)memchr(ln, '\n', len - pos) + 1 - ln);
        size_t n = (size_t)((const char *)memchr(ln, ':', line) - ln);
        if (framing(ln, n))
            err = llhttp_execute(&hc->parser, ln, line);
    }
    /* the empty line: the head is complete */
    return err == HPE_OK ? llhttp_execute(&hc->parser, p + pos, 2) : err;
}

static void send_continue(struct sh_http_conn *hc)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    sh__out_send(hc, cont, sizeof(cont) - 1); /* after anything gathered before it */
}

/* The head is complete (fields in r->headers): body limits, the multipart
 * reader, the target; 0 or -1 after reject(). */
static int head_complete(struct sh_http_conn *hc)
{
    const struct sh_config *cfg = hc->srv->cfg;
    hc->in_trailers = 1; /* any field from here on is a trailer */
    /* Uploads (multipart) are read by the multipart reader as they arrive
     * (form.c), up to --max-upload, keeping only their fields' values; every
     * other body is parsed whole, as JSON, so past --max-json-body it is not
     * even kept. Either way what is kept is at most --max-json-body. */
    const struct sh_str *ct = sh_req_header(&hc->req, "Content-Type");
    bool multipart = ct && ct->len >= 10 && strncasecmp(ct->ptr, "multipart/", 10) == 0;
    uint64_t limit = multipart ? cfg->max_upload : cfg->max_body;
    if (hc->head.has_content_length && hc->head.content_length > limit)
        return reject(hc, 413, "Request body is too large.");
    hc->body_keep = cfg->max_json_body > cfg->max_body ? cfg->max_body : cfg->max_json_body;
    if (multipart)
        sh__form_begin(hc, ct);
    int status = sh__req_finish_head(hc);
    if (status)
        return reject(hc, status, "Invalid request target.");
    if (hc->head.expect_continue && hc->req.http_minor == 1 &&
        (hc->head.chunked || hc->head.content_length > 0))
        send_continue(hc);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct sh_http_conn *hc = conn_of(p);
    /* Upgrade is ignored (RFC 9110 7.8 lets a server do so): the request is
     * served as plain HTTP/1.1, so `curl --http2` on http:// still works,
     * and the connection closes after it, since the client may already be
     * sending bytes of the other protocol. CONNECT never gets here. */
    if (p->upgrade) {
        p->upgrade = 0;
        hc->close_after = 1;
    }
    return head_complete(hc);
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct sh_http_conn *hc = conn_of(p);
    hc->body_seen += len;
    const struct sh_config *cfg = hc->srv->cfg;
    if (hc->body_seen > (hc->req.is_form ? cfg->max_upload : cfg->max_body))
        return reject(hc, 413, "Request body is too large.");
    if (hc->req.is_form) {
        int status = sh__form_body(hc, at, len);
        return status ? reject(hc, status, "Request header fields too large.") : 0;
    }
    if (hc->req.body_over)
        return 0; /* dropped as it comes (Content-Length still frames it) */
    if (hc->body.len + len > hc->body_keep) {
        hc->req.body_over = 1;
        hc->body.len = 0; /* the server shrinks a large body buffer at the next request */
        return 0;
    }
    sh_buf_append(&hc->body, at, len);
    return 0;
}

static int on_chunk_ext(llhttp_t *p, const char *at, size_t len)
{
    struct sh_http_conn *hc = conn_of(p);
    (void)at;
    hc->chunk_ext += len;
    if (hc->chunk_ext > hc->srv->cfg->max_chunk_ext)
        return reject(hc, 400, "Chunk extensions are too long.");
    return 0;
}

static void message_complete(struct sh_http_conn *hc)
{
    if (hc->req.is_form)
        sh__form_finish(hc);
}

static int on_message_complete(llhttp_t *p)
{
    message_complete(conn_of(p));
    /* Stop here: the next request's head goes through the validator first. */
    return HPE_PAUSED;
}

/* Constant: every parser of every server shares it, and nothing writes it. */
static const llhttp_settings_t settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_extension_name = on_chunk_ext,
    .on_chunk_extension_value = on_chunk_ext,
    .on_message_complete = on_message_complete,
};

void sh__parser_init(struct sh_http_conn *hc)
{
    llhttp_init(&hc->parser, HTTP_REQUEST, &settings);
    hc->parser.data = hc;
}

void sh__req_begin(struct sh_http_conn *hc)
{
    struct sh_req *r = &hc->req;
    /* Zeroed but for the router's parameter arrays (read up to nparams
     * only) and the two string buffers (read up to their NUL): most of the
     * struct's bytes, and this runs on every request. */
    memset(r, 0, offsetof(struct sh_req, param_names));
    memset(&r->nparams, 0, offsetof(struct sh_req, client_ip) - offsetof(struct sh_req, nparams));
    r->client_ip[0] = 0;
    r->rid[0] = 0;
    memset(&r->start_ns, 0, sizeof(*r) - offsetof(struct sh_req, start_ns));
    r->conn = hc;
    r->arena = &hc->arena;
    r->gen = hc->gen;
    hc->chunk_ext = 0;
    hc->body_seen = 0;
    hc->in_trailers = 0;
    hc->trailer_bytes = 0;
    hc->err_status = 0;
    hc->err_reason = NULL;
    hc->form = NULL; /* it lived in the arena */
    hc->upload_wait = 0;
    hc->dispatch_pending = 0;
    /* A large body's buffer is not kept for the next request on the
     * connection: a spike is given back at once. */
    if (hc->body.cap > 64 * 1024)
        sh_buf_deinit(&hc->body);
    hc->body.len = 0;
}

static enum sh_method method_of(struct sh_str m)
{
    static const struct {
        const char *name;
        enum sh_method m;
    } table[] = {{"GET", SH_METHOD_GET},        {"HEAD", SH_METHOD_HEAD},
                 {"POST", SH_METHOD_POST},      {"PUT", SH_METHOD_PUT},
                 {"PATCH", SH_METHOD_PATCH},    {"DELETE", SH_METHOD_DELETE},
                 {"OPTIONS", SH_METHOD_OPTIONS}};
    for (size_t i = 0; i < SH_ARRAY_LEN(table); i++)
        if (sh_str_eq(m, table[i].name))
            return table[i].m;
    return SH_METHOD_OTHER;
}

int sh__req_finish_head(struct sh_http_conn *hc)
{
    struct sh_req *r = &hc->req;
    r->http_minor = hc->head.http_minor; /* r->method: sh__parser_feed_head */
    /* From the validator's reading of Connection (llhttp 8.1 misreads "close\t"). */
    r->keep_alive = hc->head.conn_close ? 0 : r->http_minor == 1 ? 1 : hc->head.conn_keep_alive;

    const char *t = r->target.ptr;
    size_t n = r->target.len;
    /* absolute-form: skip scheme and authority */
    size_t scheme = n > 7 && memcmp(t, "http://", 7) == 0    ? 7
                    : n > 8 && memcmp(t, "https://", 8) == 0 ? 8
                                                             : 0;
    if (scheme) {
        const char *slash = memchr(t + scheme, '/', n - scheme);
        if (!slash) {
            t = "/";
            n = 1;
        } else {
            n -= (size_t)(slash - t);
            t = slash;
        }
    }
    if (n == 1 && t[0] == '*' && r->method == SH_METHOD_OPTIONS) {
        r->path = SH_STR("*");
        return 0;
    }
    if (n == 0 || t[0] != '/')
        return 400;
    const char *q = memchr(t, '?', n);
    size_t plen = q ? (size_t)(q - t) : n;
    if (q)
        r->query = (struct sh_str){q + 1, n - plen - 1};
    char *path = sh_arena_alloc(&hc->arena, plen + 1);
    if (!path)
        return 414;
    long o = sh_http_percent_decode(path, t, plen, SH_PCT_PATH);
    if (o < 0)
        return 400;
    r->path = (struct sh_str){path, (size_t)o};
    if (r->query.len && sh__query_parse(&hc->arena, r->query, &r->qparams, &r->nqparams))
        return 414;
    return 0;
}
