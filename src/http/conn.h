/*
 * The HTTP connection: what the http module keeps per connection on top of
 * net's struct sh_conn, shared by its files (server, parser, request,
 * access_log, out, response; static.c uses the public API only), and the
 * functions they call in each other. Not a public header.
 */
#ifndef SH_HTTP_CONN_H
#define SH_HTTP_CONN_H

#include <llhttp.h>

#include "head.h"
#include "stagehand/http.h"

enum sh_conn_state {
    SH_ST_IDLE,    /* between requests, nothing received */
    SH_ST_HEAD,    /* receiving a request head */
    SH_ST_BODY,    /* head parsed, receiving the body */
    SH_ST_HANDLER, /* the request is with its handler */
    SH_ST_DEAD,    /* a protocol error was answered; nothing more is read */
};

struct sh_http_conn {
    struct sh_conn base; /* first: net allocates and frees the whole struct */
    struct sh_http_server *srv;
    enum sh_conn_state state;
    llhttp_t parser;
    struct sh_head_state head;
    struct sh_buf in;   /* received bytes not yet consumed, from a request's start */
    struct sh_buf body; /* the body of the request being received */
    struct sh_arena arena;
    struct sh_req req;
    uint32_t gen;
    uint64_t deadline; /* loop time (ms) the current phase must end by; 0 = none */
    uint64_t armed;    /* the deadline the timer is set for */
    size_t chunk_ext;  /* chunk-extension bytes of this request */
    size_t body_keep;  /* body bytes kept for this request (see sh_req.body_over) */
    size_t body_seen;  /* body bytes received for this request, kept or not */
    size_t trailer_bytes;
    unsigned in_trailers : 1; /* the head is done: fields now are trailers */
    int err_status;           /* set by a parser callback that rejects the request */
    const char *err_reason;
    unsigned in_handler : 1;  /* the handler is on the stack */
    unsigned in_process : 1;  /* process_input is on the stack */
    unsigned paused : 1;      /* too much queued: processing waits for on_drained */
    unsigned close_after : 1; /* close once the current response is written */
    unsigned yielded : 1;     /* batch bound reached: on the server's yield list */
    unsigned batch;           /* requests dispatched in the current batch */
    struct sh_http_conn *yield_next;
    struct sh_req_watch *watch;    /* an asynchronous step of the current request */
    struct sh__form_reader *form;  /* the multipart reader of this request (arena); NULL = none */
    struct sh__uploads *uploads;   /* its file parts' temporary files (upload.c); NULL = none */
    unsigned upload_wait : 1;      /* too many file bytes queued: reading waits for the disk */
    unsigned dispatch_pending : 1; /* the message is complete, its files not yet written */
    /* streaming producer waiting for the queue to drain */
    void (*drain_cb)(void *);
    void *drain_arg;
    /* an event stream (sse.c): the request stays with its handler, input is
     * dropped, and sse_closed(sse_arg) runs once when the connection goes */
    unsigned sse : 1;
    void (*sse_closed)(void *);
    void *sse_arg;
};

/* Who calls whom: server.c (the state machine) drives parser.c, request.c,
 * access_log.c and out.c; response.c formats into out.c and tells server.c
 * when a request is done (the one call back into the state machine). */

/* parser.c */
void sh__parser_init(struct sh_http_conn *hc);
/* Takes the head the validator accepted (hc->head is SH_HEAD_DONE; p holds
 * its head_len bytes): method, target and fields into the request; for a
 * body or an Upgrade, its request line and framing fields through llhttp.
 * Returns llhttp's result for the head: HPE_OK (a body follows), HPE_PAUSED
 * (the message is complete) or an error (hc->err_status set when refused). */
llhttp_errno_t sh__parser_feed_head(struct sh_http_conn *hc, const char *p);
/* Prepares request state for a new message (arena, headers, body). */
void sh__req_begin(struct sh_http_conn *hc);
/* Resolves target into path and query (decoded into r->qparams); 0 or an
 * HTTP status to answer. */
int sh__req_finish_head(struct sh_http_conn *hc);

/* form.c: multipart/form-data bodies read as they arrive */
/* The head is complete and says multipart/form-data with Content-Type ct:
 * sets up the reader in the request arena. A bad boundary is kept as the
 * request's form_error (answered by the handler). */
