/*
 * Responses: the status line and headers formatted by hand, CORS, the
 * response functions handlers call, and streaming. Every response is
 * formatted into the server's gather buffer (out.c), which the state machine
 * flushes after each batch of input; asynchronous responses flush at once.
 * Every error uses the API's one error shape.
 */
#include <stdio.h>
#include <string.h>

#include "conn.h"

const char *sh_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    case 507:
        return "Insufficient Storage";
    default:
        return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
    }
}

static int origin_allowed(const struct sh_config *cfg, struct sh_str origin)
{
    const char *list = cfg->cors_origins;
    if (strcmp(list, "*") == 0)
        return 1;
    while (*list) {
        const char *comma = strchr(list, ',');
        size_t n = comma ? (size_t)(comma - list) : strlen(list);
        while (n && *list == ' ') {
            list++;
            n--;
        }
        if (n == origin.len && memcmp(list, origin.ptr, n) == 0)
            return 1;
        if (!comma)
            break;
        list = comma + 1;
    }
    return 0;
}

static void append_header(struct sh_buf *b, const char *name, size_t nlen, const char *val,
                          size_t vlen)
{
    sh_buf_reserve(b, nlen + vlen + 4);
    memcpy(b->data + b->len, name, nlen);
    b->len += nlen;
    b->data[b->len++] = ':';
    b->data[b->len++] = ' ';
    memcpy(b->data + b->len, val, vlen);
    b->len += vlen;
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
}

#define HDR(b, name, val, vlen) append_header((b), name, sizeof(name) - 1, (val), (vlen))

void sh__res_emit(struct sh_http_conn *hc, int status, const char *ctype, const void *body,
                  size_t len, uint64_t content_length, int with_body)
{
    struct sh_req *r = &hc->req;
    const struct sh_config *cfg = hc->srv->cfg;
    struct sh_buf *out = sh__out_claim(hc);
    if (hc->close_after || hc->srv->draining)
        r->keep_alive = 0;

    /* Formatted by hand: printf was a tenth of the pipelined profile. */
    const char *reason = sh_http_reason(status);
    size_t rlen = strlen(reason);
    sh_buf_reserve(out, 16 + rlen);
    char *p = out->data + out->len;
    memcpy(p, "HTTP/1.1 ", 9);
    p[9] = (char)('0' + status / 100 % 10);
    p[10] = (char)('0' + status / 10 % 10);
    p[11] = (char)('0' + status % 10);
    p[12] = ' ';
    memcpy(p + 13, reason, rlen);
    p[13 + rlen] = '\r';
    p[14 + rlen] = '\n';
    out->len += 15 + rlen;
    /* Headers every response carries, as one constant block (one copy):
     * no MIME sniffing of API JSON or uploads, no framing by other sites
     * (PocketBase sends both). */
    static const char fixed[] = "Server: stagehand\r\n"
                                "X-Content-Type-Options: nosniff\r\n"
                                "X-Frame-Options: SAMEORIGIN\r\n"
                                "Date: ";
    sh_buf_reserve(out, sizeof(fixed) - 1 + 29 + 2);
    memcpy(out->data + out->len, fixed, sizeof(fixed) - 1);
    out->len += sizeof(fixed) - 1;
    memcpy(out->data + out->len, hc->srv->date.http, 29);
    out->data[out->len + 29] = '\r';
    out->data[out->len + 30] = '\n';
    out->len += 31;
    if (ctype)
        HDR(out, "Content-Type", ctype, strlen(ctype));
    if (status != 204 && status != 304 && !(status >= 100 && status < 200) &&
        content_length != SH__NO_LENGTH) {
        char num[24];
        size_t i = sizeof(num);
        uint64_t v = content_length;
        do {
            num[--i] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        HDR(out, "Content-Length", num + i, sizeof(num) - i);
    }
    if (r->rid[0])
        HDR(out, "X-Request-Id", r->rid, strlen(r->rid));
    const struct sh_str *origin = sh_req_header(r, "Origin");
    if (origin && origin_allowed(cfg, *origin)) {
        if (strcmp(cfg->cors_origins, "*") == 0) {
            HDR(out, "Access-Control-Allow-Origin", "*", 1);
        } else {
            HDR(out, "Access-Control-Allow-Origin", origin->ptr, origin->len);
            HDR(out, "Vary", "Origin", 6);
        }
    }
    for (unsigned i = 0; i < r->nres_headers; i++)
        append_header(out, r->res_headers[i].name.ptr, r->res_headers[i].name.len,
                      r->res_headers[i].value.ptr, r->res_headers[i].value.len);
    if (!r->keep_alive)
        HDR(out, "Connection", "close", 5);
    else if (r->http_minor == 0)
        HDR(out, "Connection", "keep-alive", 10);
    sh_buf_append(out, "\r\n", 2);
    if (with_body && len && r->method != SH_METHOD_HEAD)
        sh_buf_append(out, body, len);
    r->status = status;
    r->bytes_out = content_length == SH__NO_LENGTH ? 0 : content_length;
}

void sh_res_header(struct sh_req *r, const char *name, const char *value)
{
    struct sh_http_conn *hc = r->conn;
    if (r->nres_headers == r->res_headers_cap) {
        unsigned cap = r->res_headers_cap ? r->res_headers_cap * 2 : 8;
        struct sh_header *h = sh_arena_alloc(&hc->arena, cap * sizeof(*h));
        if (!h)
            return;
        if (r->nres_headers)
            memcpy(h, r->res_headers, r->nres_headers * sizeof(*h));
        r->res_headers = h;
        r->res_headers_cap = cap;
    }
    size_t nl = strlen(name), vl = strlen(value);
    char *nc = sh_arena_strndup(&hc->arena, name, nl);
    char *vc = sh_arena_strndup(&hc->arena, value, vl);
    if (!nc || !vc)
        return;
    r->res_headers[r->nres_headers++] = (struct sh_header){{nc, nl}, {vc, vl}};
}

void sh_res_send(struct sh_req *r, int status, const char *ctype, const void *body, size_t len)
{
    struct sh_http_conn *hc = r->conn;
    if (r->responded)
        return;
    r->responded = 1;
    sh__res_emit(hc, status, ctype, body, len, len, 1);
    sh__req_done(hc);
}

void sh_res_json(struct sh_req *r, int status, const char *json, size_t len)
{
    sh_res_send(r, status, "application/json", json, len);
}

/* Appends s as a JSON string literal. */
static void json_string(struct sh_buf *b, const char *s)
{
    sh_buf_append(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sh_buf_append(b, e, 2);
        } else if (c < 0x20) {
            sh_buf_appendf(b, "\\u%04x", c);
        } else {
            sh_buf_append(b, s, 1);
        }
    }
    sh_buf_append(b, "\"", 1);
}

