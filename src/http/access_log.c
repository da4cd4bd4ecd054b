/*
 * The access log: one logfmt line per request at info level (method, path,
 * status, bytes, duration in µs, request id, client address), written when
 * the response is done. The line is formatted into a buffer the server keeps,
 * so a busy server does not allocate per request.
 */
#include "conn.h"

void sh__access_log(struct sh_http_conn *hc)
{
    struct sh_req *r = &hc->req;
    if (sh_log_min_level > SH_LOG_INFO)
        return;
    struct sh_buf *line = &hc->srv->log_line;
    line->len = 0;
    uint64_t us = (uv_hrtime() - r->start_ns) / 1000;
    sh_buf_appends(line, "level=info mod=access");
    sh_log_kv(line, "method", r->method_name.ptr ? r->method_name.ptr : "-",
              r->method_name.ptr ? r->method_name.len : 1);
    if (r->path.ptr)
        sh_log_kv(line, "path", r->path.ptr, r->path.len);
    else
        sh_log_kv(line, "path", "-", 1);
    sh_buf_appendf(line, " status=%d bytes=%llu us=%llu rid=%s ip=%s", r->status,
                   (unsigned long long)r->bytes_out, (unsigned long long)us,
                   r->rid[0] ? r->rid : "-",
                   r->client_ip[0]    ? r->client_ip
                   : hc->base.peer[0] ? hc->base.peer
                                      : "-");
    sh_log_raw(line->data, line->len);
}

void sh__access_log_deinit(struct sh_http_server *s)
{
    sh_buf_deinit(&s->log_line);
}
