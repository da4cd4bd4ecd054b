/*
 * Uploads of file fields on records create and update. The handler turns
 * each file part sent under a file field's key (`name`, `name+`, `+name`)
 * into a stored name (db/records/file_name.c), given to the body under the
 * part's key as PocketBase binds files, and checks the part's size against
 * the field's maxSize on the loop. Then, on the threadpool and before the
 * write job is submitted: the content type is read from the bytes
 * (libmagic) and checked against mimeTypes, and each temporary file is
 * renamed to <dir>/storage/<collectionId>/<recordId>/<stored name> and
 * fsynced with its folder (and a folder made here, with its parent), so
 * a committed record never names a missing file. After the job: a write
 * that did not commit removes the files it brought; one that committed
 * removes the files its update stopped referencing, and a delete removes
 * the record's folder. Removals run on the threadpool too.
 */
#include "stagehand/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "records_int.h"

struct upload {
    const struct sh_field *f; /* of the job's snapshot */
    char *tmp, *dest;         /* heap */
    char name[SH_FILE_NAME_MAX];
    bool moved;
};

struct sh__rec_files {
    uv_work_t work;
    struct upload *u;
    size_t n;
    const char **names; /* u[i].name, for the writer's validation */
    char *cdir, *rdir;  /* <dir>/storage/<collectionId>, and /<recordId> */
    /* the threadpool's verdict */
    int rc;
    const struct sh_field *bad; /* the field whose file was refused */
    char why[200];
    void (*done)(void *ud, int rc);
    void *ud;
};

static bool is_file_field(const struct sh_field *f)
{
    return f && f->kind == SH_FIELD_FILE;
}

/* The file field a part's key names: `name`, `name+` or `+name`. */
static const struct sh_field *field_of(const struct sh_collection *c, const struct sh_str *key)
{
    char name[SH_SCHEMA_NAME_MAX + 1];
    const char *p = key->ptr;
    size_t n = key->len;
    if (n && p[n - 1] == '+')
        n--;
    else if (n && p[0] == '+')
        p++, n--;
    if (n == 0 || n > SH_SCHEMA_NAME_MAX)
        return NULL;
    memcpy(name, p, n);
    name[n] = 0;
    for (size_t i = 0; i < c->nfields; i++)
        if (strcmp(c->fields[i].name, name) == 0)
            return is_file_field(&c->fields[i]) ? &c->fields[i] : NULL;
    return NULL;
}

/* Adds name under key in body: a string, an array once repeated. */
static void body_add(cJSON *body, const char *key, const char *name)
{
    cJSON *old = cJSON_GetObjectItemCaseSensitive(body, key);
    cJSON *s = cJSON_CreateString(name);
    if (!old) {
        cJSON_AddItemToObject(body, key, s);
    } else if (cJSON_IsArray(old)) {
        cJSON_AddItemToArray(old, s);
    } else {
        cJSON *arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, cJSON_Duplicate(old, 1));
        cJSON_AddItemToArray(arr, s);
        cJSON_DeleteItemFromObjectCaseSensitive(body, key);
        cJSON_AddItemToObject(body, key, arr);
    }
}

/* An id that can name a folder: what the default id pattern allows and
 * a little more, never a '/', '.' start or anything a path would read. */
bool sh__rec_file_id_safe(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 100)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static void fail_set(struct sh__rec_files_fail *e, int status, const char *message,
                     const char *field, const char *code, const char *text)
{
    e->status = status;
    e->message = message;
    snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
    e->code = code;
    snprintf(e->text, sizeof(e->text), "%s", text ? text : "");
}

/* The record id a create will get: the body's, or a new one (15 of
 * [a-z0-9], PocketBase's default) put into the body. NULL when the body's
 * cannot name a folder (e filled). */
