/*
 * Stored files after a schema change. A collection deleted takes its
 * folder <dir>/storage/<collectionId>/ with it once the change committed
 * (no record of it can be committed afterwards: a write bound to it finds
 * the schema moved and the collection gone). A file field removed from a
 * collection (or turned into another type) leaves the files it held
 * unreferenced: before the change is submitted, a writer job of its own,
 * queued just ahead of it, reads the names the field holds in every
 * record; once the change committed those files are removed. A write
 * between the two jobs can only add files to the field (not captured:
 * left to the start-up sweep) or drop some (removed twice, harmlessly);
 * no captured name can be referenced after the field is gone, and
 * nothing is removed when the change did not commit. Removals run on the
 * threadpool (files.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "records_int.h"
#include "stagehand/db.h"
#include "stagehand/files.h"
#include "stagehand/json.h"

/* The file fields of one collection a change drops. */
struct dropped_fields {
    char *cid, *table; /* the collection's id and its table (the old name) */
    char **names;      /* field names */
    size_t n;
};

struct sh__files_capture {
    struct sh_db_job job;
    struct sh_api_records *api;
    struct dropped_fields *d;
    size_t nd;
    char **deleted; /* ids of deleted collections with file fields */
    size_t ndeleted;
    char **rels; /* out of the job: "<cid>/<rid>/<name>" */
    size_t nrels;
    bool job_pending; /* the writer job's done() is still to come */
    bool job_ok;      /* it read every name */
    bool settled;     /* the change's outcome is known */
    bool committed;
};

static bool has_files(const struct sh_collection *c)
{
    for (size_t i = 0; c && i < c->nfields; i++)
        if (c->fields[i].kind == SH_FIELD_FILE)
            return true;
    return false;
}

/* Is old's file field f still a file field in next (found by its id)? */
static bool kept(const struct sh_field *f, const struct sh_collection *next)
{
    for (size_t i = 0; i < next->nfields; i++)
        if (next->fields[i].id && f->id && strcmp(next->fields[i].id, f->id) == 0)
            return next->fields[i].kind == SH_FIELD_FILE;
    return false;
}

static void add_rel(struct sh__files_capture *x, const char *cid, const char *rid, const char *name)
{
    if (!sh__rec_file_id_safe(rid) || !sh_file_name_valid(name))
        return;
    size_t n = strlen(cid) + strlen(rid) + strlen(name) + 3;
    char *p = sh_malloc(n);
    snprintf(p, n, "%s/%s/%s", cid, rid, name);
    x->rels = sh_realloc(x->rels, (x->nrels + 1) * sizeof(*x->rels));
    x->rels[x->nrels++] = p;
}

/* The names in a stored value: one name, or a JSON array of them. */
static void add_value(struct sh__files_capture *x, const char *cid, const char *rid, const char *v)
{
    if (!v || !*v)
        return;
    if (v[0] != '[') {
        add_rel(x, cid, rid, v);
        return;
    }
    cJSON *arr = sh_json_parse(v, strlen(v), NULL);
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (cJSON_IsString(e))
            add_rel(x, cid, rid, e->valuestring);
    }
    cJSON_Delete(arr);
}

/* WRITER thread: the names each dropped field holds, in every record. */
static int capture_run(sqlite3 *wdb, void *arg)
{
    struct sh__files_capture *x = arg;
    for (size_t i = 0; i < x->nrels; i++)
        free(x->rels[i]);
    free(x->rels);
    x->rels = NULL;
    x->nrels = 0;
    for (size_t i = 0; i < x->nd; i++) {
        const struct dropped_fields *d = &x->d[i];
        struct sh_buf b;
        sh_buf_init(&b);
        sh_buf_appends(&b, "SELECT \"id\"");
        for (size_t k = 0; k < d->n; k++) {
            sh_buf_appends(&b, ", \"");
            sh_buf_appends(&b, d->names[k]); /* validated identifiers */
            sh_buf_appends(&b, "\"");
        }
        sh_buf_appends(&b, " FROM \"");
        sh_buf_appends(&b, d->table);
        sh_buf_appends(&b, "\"");
        sh_buf_append(&b, "", 1);
        sqlite3_stmt *st;
        int rc = sh_db_writer_prepare(wdb, b.data, &st);
        sh_buf_deinit(&b);
        if (rc)
            return rc;
        int src;
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            const char *rid = (const char *)sqlite3_column_text(st, 0);
            for (size_t k = 0; rid && k < d->n; k++)
                add_value(x, d->cid, rid, (const char *)sqlite3_column_text(st, (int)k + 1));
        }
        sh_db_writer_release(wdb, st);
        if (src != SQLITE_DONE)
            return SH_EINTERNAL;
    }
    return 0;
}

