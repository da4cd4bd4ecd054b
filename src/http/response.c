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

/* Headers every response carries, after the status line, as one constant
 * block: no MIME sniffing of API JSON or uploads, no framing by other sites
 * (PocketBase sends both). The Date value and its CRLF follow. */
static const char fixed[] = "Server: stagehand\r\n"
                            "X-Content-Type-Options: nosniff\r\n"
                            "X-Frame-Options: SAMEORIGIN\r\n"
                            "Date: ";
#define FIXED_LEN (sizeof(fixed) - 1)
#define DATE_LEN  29
#define HEAD_MAX  (15 + 32 + FIXED_LEN + DATE_LEN + 2) /* status line (reason <= 32) to Date */

/* Writes the status line, the fixed headers and Date at p (HEAD_MAX bytes
 * of room); returns the end. By hand: printf was a tenth of the pipelined
 * profile. */
static char *put_head(char *p, int status, const char *reason, const char *date)
{
    size_t rlen = strlen(reason);
    if (rlen > 32)
        rlen = 32;
    memcpy(p, "HTTP/1.1 ", 9);
    p[9] = (char)('0' + status / 100 % 10);
    p[10] = (char)('0' + status / 10 % 10);
    p[11] = (char)('0' + status % 10);
    p[12] = ' ';
    memcpy(p + 13, reason, rlen);
    p += 13 + rlen;
    memcpy(p, "\r\n", 2);
    memcpy(p + 2, fixed, FIXED_LEN);
    p += 2 + FIXED_LEN;
    memcpy(p, date, DATE_LEN);
    memcpy(p + DATE_LEN, "\r\n", 2);
    return p + DATE_LEN + 2;
}

/* Writes "name: val\r\n" at p; returns the end. */
static char *put_field(char *p, const char *name, size_t nlen, const char *val, size_t vlen)
{
    memcpy(p, name, nlen);
    memcpy(p + nlen, ": ", 2);
    memcpy(p + nlen + 2, val, vlen);
    memcpy(p + nlen + 2 + vlen, "\r\n", 2);
    return p + nlen + 4 + vlen;
}

void sh__res_emit(struct sh_http_conn *hc, int status, const char *ctype, const void *body,
                  size_t len, uint64_t content_length, int with_body)
{
    struct sh_req *r = &hc->req;
    struct sh_http_server *s = hc->srv;
    const struct sh_config *cfg = s->cfg;
    struct sh_buf *out = sh__out_claim(hc);
    if (hc->close_after || s->draining)
        r->keep_alive = 0;

    /* Everything up to X-Request-Id is written into one reservation, with
     * no call per header: the status line to Date is a block kept per
     * second for 200 (most responses), Content-Length is put by hand. */
    size_t clen = ctype ? strlen(ctype) : 0, ridlen = strlen(r->rid);
    sh_buf_reserve(out, HEAD_MAX + (clen + 16) + (16 + 20 + 2) + (16 + ridlen));
    char *p = out->data + out->len;
    if (status == 200) {
        if (s->head200_sec != s->date.sec || !s->head200_len) {
            s->head200_len = (size_t)(put_head(s->head200, 200, "OK", s->date.http) - s->head200);
            s->head200_sec = s->date.sec;
        }
        memcpy(p, s->head200, s->head200_len);
        p += s->head200_len;
    } else {
        p = put_head(p, status, sh_http_reason(status), s->date.http);
    }
    if (ctype)
        p = put_field(p, "Content-Type", 12, ctype, clen);
    if (status != 204 && status != 304 && !(status >= 100 && status < 200) &&
        content_length != SH__NO_LENGTH) {
        char num[24];
        size_t i = sizeof(num);
        uint64_t v = content_length;
        do {
            num[--i] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        p = put_field(p, "Content-Length", 14, num + i, sizeof(num) - i);
    }
    if (ridlen)
        p = put_field(p, "X-Request-Id", 12, r->rid, ridlen);
    out->len = (size_t)(p - out->data);
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
    if (!(with_body && r->method != SH_METHOD_HEAD))
        len = 0;
    sh_buf_reserve(out, 2 + len);
    memcpy(out->data + out->len, "\r\n", 2);
    if (len)
        memcpy(out->data + out->len + 2, body, len);
    out->len += 2 + len;
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
