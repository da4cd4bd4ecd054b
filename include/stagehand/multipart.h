/*
 * stagehand multipart: an incremental multipart/form-data reader (RFC 7578,
 * RFC 2046 section 5.1). It is fed a body in pieces of any size, as they
 * arrive, and calls back for each part's start (its name, file name and
 * content type), for each run of the part's bytes and for its end; it keeps
 * no body byte itself, only the part's header block (bounded by a limit) and
 * a match position in the delimiter, so its memory is fixed whatever the
 * body's size and however the body is split. Pure: no IO, no allocation but
 * the header buffer given at init.
 */
#ifndef STAGEHAND_MULTIPART_H
#define STAGEHAND_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

/* Why a body was refused (negative codes, kept by the reader once seen). */
#define SH_MP_EBOUNDARY  (-1) /* no usable boundary parameter in the Content-Type */
#define SH_MP_ESYNTAX    (-2) /* a delimiter line or part header is malformed */
#define SH_MP_EPARTS     (-3) /* more parts than limits.max_parts */
#define SH_MP_EHEADER    (-4) /* a part's header block is longer than limits.max_header_bytes */
#define SH_MP_ENAME      (-5) /* a part name longer than limits.max_name */
#define SH_MP_EFILENAME  (-6) /* a file name too long, not UTF-8, or badly encoded */
#define SH_MP_ETRUNCATED (-7) /* the body ended before the close delimiter */
#define SH_MP_ECALLBACK  (-8) /* a callback refused (its own reason is the caller's) */

#define SH_MP_MAX_BOUNDARY 70 /* RFC 2046 */

struct sh_mp_limits {
    unsigned max_parts;      /* parts in one body (named or not) */
    size_t max_header_bytes; /* bytes of one part's header block, CRLFs included */
    size_t max_name;         /* bytes of a part's name */
    size_t max_filename;     /* bytes of a part's file name, after decoding */
};

/* A part as its headers describe it; the strings live in the reader's header
 * buffer, NUL-terminated, valid until the part's end callback returns. */
struct sh_mp_part {
    const char *name;     /* the form field (Content-Disposition name); "" if none */
    const char *filename; /* decoded: filename* (RFC 5987, UTF-8) wins over filename */
    bool is_file;         /* a filename parameter was present (even empty) */
    const char *ctype;    /* the part's Content-Type as sent, "" if none */
    unsigned index;       /* 0-based position of the part in the body */
};

/* Each returns 0 to go on, anything else to stop the reader (ECALLBACK). */
struct sh_mp_callbacks {
    int (*part_begin)(void *ud, const struct sh_mp_part *p);
    int (*part_data)(void *ud, const char *at, size_t len); /* may be called with pieces */
    int (*part_end)(void *ud);
};

enum sh_mp_state {
    SH_MP_PREAMBLE, /* before the first delimiter */
    SH_MP_AFTER_DELIM,
    SH_MP_AFTER_DASH, /* one '-' after a delimiter: the close delimiter? */
    SH_MP_PADDING,    /* transport padding after a delimiter, up to CRLF */
    SH_MP_PADDING_CR,
    SH_MP_HEADERS,
    SH_MP_DATA,
    SH_MP_EPILOGUE, /* after the close delimiter: ignored */
    SH_MP_ERROR,
};

struct sh_multipart {
    enum sh_mp_state state;
    int error;
    char delim[4 + SH_MP_MAX_BOUNDARY]; /* CRLF "--" boundary */
    unsigned char fail[4 + SH_MP_MAX_BOUNDARY];
    size_t dlen;
    size_t match; /* bytes of delim matched so far */
    char *hdr;    /* the header block of the part being read */
    size_t hlen, hcap;
    unsigned parts;
    bool in_part; /* part_begin was called, part_end not yet */
    struct sh_mp_limits limits;
    struct sh_mp_callbacks cb;
    void *ud;
    struct sh_mp_part part;
};

/* Reads the boundary parameter of a Content-Type value (ctype[0..len), e.g.
 * `multipart/form-data; boundary="x y"`) into out (room for
 * SH_MP_MAX_BOUNDARY + 1). 0, or SH_MP_EBOUNDARY when the type is not
 * multipart/form-data or the boundary is missing, empty, longer than 70
 * bytes or holds a byte RFC 2046 does not allow. */
int sh_multipart_boundary(const char *ctype, size_t len, char *out);

/* Bytes of the header buffer a reader with these limits needs: the raw
 * block and its decoded strings side by side. */
#define SH_MP_HDRBUF_SIZE(max_header_bytes) (2 * (size_t)(max_header_bytes) + 8)

/* Prepares m for one body with boundary b (as sh_multipart_boundary gives
 * it). hdrbuf of SH_MP_HDRBUF_SIZE(limits->max_header_bytes) bytes is the
 * caller's and must outlive m. */
void sh_multipart_init(struct sh_multipart *m, const char *b, const struct sh_mp_limits *limits,
                       const struct sh_mp_callbacks *cb, void *ud, char *hdrbuf);
/* Reads data[0..len). 0, or a negative SH_MP_E* code (the same on every
 * later call). Bytes after the close delimiter are ignored. */
int sh_multipart_feed(struct sh_multipart *m, const char *data, size_t len);
/* The body is complete: 0 when the close delimiter was read, else
 * SH_MP_ETRUNCATED (or the earlier error). */
int sh_multipart_finish(struct sh_multipart *m);
/* Is s[0..n) UTF-8 without NUL, overlong forms, surrogates or code points
 * past U+10FFFF? (What a form's names and values must be to become JSON.) */
bool sh_multipart_utf8_valid(const char *s, size_t n);

/* A sentence for a client naming what code means. */
const char *sh_multipart_strerror(int code);

#endif