static void capture_free(struct sh__files_capture *x)
{
    for (size_t i = 0; i < x->nd; i++) {
        free(x->d[i].cid);
        free(x->d[i].table);
        for (size_t k = 0; k < x->d[i].n; k++)
            free(x->d[i].names[k]);
        free(x->d[i].names);
    }
    free(x->d);
    for (size_t i = 0; i < x->ndeleted; i++)
        free(x->deleted[i]);
    free(x->deleted);
    for (size_t i = 0; i < x->nrels; i++)
        free(x->rels[i]);
    free(x->rels);
    free(x);
}

/* Both the capture and the change are over: remove what they let go. */
static void finish(struct sh__files_capture *x)
{
    if (x->job_pending || !x->settled)
        return;
    if (x->committed) {
        for (size_t i = 0; i < x->ndeleted; i++)
            sh__rec_files_remove_dir(x->api, x->deleted[i]);
        if (x->job_ok && x->nrels) {
            sh__rec_files_remove_rel(x->api, x->rels, x->nrels);
            x->rels = NULL;
            x->nrels = 0;
        }
    }
    capture_free(x);
}

static void capture_done(struct sh_db_job *job, int rc)
{
    struct sh__files_capture *x = job->arg;
    x->job_pending = false;
    x->job_ok = rc == 0;
    finish(x);
}

struct sh__files_capture *sh__rec_files_capture(struct sh_api_records *api, size_t n,
                                                const struct sh_collection *const *olds,
                                                struct sh_collection *const *nexts)
{
    if (!api->cfg->dir)
        return NULL;
    struct sh__files_capture *x = sh_calloc(1, sizeof(*x));
    x->api = api;
    for (size_t i = 0; i < n; i++) {
        const struct sh_collection *old = olds[i], *next = nexts[i];
        if (!old || !has_files(old) || old->type == SH_COLLECTION_VIEW ||
            !sh__rec_file_id_safe(old->id))
            continue;
        if (!next) {
            x->deleted = sh_realloc(x->deleted, (x->ndeleted + 1) * sizeof(*x->deleted));
            x->deleted[x->ndeleted++] = sh_strdup(old->id);
            continue;
        }
        struct dropped_fields d = {0};
        for (size_t k = 0; k < old->nfields; k++) {
            const struct sh_field *f = &old->fields[k];
            if (f->kind != SH_FIELD_FILE || kept(f, next))
                continue;
            d.names = sh_realloc(d.names, (d.n + 1) * sizeof(*d.names));
            d.names[d.n++] = sh_strdup(f->name);
        }
        if (!d.n)
            continue;
        d.cid = sh_strdup(old->id);
        d.table = sh_strdup(old->name);
        x->d = sh_realloc(x->d, (x->nd + 1) * sizeof(*x->d));
        x->d[x->nd++] = d;
    }
    if (!x->nd && !x->ndeleted) {
        capture_free(x);
        return NULL;
    }
    if (x->nd) {
        x->job.run = capture_run;
        x->job.done = capture_done;
        x->job.arg = x;
        x->job_pending = sh_db_submit(api->db, &x->job) == 0;
        /* not queued: the dropped fields' files are left to the start-up sweep */
    }
    return x;
}

void sh__rec_files_schema_saved(struct sh__files_capture *x, int rc)
{
    if (!x)
        return;
    x->settled = true;
    x->committed = rc == 0;
    finish(x);
}