static const char *create_id(cJSON *body, struct sh__rec_files_fail *e)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "id");
    if (cJSON_IsString(id) && id->valuestring[0]) {
        if (sh__rec_file_id_safe(id->valuestring))
            return id->valuestring;
        fail_set(e, 400, "Failed to create record.", "id", "validation_invalid_format",
                 "Invalid value format.");
        return NULL;
    }
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char gen[16];
    unsigned char rnd[15];
    randombytes_buf(rnd, sizeof(rnd));
    for (size_t i = 0; i < 15; i++)
        gen[i] = alphabet[rnd[i] % 36];
    gen[15] = 0;
    cJSON_DeleteItemFromObjectCaseSensitive(body, "id");
    return cJSON_AddStringToObject(body, "id", gen)->valuestring;
}

void sh__rec_files_free(struct sh__rec_files *fs)
{
    if (!fs)
        return;
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->u[i].tmp);
        free(fs->u[i].dest);
    }
    free(fs->u);
    free(fs->names);
    free(fs->cdir);
    free(fs->rdir);
    free(fs);
}

static char *path_of(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = sh_malloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

int sh__rec_files_collect(const struct sh_api_records *api, const struct sh_collection *c,
                          enum sh_rec_op op, const char *update_id, cJSON *body,
                          const struct sh_form_part *form, unsigned nform, const char *prefix,
                          struct sh__rec_files **out, struct sh__rec_files_fail *e)
{
    *out = NULL;
    const char *msg = op == SH_REC_CREATE ? "Failed to create record." : "Failed to update record.";
    size_t plen = strlen(prefix);
    struct sh__rec_files *fs = NULL;
    for (unsigned i = 0; i < nform; i++) {
        const struct sh_form_part *p = &form[i];
        if (!p->is_file || p->name.len <= plen || memcmp(p->name.ptr, prefix, plen) != 0)
            continue;
        const char *keyp = p->name.ptr + plen; /* NUL-terminated */
        struct sh_str key = {keyp, p->name.len - plen};
        const struct sh_field *f = field_of(c, &key);
        if (!f) { /* PocketBase would drop it; we do not drop data silently */
            fail_set(e, 400, msg, keyp, "validation_file_unsupported",
                     "Only a file field takes files.");
            goto fail;
        }
        if (!p->tmp_path.len) {
            fail_set(e, 500, "Failed to store the uploaded file.", NULL, NULL, NULL);
            goto fail;
        }
        int64_t max = f->max_size > 0 ? f->max_size : SH_FILE_DEFAULT_MAX_SIZE;
        if (p->size > (uint64_t)max) {
            char m[200];
            snprintf(m, sizeof(m),
                     "Failed to upload \"%.80s\" - the maximum allowed file size is %lld bytes.",
                     p->filename.ptr, (long long)max);
            fail_set(e, 400, msg, f->name, "validation_file_size_limit", m);
            goto fail;
        }
        if (!fs) {
            fs = sh_calloc(1, sizeof(*fs));
            fs->u = sh_calloc(nform, sizeof(*fs->u));
            fs->names = sh_calloc(nform, sizeof(*fs->names));
        }
        struct upload *u = &fs->u[fs->n];
        unsigned char rnd[2 * SH_FILE_NAME_RANDOM];
        randombytes_buf(rnd, sizeof(rnd));
        sh_file_name_make(p->filename.ptr, p->filename.len, rnd, u->name);
        u->f = f;
        u->tmp = sh_strdup(p->tmp_path.ptr);
        fs->names[fs->n++] = u->name;
        body_add(body, keyp, u->name);
    }
    if (!fs)
        return 0;
    const char *id = op == SH_REC_CREATE ? create_id(body, e) : update_id;
    if (!id)
        goto fail;
    if (!sh__rec_file_id_safe(id)) { /* an update of an id no upload can live under */
        fail_set(e, 404, "The requested resource wasn't found.", NULL, NULL, NULL);
        goto fail;
    }
    char *storage = path_of(api->cfg->dir, "storage");
    fs->cdir = path_of(storage, c->id);
    free(storage);
    fs->rdir = path_of(fs->cdir, id);
    for (size_t i = 0; i < fs->n; i++)
        fs->u[i].dest = path_of(fs->rdir, fs->u[i].name);
    *out = fs;
    return 0;
fail:
    sh__rec_files_free(fs);
    return -1;
}

cJSON *sh__rec_files_fail_data(const struct sh__rec_files_fail *e)
{
    if (!e->field[0])
        return NULL;
    cJSON *d = cJSON_CreateObject(), *f = cJSON_AddObjectToObject(d, e->field);
    cJSON_AddStringToObject(f, "code", e->code);
    cJSON_AddStringToObject(f, "message", e->text);
    return d;
}

int sh__rec_files_collect_or_reply(struct sh_req *r, const struct sh_api_records *api,
                                   const struct sh_collection *c, enum sh_rec_op op,
                                   const char *update_id, cJSON *body, struct sh__rec_files **out)
{
    *out = NULL;
    if (!r->is_form)
        return 0;
    struct sh__rec_files_fail e;
    if (sh__rec_files_collect(api, c, op, update_id, body, r->form, r->nform, "", out, &e) == 0)
        return 0;
    if (e.field[0])
        sh__api_field_error(r, e.message, e.field, e.code, e.text);
    else
        sh__api_error(r, e.status, e.message, NULL);
    return -1;
}

void sh__rec_files_names(const struct sh__rec_files *fs, struct sh_rec_write *w)
{
    w->uploads = fs ? fs->names : NULL;
    w->nuploads = fs ? fs->n : 0;
}

/* ---- threadpool: check, move, fsync ---- */

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

/* Makes dir (0700) if it is not there; 1 when made, 0 when there, <0. */
static int make_dir(const char *dir)
{
    if (mkdir(dir, 0700) == 0)
        return 1;
    return errno == EEXIST ? 0 : -errno;
}

static bool type_allowed(const struct sh_field *f, const char *type)
{
    for (size_t i = 0; i < f->nmime_types; i++)
        if (strcasecmp(f->mime_types[i], type) == 0)
            return true;
    return false;
}

/* The content types of the files against their fields' mimeTypes. */
static int check_types(struct sh__rec_files *fs)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < fs->n; i++) {
        const struct upload *u = &fs->u[i];
        if (!u->f->nmime_types)
            continue;
        const char *type = sh__sniff_file(u->tmp);
        if (!type) {
            rc = SH_EINTERNAL;
        } else if (!type_allowed(u->f, type)) {
            fs->bad = u->f;
            snprintf(fs->why, sizeof(fs->why),
                     "\"%.60s\" is not one of the allowed file types (it is %.60s).", u->name,
                     type);
            rc = SH_EINVAL;
        }
    }
    return rc;
}

