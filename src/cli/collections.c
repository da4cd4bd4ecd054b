/*
 * `stagehand collections import|export`: schema as PocketBase-shaped JSON
 * (the array PocketBase's "Export collections" produces). An import runs in
 * one write transaction through sh_db_run_exclusive: the stored collections
 * are loaded inside it, the file is validated against them as one batch
 * (sh_collection_import), and each collection's table is created or migrated
 * with its `_collections` row (sh_catalog_apply). Anything refused rolls the
 * whole import back, and the message names the collection and field. A
 * server running on the same directory waits out the transaction like any
 * other writer and picks the new schema up within a second.
 *
 * System collections (_superusers) are left out of exports and never deleted
 * by --delete-missing; auth collections are exported without their token
 * secret (authToken.secret), which an import of the same collection keeps.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stagehand/catalog.h"
#include "stagehand/cli.h"
#include "stagehand/core.h"
#include "stagehand/db.h"

struct import_ctx {
    cJSON *json; /* the file's array (view fields are inferred into it) */
    int delete_missing;
    struct sh_schema_error err;
    size_t created, updated, deleted;
    int failed_apply; /* the refusal came from the migration, not validation */
};

static int import_fn(sqlite3 *wdb, void *arg)
{
    struct import_ctx *x = arg;
    struct sh_catalog_snap *snap;
    int rc = sh_catalog_load(wdb, 0, &snap, &x->err);
    if (rc)
        return rc;
    /* view collections: fields inferred from their query on this connection */
    cJSON *e;
    cJSON_ArrayForEach(e, x->json) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        const struct sh_collection *old =
            cJSON_IsString(id) ? sh_catalog_snap_find(snap, id->valuestring) : NULL;
        if (!old && cJSON_IsString(nm))
            old = sh_catalog_snap_find(snap, nm->valuestring);
        if (!rc)
            rc = sh_view_infer_into(wdb, e, old, &snap->resolver, &x->err);
    }
    struct sh_collection **list = NULL;
    size_t n = 0;
    if (!rc)
        rc = sh_collection_import(x->json, &snap->resolver, &list, &n, &x->err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct sh_collection *old = NULL;
        for (size_t k = 0; k < snap->n && !old; k++)
            if (strcmp(snap->list[k]->id, list[i]->id) == 0)
                old = snap->list[k];
        rc = sh_catalog_apply(wdb, old, list[i], &x->err);
        if (rc)
            x->failed_apply = 1;
        else if (old)
            x->updated++;
        else
            x->created++;
    }
    for (size_t k = 0; k < snap->n && rc == 0 && x->delete_missing; k++) {
        const struct sh_collection *old = snap->list[k];
        if (old->system)
            continue; /* _superusers is never "missing" */
        int kept = 0;
        for (size_t i = 0; i < n; i++)
            kept |= strcmp(list[i]->id, old->id) == 0;
        if (kept)
            continue;
        rc = sh_catalog_apply(wdb, old, NULL, &x->err);
        if (rc)
            x->failed_apply = 1;
        else
            x->deleted++;
    }
    sh_collection_list_free(list, n);
    sh_catalog_snap_free(snap);
    return rc;
}

struct export_ctx {
    cJSON *out;
    struct sh_schema_error err;
};

static int export_fn(sqlite3 *wdb, void *arg)
{
    struct export_ctx *x = arg;
    struct sh_catalog_snap *snap;
    int rc = sh_catalog_load(wdb, 0, &snap, &x->err);
    if (rc)
        return rc;
    x->out = cJSON_CreateArray();
    for (size_t i = 0; i < snap->n; i++) {
        if (snap->list[i]->system)
            continue;
        cJSON *c = sh_collection_to_json(snap->list[i]);
        /* The token secret stays in the data directory: an import keeps the
         * stored one, a new collection gets a new one. */
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "authToken"),
                                                "secret");
        cJSON_AddItemToArray(x->out, c);
    }
    sh_catalog_snap_free(snap);
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    struct sh_buf b;
    sh_buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        sh_buf_append(&b, chunk, n);
    int bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (bad) {
        sh_buf_deinit(&b);
        return NULL;
    }
    *len = b.len;
    sh_buf_append(&b, "", 1);
    return b.data;
}

