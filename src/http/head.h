/*
 * The request-head validator: RFC 9112 grammar checked by stagehand itself,
 * before llhttp sees the bytes, because Debian's llhttp 8.1.0 is lenient where
 * newer parsers are strict (obs-fold, whitespace before the colon, bare CR,
 * Transfer-Encoding on HTTP/1.0, ...). It is incremental: feed it the bytes
 * received so far for the current request (always from the start of the
 * request); it resumes after the last complete line it already checked, so a
 * head trickled byte by byte costs linear time.
 */
#ifndef SH_HTTP_HEAD_H
#define SH_HTTP_HEAD_H

#include <stddef.h>
#include <stdint.h>

struct sh_head_limits {
    size_t max_url;       /* request-line target bytes; over it: 414 */
    size_t max_head;      /* whole head incl. request line and final CRLF; over it: 431 */
    unsigned max_headers; /* header field lines; over it: 431 */
};

enum sh_head_result {
    SH_HEAD_MORE = 0,   /* head incomplete so far, no error yet: feed more */
    SH_HEAD_DONE = 1,   /* complete and valid; st->head_len is its length */
    SH_HEAD_ERROR = -1, /* invalid; st->status and st->reason say why */
};

struct sh_head_state {
    /* progress (private to the validator) */
    size_t pos;    /* start of the first line not yet complete */
    size_t skip;   /* leading empty lines (CRLF) ignored before the request line */
    unsigned line; /* lines checked so far, request line = 1 */
    unsigned nheaders;
    size_t scan;           /* checked bytes of the current, incomplete line end here */
    size_t sep1, sep2;     /* in it: target and version starts, or the value start; 0 = not yet */
    unsigned te_other : 1; /* a Transfer-Encoding coding other than chunked was seen */

    /* results, valid once SH_HEAD_DONE is returned */
    size_t head_len; /* bytes up to and including the final CRLF CRLF (incl. skip) */
    int http_minor;  /* 0 or 1 (HTTP/1.x only) */
    unsigned has_host : 1;
    unsigned has_content_length : 1;
    unsigned chunked : 1; /* Transfer-Encoding: chunked (the only coding accepted) */
    unsigned expect_continue : 1;
    unsigned conn_close : 1;      /* Connection lists close */
    unsigned conn_keep_alive : 1; /* Connection lists keep-alive */
    uint64_t content_length;
    /* the request line's two spaces and the end of its CRLF, as offsets
     * from buf: the parser cuts the line without searching it again */
    size_t rl_sp1, rl_sp2, rl_end;

    /* error, valid once SH_HEAD_ERROR is returned */
    int status;         /* 400, 414, 431, 501 or 505 */
    const char *reason; /* static sentence for the log and the error body */
};

void sh_head_init(struct sh_head_state *st);

/*
 * Checks buf[0..len) which holds the request received so far (the same prefix
 * as last time plus any new bytes). Returns SH_HEAD_MORE, SH_HEAD_DONE or
 * SH_HEAD_ERROR. Once DONE or ERROR was returned, further calls return the
 * same. Up to 8 empty lines (CRLF) before the request line are skipped. Errors
 * in an incomplete line are reported as soon as the bytes showing them arrive
 * (a bare LF at once, a target over max_url before its CRLF, more than
 * max_head bytes without the end of the head: 431). Rejects (400 unless noted):
 *  - any line not ending in CRLF (bare LF, bare CR anywhere);
 *  - a request line that is not `token SP target SP HTTP/1.0|HTTP/1.1`, e.g.
 *    HTTP/0.9 (no version) or HTTP/1.2; a well-formed HTTP/d.d with another
 *    major version (505); the CONNECT method (we do not proxy); a target
 *    with bytes outside visible ASCII; a target longer than max_url (414);
 *  - a header line starting with SP or HTAB (obs-fold), a field name with a
 *    non-token byte or empty, whitespace before the colon;
 *  - a control byte (other than HTAB) or DEL in a field value;
 *  - more than max_headers fields or a head longer than max_head (431);
 *  - Content-Length that is not 1*DIGIT (after OWS), above 2^62, or repeated
 *    (even with the same value);
 *  - Transfer-Encoding together with Content-Length; Transfer-Encoding on
 *    HTTP/1.0; Transfer-Encoding whose codings (tokens separated by commas,
 *    across all its lines) are not exactly one `chunked`; a well-formed list
 *    of other codings ending in chunked gets 501;
 *  - no Host (HTTP/1.1), more than one Host, or a Host value with bytes
 *    outside visible ASCII.
 * Sets expect_continue for `Expect: 100-continue`; other Expect values are
 * ignored.
 */
enum sh_head_result sh_head_feed(struct sh_head_state *st, const char *buf, size_t len,
                                 const struct sh_head_limits *lim);

#endif