static void move_work(uv_work_t *req)
{
    struct sh__rec_files *fs = req->data;
    int rc = check_types(fs);
    if (rc) {
        fs->rc = rc;
        return;
    }
    char *storage = sh_strdup(fs->cdir);
    *strrchr(storage, '/') = 0;
    int made_s = make_dir(storage), made_c = made_s < 0 ? made_s : make_dir(fs->cdir);
    int made_r = made_c < 0 ? made_c : make_dir(fs->rdir);
    rc = made_r < 0 ? made_r : 0;
    for (size_t i = 0; !rc && i < fs->n; i++) {
        struct upload *u = &fs->u[i];
        if (rename(u->tmp, u->dest)) {
            rc = -errno;
            break;
        }
        u->moved = true;
        rc = fsync_path(u->dest, O_RDONLY);
    }
    /* the new names reach the disk with their folders, and a new folder
     * with its parent */
    if (!rc)
        rc = fsync_path(fs->rdir, O_RDONLY | O_DIRECTORY);
    if (!rc && made_r)
        rc = fsync_path(fs->cdir, O_RDONLY | O_DIRECTORY);
    if (!rc && made_c)
        rc = fsync_path(storage, O_RDONLY | O_DIRECTORY);
    free(storage);
    fs->rc = rc ? SH_EINTERNAL : 0;
}