void sh__form_begin(struct sh_http_conn *hc, const struct sh_str *ct);
/* Body bytes of a form request. 0, or an HTTP status to fail the connection. */
int sh__form_body(struct sh_http_conn *hc, const char *at, size_t len);
/* The body is complete: checks the close delimiter and fills req.form. */
void sh__form_finish(struct sh_http_conn *hc);

/* upload.c: file parts to temporary files, off the loop */
/* A file part begins: queues its temporary file (under <dir>/storage/.tmp/)
 * and sets *path to its name, valid until the next call (the table of
 * uploads moves as it grows: copy it). 0 or -1. */
int sh__upload_file_begin(struct sh_http_conn *hc, const char **path);
/* Queues a copy of the part's bytes; sets upload_wait past the high mark. */
void sh__upload_file_data(struct sh_http_conn *hc, const char *at, size_t len);
/* The part ended: queues the close of its file. */
void sh__upload_file_end(struct sh_http_conn *hc);
/* Is a file operation of hc's request queued or in flight? */
bool sh__upload_busy(const struct sh_http_conn *hc);
/* The first error (negative errno) writing hc's files, 0 if none. */
int sh__upload_error(const struct sh_http_conn *hc);
/* Start-up, before the loop serves: removes the temporary files a previous
 * run left in <dir>/storage/.tmp/ (a crash mid-upload; none is referenced).
 * Blocking; returns how many. */
unsigned sh__upload_sweep(const char *dir);

/* request.c */
/* Decodes query into *out (arena memory, *n entries; empty pieces between
 * '&' are skipped). 0, or -ENOMEM when the arena is at its limit. */
int sh__query_parse(struct sh_arena *a, struct sh_str query, const struct sh_query_param **out,
                    unsigned *n);
/* Sets r->rid: the client's X-Request-Id when it is 1-64 bytes of
 * [A-Za-z0-9._:-], else a new id from s's sequence. */
void sh__req_assign_id(struct sh_http_server *s, struct sh_req *r);
/* The request of hc ended or hc is going away: its watch reads NULL. */
void sh__req_watch_clear(struct sh_http_conn *hc);

/* access_log.c */
/* Writes the access line of hc's request (at info level). */
void sh__access_log(struct sh_http_conn *hc);
void sh__access_log_deinit(struct sh_http_server *s);

/* out.c: the gather buffer, and the only writes to the socket */
/* The server's gather buffer, claimed for hc (what it held for another
 * connection is flushed to that one first): append a response to it. */
struct sh_buf *sh__out_claim(struct sh_http_conn *hc);
/* Hands the gathered output of hc to the connection (one writev). */
void sh__out_flush(struct sh_http_conn *hc);
/* Output of hc not yet written: queued on the socket plus gathered. */
size_t sh__out_pending(const struct sh_http_conn *hc);
/* Sends data[0..len) on hc now, after what is gathered for it; the bytes
 * are copied if the kernel does not take them at once. */
void sh__out_send(struct sh_http_conn *hc, const void *data, size_t len);
/* hc is being freed: what is gathered for it is dropped. */
void sh__out_forget(struct sh_http_conn *hc);
/* sh__out_send with several buffers, in one write when the kernel takes them. */
void sh__out_sendv(struct sh_http_conn *hc, const uv_buf_t *bufs, unsigned n);
void sh__out_deinit(struct sh_http_server *s);

/* response.c */
/* Formats a complete response into the output gathered for hc;
 * content_length SH__NO_LENGTH leaves Content-Length out (a body that ends
 * with the connection: event streams). */
#define SH__NO_LENGTH UINT64_MAX
void sh__res_emit(struct sh_http_conn *hc, int status, const char *ctype, const void *body,
                  size_t len, uint64_t content_length, int with_body);
/* Answers a protocol-level error and closes after writing. */
void sh__conn_fail(struct sh_http_conn *hc, int status, const char *reason);

/* server.c */
/* Arms the write deadline: the queue must drain within --write-timeout. */
void sh__deadline_write(struct sh_http_conn *hc);
/* The request of hc got its response: log it, reset, go on with the input. */
void sh__req_done(struct sh_http_conn *hc);
/* The upload chain of hc moved (upload.c): dispatch the waiting message
 * once its files are written, or read on below the low mark. */
void sh__conn_upload_resume(struct sh_http_conn *hc);

/* Only out.c writes to the socket: a direct write anywhere else could
 * overtake responses gathered before it. */
#ifndef SH_HTTP_OUT_C
#pragma GCC poison sh_conn_send
#endif

#endif
