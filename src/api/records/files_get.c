/*
 * GET /api/files/{collection}/{recordId}/{filename}: a record's stored
 * file, as PocketBase serves it. The name must be one a file field of the
 * record holds (so no path and no other record's file can be reached);
 * a protected field's file needs the record's viewRule to pass for the
 * owner of `?token=` (a file token, POST /api/files/token; the
 * Authorization header is not read here, as in PocketBase), other files
 * are public. The Content-Type is read from the stored bytes (libmagic, on
 * the threadpool; remembered per path afterwards, file_types.c), never
 * from the name; user files go out with
 * `Content-Security-Policy: default-src 'none'` (and the server's
 * `X-Content-Type-Options: nosniff`) so an uploaded HTML or SVG cannot
 * run script in the app's origin; `?download=1` adds an attachment
 * Content-Disposition. The bytes stream through the static-file path
 * (ETag, Last-Modified, 304; http/static.c).
 *
 * `?thumb=SIZE` (a size the field's thumbs list, or 100x100) of a jpg,
 * png, gif or webp serves its thumbnail instead, through the same path:
 * kept at <record folder>/thumbs_<name>/<SIZE>_<name> as PocketBase keeps
 * it, made when missing (thumb_pool.c, thumbs.c) while the request waits;
 * any other size or type, or a thumb that cannot be made, serves the
 * original, as PocketBase does.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "auth_int.h"
#include "records_int.h"
#include "stagehand/files.h"
#include "stagehand/static.h"

#define NOT_FOUND "The requested resource wasn't found."

struct fetch {
    uv_work_t work;
    struct sh_req_watch watch;
    uv_loop_t *loop;
    struct sh_api_records *api;
    char *path;
    char ctype[SH__FILE_TYPE_MAX];
    bool sniffed; /* ctype was read from the bytes (else the fallback) */
    bool download;
    char name[SH_FILE_NAME_MAX];
    /* ?thumb= of a listed size: its path; whether it is there (sniff_work) */
    char *thumb;
    struct sh__thumb_size size;
    char size_text[32];
    bool thumb_ready, thumb_wanted;
    struct sh__thumb_wait wait;
};

/* Does the record's field value v (a name, or an array of names) hold name? */
static bool holds(const cJSON *v, const char *name)
{
    if (cJSON_IsString(v))
        return strcmp(v->valuestring, name) == 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, v) {
        if (cJSON_IsString(x) && strcmp(x->valuestring, name) == 0)
            return true;
    }
    return false;
}

static void sniff_work(uv_work_t *req)
{
    struct fetch *f = req->data;
    const char *t = sh__sniff_file(f->path);
    snprintf(f->ctype, sizeof(f->ctype), "%s", t ? t : "application/octet-stream");
    f->sniffed = t != NULL;
    if (f->thumb && sh__thumb_type_ok(f->ctype)) {
        /* a thumb has its original's format, so its type */
        struct stat st;
        f->thumb_ready = stat(f->thumb, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
        f->thumb_wanted = !f->thumb_ready;
    }
}

static void fetch_free(struct fetch *f)
{
    sh_req_unwatch(&f->watch);
    free(f->path);
    free(f->thumb);
    free(f);
}

/* Sends the thumb when it is there, else the original. */
static void serve(struct fetch *f, bool thumb)
{
    struct sh_req *r = f->watch.req;
    if (!r)
        return;
    sh_res_header(r, "Content-Security-Policy", "default-src 'none'; sandbox");
    if (f->download) {
        /* a stored name is [A-Za-z0-9_.*+=#-] and a size [0-9xtbf]: nothing to escape */
        char cd[SH_FILE_NAME_MAX + 64];
        snprintf(cd, sizeof(cd), "attachment; filename=\"%s%s%s\"", thumb ? f->size_text : "",
                 thumb ? "_" : "", f->name);
        sh_res_header(r, "Content-Disposition", cd);
    }
    sh_static_send_file(r, f->loop, thumb ? f->thumb : f->path, f->ctype);
}

static void thumb_done(struct sh__thumb_wait *w, int rc)
{
    struct fetch *f = (struct fetch *)((char *)w - offsetof(struct fetch, wait));
    serve(f, rc == 0);
    fetch_free(f);
}

static void sniff_after(uv_work_t *req, int status)
{
    (void)status;
    struct fetch *f = req->data;
    if (f->sniffed && f->api->file_types)
        sh__file_types_put(f->api->file_types, f->path, f->ctype);
    if (f->thumb_wanted && f->watch.req) {
        f->wait.watch = &f->watch;
        f->wait.done = thumb_done;
        if (sh__thumbs_request(f->api, f->path, f->thumb, &f->size, &f->wait) == 0)
            return; /* thumb_done follows */
    }
    serve(f, f->thumb_ready);
    fetch_free(f);
}

static bool query_on(const struct sh_req *r, const char *key)
{
    const char *v = sh_req_query(r, key);
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "t") == 0);
}