static void move_after(uv_work_t *req, int status)
{
    struct sh__rec_files *fs = req->data;
    fs->done(fs->ud, status ? SH_EINTERNAL : fs->rc);
}

int sh__rec_files_move(struct sh_api_records *api, struct sh__rec_files *fs,
                       void (*done)(void *ud, int rc), void *ud)
{
    fs->done = done;
    fs->ud = ud;
    fs->work.data = fs;
    return uv_queue_work(api->loop, &fs->work, move_work, move_after) ? SH_EINTERNAL : 0;
}

void sh__rec_files_refused(const struct sh__rec_files *fs, enum sh_rec_op op,
                           struct sh__rec_files_fail *e)
{
    fail_set(e, 400, op == SH_REC_CREATE ? "Failed to create record." : "Failed to update record.",
             fs->bad->name, "validation_invalid_mime_type", fs->why);
}

void sh__rec_files_reply(struct sh_req *r, const struct sh__rec_files *fs, enum sh_rec_op op)
{
    struct sh__rec_files_fail e;
    sh__rec_files_refused(fs, op, &e);
    sh__api_field_error(r, e.message, e.field, e.code, e.text);
}

/* ---- threadpool: removals after the job ---- */

struct removal {
    uv_work_t work;
    char **paths; /* files to unlink */
    size_t n;
    char **dirs; /* folders to remove with everything in them (then) */
    size_t ndirs;
    char **empties; /* folders to remove if empty (last) */
    size_t nempties;
};

static void push(char ***v, size_t *n, char *s)
{
    *v = sh_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = s;
}

/* Removes entry name of the folder at dfd, and what it holds when it is a
 * folder (depth levels down at most; symbolic links are removed, never
 * followed). */
static void remove_entry(int dfd, const char *name, int depth)
{
    if (unlinkat(dfd, name, 0) == 0 || (errno != EISDIR && errno != EPERM) || depth <= 0)
        return;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            remove_entry(dirfd(d), e->d_name, depth - 1);
    closedir(d);
    (void)unlinkat(dfd, name, AT_REMOVEDIR);
}

void sh__rec_files_remove_tree(const char *dir)
{
    remove_entry(AT_FDCWD, dir, 4);
}

static void remove_work(uv_work_t *req)
{
    struct removal *rm = req->data;
    for (size_t i = 0; i < rm->n; i++) {
        (void)unlink(rm->paths[i]);
        sh__thumbs_remove_of(rm->paths[i]); /* a dropped file's thumbs go with it */
    }
    for (size_t i = 0; i < rm->ndirs; i++)
        sh__rec_files_remove_tree(rm->dirs[i]);
    for (size_t i = 0; i < rm->nempties; i++)
        (void)rmdir(rm->empties[i]); /* refused while other files are there */
}

static void remove_after(uv_work_t *req, int status)
{
    (void)status;
    struct removal *rm = req->data;
    for (size_t i = 0; i < rm->n; i++)
        free(rm->paths[i]);
    free(rm->paths);
    for (size_t i = 0; i < rm->ndirs; i++)
        free(rm->dirs[i]);
    free(rm->dirs);
    for (size_t i = 0; i < rm->nempties; i++)
        free(rm->empties[i]);
    free(rm->empties);
    free(rm);
}

static void removal_queue(struct sh_api_records *api, struct removal *rm)
{
    rm->work.data = rm;
    if (!rm->n && !rm->ndirs && !rm->nempties) {
        remove_after(&rm->work, 0);
        return;
    }
    if (uv_queue_work(api->loop, &rm->work, remove_work, remove_after))
        remove_after(&rm->work, -1); /* shutting down: the start-up sweep's */
}