const char *sh__cli_env_dir(char **envp)
{
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, "STAGEHAND_DIR=", 14) == 0 && (*e)[14])
            return *e + 14;
    return "stagehand_data";
}

void sh_cli_collections_usage(FILE *f)
{
    fputs("usage:\n"
          "  stagehand collections import FILE.json [--dir DIR] [--delete-missing]\n"
          "      create or update the collections of FILE.json (PocketBase's export\n"
          "      format; - reads stdin) in one transaction; --delete-missing also\n"
          "      deletes stored collections the file does not list\n"
          "  stagehand collections export [--dir DIR]\n"
          "      print every collection but the system ones as a JSON array\n"
          "DIR defaults to $STAGEHAND_DIR, else ./stagehand_data.\n",
          f);
}

static int do_import(const char *dir, const char *file, int delete_missing)
{
    size_t len = 0;
    char *text = read_file(file, &len);
    if (!text) {
        fprintf(stderr, "stagehand: cannot read %s: %s\n", file, strerror(errno));
        return 1;
    }
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!json) {
        fprintf(stderr, "stagehand: %s is not valid JSON (near byte %zu)\n", file,
                end ? (size_t)(end - text) : 0);
        free(text);
        return 1;
    }
    free(text);
    struct import_ctx x;
    memset(&x, 0, sizeof(x));
    x.json = json;
    x.delete_missing = delete_missing;
    int rc = sh_db_run_exclusive(dir, NULL, import_fn, &x);
    cJSON_Delete(json);
    if (rc == SH_EINVAL && x.err.message[0]) {
        fprintf(stderr, "stagehand: import refused, nothing changed: %s\n", x.err.message);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "stagehand: import failed, nothing changed (%s; see the log above)\n",
                x.failed_apply ? "a table could not be migrated" : "storage error");
        return 1;
    }
    printf("imported %zu collections (%zu created, %zu updated, %zu deleted)\n",
           x.created + x.updated, x.created, x.updated, x.deleted);
    return 0;
}

static int do_export(const char *dir)
{
    struct export_ctx x;
    memset(&x, 0, sizeof(x));
    int rc = sh_db_run_exclusive(dir, NULL, export_fn, &x);
    if (rc) {
        cJSON_Delete(x.out);
        fprintf(stderr, "stagehand: export failed%s%s\n", x.err.message[0] ? ": " : "",
                x.err.message);
        return 1;
    }
    char *s = cJSON_Print(x.out);
    SH_ASSERT(s);
    fputs(s, stdout);
    fputc('\n', stdout);
    cJSON_free(s);
    cJSON_Delete(x.out);
    return fflush(stdout) == 0 ? 0 : 1;
}

int sh_cli_collections(int argc, char **argv, char **envp)
{
    if (argc < 1) {
        sh_cli_collections_usage(stderr);
        return 2;
    }
    const char *sub = argv[0], *dir = sh__cli_env_dir(envp), *file = NULL;
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        sh_cli_collections_usage(stdout);
        return 0;
    }
    int delete_missing = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strncmp(argv[i], "--dir=", 6) == 0) {
            dir = argv[i] + 6;
        } else if (strcmp(argv[i], "--delete-missing") == 0) {
            delete_missing = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            sh_cli_collections_usage(stdout);
            return 0;
        } else if (!file && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)) {
            file = argv[i];
        } else {
            fprintf(stderr, "stagehand: unexpected argument: %s\n", argv[i]);
            sh_cli_collections_usage(stderr);
            return 2;
        }
    }
    if (strcmp(sub, "import") == 0 && file)
        return do_import(dir, file, delete_missing);
    if (strcmp(sub, "export") == 0 && !file && !delete_missing)
        return do_export(dir);
    sh_cli_collections_usage(stderr);
    return 2;
}