void sh_res_error(struct sh_req *r, int status, const char *message, const char *data_json)
{
    struct sh_buf b;
    sh_buf_init(&b);
    sh_buf_appendf(&b, "{\"status\":%d,\"message\":", status);
    json_string(&b, message);
    sh_buf_appends(&b, ",\"data\":");
    sh_buf_appends(&b, data_json ? data_json : "{}");
    sh_buf_append(&b, "}", 1);
    sh_res_json(r, status, b.data, b.len);
    sh_buf_deinit(&b);
}

void sh__conn_fail(struct sh_http_conn *hc, int status, const char *reason)
{
    struct sh_req *r = &hc->req;
    hc->state = SH_ST_DEAD;
    hc->close_after = 1;
    r->keep_alive = 0;
    if (!r->responded)
        sh_res_error(r, status, reason, NULL);
}

void sh_res_stream_start(struct sh_req *r, int status, const char *ctype, uint64_t length)
{
    struct sh_http_conn *hc = r->conn;
    r->streaming = 1;
    sh__res_emit(hc, status, ctype, NULL, 0, length, 0);
    sh__out_flush(hc);
}

void sh_res_stream_write(struct sh_req *r, const void *data, size_t len)
{
    struct sh_http_conn *hc = r->conn;
    if (r->method == SH_METHOD_HEAD || len == 0)
        return;
    sh__out_send(hc, data, len);
}

size_t sh_res_stream_queued(const struct sh_req *r)
{
    return r->conn->base.queued;
}

size_t sh_res_stream_limit(const struct sh_req *r)
{
    size_t lim = r->conn->srv->cfg->max_write_buffer;
    return lim < 256 * 1024 ? lim : 256 * 1024;
}

void sh_res_stream_on_drained(struct sh_req *r, void (*cb)(void *), void *arg)
{
    r->conn->drain_cb = cb;
    r->conn->drain_arg = arg;
    sh__deadline_write(r->conn); /* a client that stops reading is dropped */
}

void sh_res_stream_end(struct sh_req *r)
{
    if (r->responded)
        return;
    r->responded = 1;
    r->streaming = 0;
    sh__req_done(r->conn);
}

void sh_res_stream_abort(struct sh_req *r)
{
    struct sh_http_conn *hc = r->conn;
    hc->close_after = 1;
    r->keep_alive = 0;
    sh_res_stream_end(r);
}