void sh__rec_files_remove_dir(struct sh_api_records *api, const char *rel)
{
    if (!api->cfg->dir || !rel[0] || rel[0] == '.' || strstr(rel, ".."))
        return;
    struct removal *rm = sh_calloc(1, sizeof(*rm));
    char *storage = path_of(api->cfg->dir, "storage");
    rm->dirs = sh_calloc(1, sizeof(*rm->dirs));
    rm->dirs[rm->ndirs++] = path_of(storage, rel);
    free(storage);
    removal_queue(api, rm);
}

void sh__rec_files_remove_names(struct sh_api_records *api, const char *rel, char *const *names,
                                size_t n)
{
    if (!api->cfg->dir || !rel[0] || rel[0] == '.' || strstr(rel, "..") || !n)
        return;
    struct removal *rm = sh_calloc(1, sizeof(*rm));
    char *storage = path_of(api->cfg->dir, "storage");
    char *dir = path_of(storage, rel);
    rm->paths = sh_calloc(n, sizeof(*rm->paths));
    for (size_t i = 0; i < n; i++)
        if (sh_file_name_valid(names[i]))
            rm->paths[rm->n++] = path_of(dir, names[i]);
    free(storage);
    free(dir);
    removal_queue(api, rm);
}

void sh__rec_files_remove_rel(struct sh_api_records *api, char **rels, size_t n)
{
    struct removal *rm = sh_calloc(1, sizeof(*rm));
    char *storage = api->cfg->dir ? path_of(api->cfg->dir, "storage") : NULL;
    rm->paths = sh_calloc(n + 1, sizeof(*rm->paths));
    for (size_t i = 0; i < n; i++) {
        if (storage && rels[i][0] && rels[i][0] != '.' && !strstr(rels[i], ".."))
            rm->paths[rm->n++] = path_of(storage, rels[i]);
        free(rels[i]);
    }
    free(rels);
    free(storage);
    removal_queue(api, rm);
}

void sh__rec_files_after(struct sh_api_records *api, struct sh__rec_files *fs,
                         const struct sh_rec_write *w, bool committed)
{
    if (!api->cfg->dir)
        return;
    /* Nothing below can apply (a plain create that committed, say): skip
     * the paths and the allocation, run for every write. */
    if (!(fs && !committed) && !(committed && (w->ndropped || w->ngone)))
        return;
    struct removal *rm = sh_calloc(1, sizeof(*rm));
    char *storage = path_of(api->cfg->dir, "storage");
    if (!committed && fs) { /* the files this write brought */
        for (size_t i = 0; i < fs->n; i++)
            if (fs->u[i].moved)
                push(&rm->paths, &rm->n, sh_strdup(fs->u[i].dest));
        if (rm->n)
            push(&rm->empties, &rm->nempties, sh_strdup(fs->rdir));
    }
    if (committed && w->op == SH_REC_UPDATE && w->ndropped && w->id &&
        sh__rec_file_id_safe(w->id)) { /* the files an update stopped naming */
        char *cdir = path_of(storage, w->c->id), *rdir = path_of(cdir, w->id);
        for (size_t i = 0; i < w->ndropped; i++)
            push(&rm->paths, &rm->n, path_of(rdir, w->dropped[i]));
        free(cdir);
        free(rdir);
    }
    /* what the records it deleted held: their stored names (and a
     * thumbs_<name> folder beside each), then their folders once empty */
    for (size_t i = 0; committed && i < w->ngone; i++) {
        const char *g = w->gone[i], *last = strrchr(g, '/');
        if (!last || strstr(g, "..") || g[0] == '.')
            continue;
        if (strchr(g, '/') == last) {
            push(&rm->empties, &rm->nempties, path_of(storage, g));
            continue;
        }
        push(&rm->paths, &rm->n, path_of(storage, g));
        size_t dl = (size_t)(last - g);
        char *t = sh_malloc(strlen(storage) + strlen(g) + 16);
        sprintf(t, "%s/%.*s/thumbs_%s", storage, (int)dl, g, last + 1);
        push(&rm->dirs, &rm->ndirs, t);
    }
    free(storage);
    removal_queue(api, rm);
}
