/*
 * multipart/form-data requests on the connection: the multipart reader
 * (multipart.c) is fed each piece of the body as llhttp hands it over, so
 * the body is never buffered whole. A field's value is appended to the
 * connection's body buffer (all values together at most --max-json-body,
 * past it the request is marked body_over and answered 413); a file's bytes
 * go to a temporary file (upload.c). The parts' names,
 * file names and types are copied into the request arena. When the message
 * completes the reader must have seen the close delimiter, and req.form is
 * filled. Errors of the body's own format are the handler's to answer
 * (req.form_error, 400): the framing is intact, so the connection stays.
 */
#include <string.h>

#include "conn.h"
#include "stagehand/multipart.h"

#define NAME_MAX_BYTES 255 /* a form field's name: a schema name with a `+`/`-` modifier */

/* Values live in hc->body, which moves as it grows: offsets until the end. */
struct part_rec {
    struct sh_form_part p;
    size_t value_off;
};

struct sh__form_reader {
    struct sh_http_conn *hc;
    struct sh_multipart mp;
    struct part_rec *parts;
    unsigned n, cap;
    bool skip;     /* the current part has no name: read and dropped */
    bool dropping; /* values passed --max-json-body: nothing more is kept */
    char hdr[];    /* the reader's header buffer */
};

static struct sh_str arena_str(struct sh_arena *a, const char *s)
{
    size_t n = strlen(s);
    char *p = sh_arena_strndup(a, s, n);
    return p ? (struct sh_str){p, n} : (struct sh_str){NULL, 0};
}

static int part_begin(void *ud, const struct sh_mp_part *mp)
{
    struct sh__form_reader *f = ud;
    struct sh_arena *a = &f->hc->arena;
    f->skip = !mp->name[0];
    if (f->skip)
        return 0;
    if (f->n == f->cap) {
        unsigned cap = f->cap ? f->cap * 2 : 16;
        struct part_rec *p = sh_arena_alloc(a, cap * sizeof(*p));
        if (!p)
            return -1;
        if (f->n)
            memcpy(p, f->parts, f->n * sizeof(*p));
        f->parts = p;
        f->cap = cap;
    }
    struct part_rec *r = &f->parts[f->n];
    memset(r, 0, sizeof(*r));
    r->p.name = arena_str(a, mp->name);
    r->p.filename = arena_str(a, mp->filename);
    r->p.ctype = arena_str(a, mp->ctype);
    if (!r->p.name.ptr || !r->p.filename.ptr || !r->p.ctype.ptr)
        return -1;
    r->p.is_file = mp->is_file;
    r->value_off = f->hc->body.len;
    if (mp->is_file && f->hc->srv->cfg->dir) { /* no data directory: counted only */
        const char *path;
        if (sh__upload_file_begin(f->hc, &path))
            return -1;
        /* a copy: the uploads' table moves as it grows */
        r->p.tmp_path = arena_str(a, path);
        if (!r->p.tmp_path.ptr)
            return -1;
    }
    f->n++;
    return 0;
}

static int part_data(void *ud, const char *at, size_t len)
{
    struct sh__form_reader *f = ud;
    if (f->skip)
        return 0;
    struct part_rec *r = &f->parts[f->n - 1];
    r->p.size += len;
    if (r->p.is_file) {
        if (r->p.tmp_path.ptr)
            sh__upload_file_data(f->hc, at, len);
        return 0;
    }
    if (f->dropping)
        return 0;
    struct sh_http_conn *hc = f->hc;
    if (hc->body.len + len + 1 > hc->body_keep) {
        f->dropping = true; /* read on, keep nothing: the handler answers 413 */
        hc->req.body_over = 1;
        return 0;
    }
    sh_buf_append(&hc->body, at, len);
    return 0;
}

static int part_end(void *ud)
{
    struct sh__form_reader *f = ud;
    if (f->skip)
        return 0;
    if (f->parts[f->n - 1].p.is_file) {
        if (f->parts[f->n - 1].p.tmp_path.ptr)
            sh__upload_file_end(f->hc);
        return 0;
    }
    if (f->dropping)
        return 0;
    sh_buf_append(&f->hc->body, "", 1); /* each value NUL-terminated */
    return 0;
}

static const struct sh_mp_callbacks callbacks = {part_begin, part_data, part_end};

void sh__form_begin(struct sh_http_conn *hc, const struct sh_str *ct)
{
    const struct sh_config *cfg = hc->srv->cfg;
    struct sh_req *r = &hc->req;
    r->is_form = 1;
    char boundary[SH_MP_MAX_BOUNDARY + 1];
    int rc = sh_multipart_boundary(ct->ptr, ct->len, boundary);
    if (rc) {
        r->form_error = rc;
        return;
    }
    size_t hmax = cfg->max_part_header;
    struct sh__form_reader *f = sh_arena_alloc(&hc->arena, sizeof(*f) + SH_MP_HDRBUF_SIZE(hmax));
    if (!f) {
        r->form_error = SH_MP_EHEADER;
        return;
    }
    memset(f, 0, sizeof(*f));
    f->hc = hc;
    struct sh_mp_limits lim = {.max_parts = cfg->max_form_parts,
                               .max_header_bytes = hmax,
                               .max_name = NAME_MAX_BYTES,
                               .max_filename = cfg->max_filename};
    sh_multipart_init(&f->mp, boundary, &lim, &callbacks, f, f->hdr);
    hc->form = f;
}

int sh__form_body(struct sh_http_conn *hc, const char *at, size_t len)
{
    struct sh__form_reader *f = hc->form;
    if (!f || hc->req.form_error)
        return 0; /* refused already: the rest is read and dropped */
    int rc = sh_multipart_feed(&f->mp, at, len);
    if (rc == SH_MP_ECALLBACK)
        return 431; /* the arena is full: names and types past its limit */
    if (rc)
        hc->req.form_error = rc;
    return 0;
}

void sh__form_finish(struct sh_http_conn *hc)
{
    struct sh__form_reader *f = hc->form;
    struct sh_req *r = &hc->req;
    hc->form = NULL;
    if (!f || r->form_error)
        return;
    int rc = sh_multipart_finish(&f->mp);
    if (rc) {
        r->form_error = rc;
        return;
    }
    if (r->body_over || !f->n)
        return;
    /* NUL-terminated now, so the dispatch's own terminator cannot move it */
    sh_buf_append(&hc->body, "", 1);
    hc->body.len--;
    struct sh_form_part *out = sh_arena_alloc(&hc->arena, f->n * sizeof(*out));
    if (!out) {
        r->form_error = SH_MP_EPARTS;
        return;
    }
    size_t end = hc->body.len;
    for (unsigned i = f->n; i-- > 0;) {
        out[i] = f->parts[i].p;
        if (out[i].is_file) {
            out[i].value = (struct sh_str){"", 0};
            continue;
        }
        size_t off = f->parts[i].value_off;
        out[i].value = (struct sh_str){hc->body.data + off, end - off - 1};
        end = off;
    }
    r->form = out;
    r->nform = f->n;
}