/* The file field of c whose value in rec names name; NULL if none. */
static const struct sh_field *field_holding(const struct sh_collection *c, const cJSON *rec,
                                            const char *name)
{
    for (size_t i = 0; i < c->nfields; i++) {
        const struct sh_field *f = &c->fields[i];
        if (f->kind == SH_FIELD_FILE && holds(cJSON_GetObjectItemCaseSensitive(rec, f->name), name))
            return f;
    }
    return NULL;
}

int sh_api_files_get(struct sh_req *r, void *ud)
{
    struct sh_api_records *api = ud;
    const struct sh_str *idp = sh_req_param(r, "id"), *namep = sh_req_param(r, "filename");
    char *id = idp ? sh_arena_strndup(r->arena, idp->ptr, idp->len) : NULL;
    char *name = namep ? sh_arena_strndup(r->arena, namep->ptr, namep->len) : NULL;
    if (!id || !name || !api->cfg->dir) {
        sh__api_error(r, 404, NOT_FOUND, NULL);
        return SH_HANDLED;
    }
    if (!sh__rec_file_id_safe(id) || !sh_file_name_valid(name)) {
        sh__api_error(r, 404, NOT_FOUND, NULL);
        return SH_HANDLED;
    }
    /* whose request this is: the file token's owner, or a guest */
    const char *tok = sh_req_query(r, "token");
    int rc = api->auth ? sh__auth_file_token_adopt(api->auth, r, tok, tok ? strlen(tok) : 0) : 0;
    if (!api->auth)
        r->auth = NULL;
    if (rc) {
        sh__api_fail(r, rc);
        return SH_HANDLED;
    }
    struct sh__rec_req *q = sh__rec_begin_or_reply(r, api);
    if (!q)
        return SH_HANDLED;
    /* first without a rule: which field holds the name */
    struct sh_filter_error err = {0};
    cJSON *rec = NULL;
    struct sh_rec_access acc = q->acc;
    acc.flags |= SH_REC_SUPERUSER; /* hidden file fields serve their files too */
    rc = sh_db_read_begin(api->db);
    if (rc == 0)
        rc = sh_rec_view(api->db, &acc, q->c, NULL, id, &rec, &err);
    const struct sh_field *f = rc == 0 ? field_holding(q->c, rec, name) : NULL;
    cJSON_Delete(rec);
    rec = NULL;
    if (rc == SH_ENOTFOUND || (rc == 0 && !f)) {
        sh__api_error(r, 404, NOT_FOUND, NULL);
        return SH_HANDLED;
    }
    if (rc) {
        sh__api_fail(r, rc);
        return SH_HANDLED;
    }
    if (f->protected_files) {
        const struct sh_filter *rule;
        rc = sh__rec_rule(q, SH_RULE_VIEW, &rule);
        if (rc == 0)
            rc = sh_rec_view(api->db, &q->acc, q->c, rule, id, &rec, &err);
        cJSON_Delete(rec);
        if (rc == SH_EFORBIDDEN || rc == SH_ENOTFOUND) {
            sh__api_error(r, 403, "Insufficient permissions to access the file resource.", NULL);
            return SH_HANDLED;
        }
        if (rc == SH_EINVAL) {
            sh__api_error(r, 400, err.message, NULL);
            return SH_HANDLED;
        }
        if (rc) {
            sh__api_fail(r, rc);
            return SH_HANDLED;
        }
    }
    struct fetch *ft = sh_calloc(1, sizeof(*ft));
    ft->loop = api->loop;
    ft->download = query_on(r, "download");
    snprintf(ft->name, sizeof(ft->name), "%s", name);
    size_t n = strlen(api->cfg->dir) + strlen(q->c->id) + strlen(id) + strlen(name) + 16;
    char *rdir = sh_malloc(n);
    ft->path = sh_malloc(n);
    snprintf(rdir, n, "%s/storage/%s/%s", api->cfg->dir, q->c->id, id);
    snprintf(ft->path, n, "%s/%s", rdir, name);
    ft->api = api;
    const char *thumb = sh_req_query(r, "thumb");
    if (thumb && strlen(thumb) < sizeof(ft->size_text) && sh__thumb_listed(f, thumb) &&
        sh__thumb_size_parse(thumb, &ft->size)) {
        snprintf(ft->size_text, sizeof(ft->size_text), "%s", thumb);
        ft->thumb = sh__thumb_path(rdir, name, thumb);
    }
    free(rdir);
    sh_req_watch(r, &ft->watch);
    if (!api->file_types && api->cfg->file_type_cache)
        api->file_types = sh__file_types_new(api->cfg->file_type_cache);
    const char *known =
        !ft->thumb && api->file_types ? sh__file_types_get(api->file_types, ft->path) : NULL;
    if (known) { /* served before: no threadpool round trip */
        snprintf(ft->ctype, sizeof(ft->ctype), "%s", known);
        serve(ft, false);
        fetch_free(ft);
        return SH_HANDLED;
    }
    ft->work.data = ft;
    if (uv_queue_work(api->loop, &ft->work, sniff_work, sniff_after) != 0) {
        fetch_free(ft);
        sh__api_fail(r, SH_EINTERNAL);
    }
    return SH_HANDLED;
}
