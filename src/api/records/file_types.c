/*
 * The sniffed content types of stored files, remembered on the loop so that
 * serving a file again skips the threadpool round trip and libmagic.
 *
 * A stored file's path is unique and its bytes never change: an upload gets
 * a new random name, and a replaced or removed file's name is dropped from
 * its record (so the access check refuses it before this cache is read). An
 * entry therefore never goes stale and needs no invalidation; the table is
 * bounded (least recently used entries go first).
 */
#include <stdlib.h>
#include <string.h>

#include "records_int.h"
#include "stagehand/lru.h"

struct entry {
    struct sh_lru_node node; /* first: the entry's address is the node's */
    char *path;
    char type[SH__FILE_TYPE_MAX];
};

struct sh__file_types {
    struct sh_lru lru;
    size_t capacity;
};

static struct entry *entry_of(struct sh_lru_node *n)
{
    return (struct entry *)n;
}

static bool entry_eq(const struct sh_lru_node *n, const void *key)
{
    return strcmp(((const struct entry *)n)->path, key) == 0;
}

struct sh__file_types *sh__file_types_new(size_t capacity)
{
    struct sh__file_types *t = sh_calloc(1, sizeof(*t));
    t->capacity = capacity ? capacity : 1;
    sh_lru_init(&t->lru, t->capacity);
    return t;
}

static void entry_remove(struct sh__file_types *t, struct entry *e)
{
    sh_lru_remove(&t->lru, &e->node);
    free(e->path);
    free(e);
}

void sh__file_types_free(struct sh__file_types *t)
{
    if (!t)
        return;
    struct entry *e;
    while ((e = entry_of(sh_lru_oldest(&t->lru))))
        entry_remove(t, e);
    sh_lru_deinit(&t->lru);
    free(t);
}

const char *sh__file_types_get(struct sh__file_types *t, const char *path)
{
    uint64_t h = sh_hash_bytes(path, strlen(path), SH_HASH_SEED);
    struct sh_lru_node *n = sh_lru_find(&t->lru, h, entry_eq, path);
    if (!n)
        return NULL;
    sh_lru_touch(&t->lru, n);
    return entry_of(n)->type;
}

void sh__file_types_put(struct sh__file_types *t, const char *path, const char *type)
{
    if (strlen(type) >= SH__FILE_TYPE_MAX || sh__file_types_get(t, path))
        return;
    if (t->lru.size >= t->capacity)
        entry_remove(t, entry_of(sh_lru_oldest(&t->lru)));
    struct entry *e = sh_calloc(1, sizeof(*e));
    e->path = sh_strdup(path);
    memcpy(e->type, type, strlen(type) + 1);
    sh_lru_insert(&t->lru, &e->node, sh_hash_bytes(path, strlen(path), SH_HASH_SEED));
}
