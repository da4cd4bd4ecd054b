/*
 * The content type of a stored or uploaded file, read from its bytes with
 * libmagic, on threadpool threads (never the loop).
 *
 * Loading libmagic's compiled database costs about 0.8 ms of CPU (8 MB read
 * and checked) — more than serving a small file. So the database is mapped
 * once per process, read-only, and each threadpool thread keeps one magic_t
 * over that mapping for its lifetime (magic_load_buffers reads the buffer in
 * place: no per-thread copy). Where no compiled database is found, each
 * thread loads libmagic's default set once.
 */
#include <fcntl.h>
#include <magic.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "records_int.h"

static pthread_once_t db_once = PTHREAD_ONCE_INIT;
static void *db; /* the mapped compiled database, or NULL */
static size_t db_len;

/* Maps the first compiled database (<entry>.mgc, or an entry ending in
 * .mgc) of libmagic's search path. */
static void map_db(void)
{
    const char *path = magic_getpath(NULL, 0);
    while (path && *path && !db) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        char file[4096];
        bool mgc = n >= 4 && memcmp(path + n - 4, ".mgc", 4) == 0;
        if (n + 5 < sizeof(file)) {
            snprintf(file, sizeof(file), "%.*s%s", (int)n, path, mgc ? "" : ".mgc");
            int fd = open(file, O_RDONLY | O_CLOEXEC);
            struct stat st;
            if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
                void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (p != MAP_FAILED) {
                    db = p;
                    db_len = (size_t)st.st_size;
                }
            }
            if (fd >= 0)
                close(fd);
        }
        path = end ? end + 1 : NULL;
    }
}

/* This thread's magic_t (NULL when libmagic cannot start). */
static magic_t thread_magic(void)
{
    static __thread magic_t m;
    static __thread bool failed;
    if (m || failed)
        return m;
    pthread_once(&db_once, map_db);
    m = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
    if (m) {
        void *bufs[1] = {db};
        size_t sizes[1] = {db_len};
        int rc = db ? magic_load_buffers(m, bufs, sizes, 1) : magic_load(m, NULL);
        if (rc != 0) {
            magic_close(m);
            m = NULL;
        }
    }
    failed = m == NULL;
    return m;
}

const char *sh__sniff_file(const char *path)
{
    magic_t m = thread_magic();
    return m ? magic_file(m, path) : NULL;
}
