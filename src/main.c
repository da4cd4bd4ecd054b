/*
 * The stagehand command line: `serve`, `collections`, `version` and help.
 * `serve` wires the modules together: config -> database and collection
 * catalog -> accounts (hashing pool, limiters) -> http server -> router ->
 * api, then runs the loop until a signal drains it. Shutdown runs in order:
 * connections drain (or the drain deadline closes them), the accounts state
 * queues its last session times and stops the hashing pool, the catalog
 * stops polling, the database closes (the writer commits every queued job
 * first), and only then are the remaining handles closed and the loop left.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>
#ifdef SH_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "stagehand/api.h"
#include "stagehand/backup.h"
#include "stagehand/cache.h"
#include "stagehand/catalog.h"
#include "stagehand/cli.h"
#include "stagehand/config.h"
#include "stagehand/core.h"
#include "stagehand/db.h"
#include "stagehand/http.h"
#include "stagehand/json.h"
#include "stagehand/router.h"
#include "stagehand/static.h"

#ifndef SH_VERSION
#define SH_VERSION "0.1.0"
#endif

struct app {
    uv_loop_t *loop;
    struct sh_config cfg;
    struct sh_http_server http;
    struct sh_router router;
    struct sh_static files;
    int has_files;
    uv_signal_t sigterm, sigint;
    uv_timer_t drain_timer;
    int signals;
    struct sh_db *db;
    struct sh_catalog catalog;
    struct sh_api_records *records;
    struct sh_api_auth *auth;
    struct sh_redis *redis; /* NULL without --redis */
    struct sh_logs *logs;
    struct sh_metrics *metrics;
    /* --metrics-listen: a server of its own serving only GET /api/metrics */
    struct sh_config metrics_cfg;
    struct sh_router metrics_router;
    struct sh_http_server metrics_http;
    int has_metrics_http;
    struct sh_api_backups *backups;
    struct sh_api_health health; /* GET /api/health's state */
    struct sh_api_crons *crons;
    struct sh_api_settings *settings;
    struct sh_api_sql *sql;
    int stopping;
    int restore; /* a validated restore: swap the data and re-execute at the end */
    int argc;    /* serve's arguments, for that re-execution */
    char **argv;
};

/* Tells systemd (Type=notify) what the server does; nothing without
 * libsystemd or outside systemd (no NOTIFY_SOCKET). */
static void notify(const char *state)
{
#ifdef SH_HAVE_SYSTEMD
    (void)sd_notify(0, state);
#else
    (void)state;
#endif
}

static void usage(FILE *f)
{
    fputs("stagehand " SH_VERSION " - a self-hosted backend server\n\n"
          "usage:\n"
          "  stagehand serve [flags]   run the server (see `stagehand serve --help`)\n"
          "  stagehand collections import FILE.json [--dir DIR] [--delete-missing]\n"
          "  stagehand collections export [--dir DIR]\n"
          "                            change or print the schema (server running or not)\n"
          "  stagehand superuser upsert EMAIL PASSWORD [--dir DIR]\n"
          "  stagehand superuser delete EMAIL [--dir DIR]\n"
          "                            create, update or delete a superuser (ditto)\n"
          "  stagehand backup create [NAME.zip] | list | restore KEY [--dir DIR]\n"
          "                            back up or restore a data directory\n"
          "  stagehand version         print the version\n"
          "  stagehand --help          this text\n",
          f);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_db_closed(void *arg, int rc)
{
    struct app *a = arg;
    a->db = NULL;
    if (rc)
        sh_log_error("main", "the database did not close cleanly");
    else
        sh_log_info("main", "database closed");
    uv_walk(a->loop, close_walk_cb, NULL);
}

/* Connections are gone: stop polling the schema, let the writer commit what
 * is queued and close the database, then close every other handle. */
static void stop_loop(struct app *a)
{
    if (a->stopping)
        return;
    a->stopping = 1;
    uv_signal_stop(&a->sigterm);
    uv_signal_stop(&a->sigint);
    uv_timer_stop(&a->drain_timer);
    if (a->has_metrics_http)
        sh_http_server_close_all(&a->metrics_http);
    sh_metrics_stop(a->metrics);
    sh_logs_close(a->logs);
    sh_api_crons_stop(a->crons);
    sh_api_backups_stop(a->backups);
    sh_api_sql_stop(a->sql);
    sh_api_auth_stop(a->auth);
    sh_api_records_use_redis(a->records, NULL);
    sh_api_realtime_stop_redis(a->records);
    sh_redis_close(a->redis);
    a->redis = NULL;
    sh_catalog_close(&a->catalog);
    if (a->db)
        sh_db_close(a->db, on_db_closed, a);
    else
        uv_walk(a->loop, close_walk_cb, NULL);
}

static void on_drained(struct sh_http_server *s)
{
    struct app *a = (struct app *)((char *)s - offsetof(struct app, http));
    sh_log_info("main", "all connections finished");
    stop_loop(a);
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct app *a = t->data;
    sh_log_warn("main", "drain deadline passed with %u connections open; closing them",
                a->http.net.nconns);
    sh_http_server_close_all(&a->http);
    stop_loop(a);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct app *a = h->data;
    if (a->signals++) {
        sh_log_warn("main", "second signal (%d): exiting at once", signum);
        sh_log_flush();
        _exit(1);
    }
    notify("STOPPING=1");
    sh_log_info("main", "signal %d: draining (deadline %llu ms)", signum,
                (unsigned long long)a->cfg.drain_timeout);
    if (a->has_metrics_http)
        sh_http_server_drain(&a->metrics_http);
    a->drain_timer.data = a;
    uv_timer_start(&a->drain_timer, on_drain_timeout, a->cfg.drain_timeout, 0);
    sh_http_server_drain(&a->http);
}

/* A restore was validated and staged: drain as on SIGTERM; serve() swaps the
 * data in once the database is closed and re-executes the server. */
static void on_restore(void *arg)
{
    struct app *a = arg;
    if (a->restore || a->signals)
        return;
    a->restore = 1;
    notify("RELOADING=1");
    a->drain_timer.data = a;
    uv_timer_start(&a->drain_timer, on_drain_timeout, a->cfg.drain_timeout, 0);
    sh_http_server_drain(&a->http);
}

static int mkdir_p(const char *dir)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char c = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return -1;
            tmp[i] = c;
        }
    }
    return 0;
}

/* Closes the database before serving started (start-up failed). */
static void close_db_now(struct app *a)
{
    sh_logs_close(a->logs);
    if (a->auth)
        sh_api_auth_stop(a->auth);
    sh_catalog_close(&a->catalog);
    if (a->db) {
        sh_db_close(a->db, on_db_closed, a);
        uv_run(a->loop, UV_RUN_DEFAULT);
    }
    sh_log_flush();
}

static int open_storage(struct app *a)
{
    struct sh_db_options opt;
    sh_db_options_init(&opt);
    opt.sync_normal = a->cfg.sync_normal;
    opt.read_budget_ms = a->cfg.query_budget_ms;
    opt.read_wall_ms = a->cfg.query_elapsed_ms;
    opt.max_queue = a->cfg.writer_queue;
    opt.init_empty = a->cfg.init_empty;
    opt.wal_max = a->cfg.wal_max;
    opt.read_cache = a->cfg.read_cache;
    opt.write_cache = a->cfg.write_cache;
    opt.busy_timeout_ms =
        a->cfg.lock_timeout > UINT32_MAX ? UINT32_MAX : (unsigned)a->cfg.lock_timeout;
    int rc = sh_catalog_init_schema(a->cfg.dir, &opt, !a->cfg.init_schema_none);
    if (rc == 0)
        rc = sh_db_open(&a->db, a->loop, a->cfg.dir, &opt);
    if (rc) {
        sh_log_flush();
        fprintf(stderr, "stagehand: cannot open the database in %s (see the log above)\n",
                a->cfg.dir);
        return -1;
    }
    rc = sh_catalog_open(&a->catalog, a->loop, a->db);
    if (rc) {
        fprintf(stderr, "stagehand: cannot load the collections of %s (see the log above)\n",
                a->cfg.dir);
        close_db_now(a);
        return -1;
    }
    char err[256];
    a->auth = sh_api_auth_new(a->loop, &a->cfg, a->db, &a->catalog, err, sizeof(err));
    if (!a->auth) {
        fprintf(stderr, "stagehand: %s\n", err);
        close_db_now(a);
        return 2;
    }
    a->records = sh_api_records_new(a->loop, &a->cfg, a->db, &a->catalog, a->auth);
    unsigned unreferenced = sh_api_records_sweep_files(a->records); /* before serving */
    if (unreferenced)
        sh_log_info("files", "removed %u unreferenced stored files", unreferenced);
    a->logs = sh_logs_open(a->loop, &a->cfg, err, sizeof(err));
    if (!a->logs) {
        fprintf(stderr, "stagehand: %s\n", err);
        close_db_now(a);
        return 1;
    }
    a->backups = sh_api_backups_new(a->loop, &a->cfg, a->auth, on_restore, a);
    a->crons = sh_api_crons_new(a->loop, &a->cfg, a->db, a->backups);
    a->settings = sh_api_settings_new(a->loop, &a->cfg, a->db, a->auth, a->crons);
    sh_api_settings_use_logs(a->settings, a->logs);
    sh_api_settings_use_records(a->settings, a->records);
    a->sql = sh_api_sql_new(&a->cfg, a->db, a->auth);
    return 0;
}

static int serve_locked(struct app *a);

/* Redis is optional at run time: unreachable or refusing, the client logs a
 * warning and keeps trying while every request is served from SQLite. The
 * address was checked when the flags were read. */
static void open_redis(struct app *a)
{
    struct sh_redis_options o;
    sh_redis_options_init(&o);
    o.url = a->cfg.redis;
    o.password = getenv("STAGEHAND_REDIS_PASSWORD");
    o.timeout_ms = a->cfg.redis_timeout;
    o.max_pending = a->cfg.redis_max_pending;
    o.backoff_max_ms = a->cfg.redis_backoff_max;
    if (sh_redis_open(&a->redis, a->loop, &o))
        a->redis = NULL;
    sh_api_records_use_redis(a->records, a->redis);
    sh_api_auth_join_group(a->auth, a->redis);
    sh_metrics_add_redis(a->metrics, a->redis);
    sh_api_realtime_use_redis(a->records, a->redis, &o);
}

static char self_name[] = "stagehand", serve_word[] = "serve", listen_flag[] = "--listen";
static char *self_argv0 = self_name;
static char bound_addrs[8][128];
static unsigned nbound;

/* After a restore: runs this binary again with serve's arguments, its
 * --listen flags replaced by the addresses bound now (a port 0 stays the
 * port clients know). The pid stays, so a supervisor sees no exit. */
static void reexec(struct app *a)
{
    char **av = calloc((size_t)a->argc + 2 * nbound + 3, sizeof(char *));
    if (!av)
        return;
    int n = 0;
    av[n++] = self_argv0;
    av[n++] = serve_word;
    for (int i = 0; i < a->argc; i++) {
        if (strcmp(a->argv[i], "--listen") == 0) {
            i++;
            continue;
        }
        if (strncmp(a->argv[i], "--listen=", 9) == 0)
            continue;
        av[n++] = a->argv[i];
    }
    for (unsigned i = 0; i < nbound; i++) {
        av[n++] = listen_flag;
        av[n++] = bound_addrs[i];
    }
    sh_log_info("main", "restarting after the restore");
    sh_log_flush();
    execv("/proc/self/exe", av);
    fprintf(stderr, "stagehand: cannot restart after the restore: %s\n", strerror(errno));
    free(av);
}

static int serve(int argc, char **argv, char **envp)
{
    static struct app a; /* large; static keeps it off the stack */
    char err[256];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            sh_config_usage(stdout);
            return 0;
        }
    }
    sh_config_init(&a.cfg);
    if (sh_config_parse(&a.cfg, argc, (const char *const *)argv, (const char *const *)envp, err,
                        sizeof(err))) {
        fprintf(stderr, "stagehand: %s\n", err);
        sh_config_deinit(&a.cfg);
        return 2;
    }
    if (a.cfg.max_json_depth > SH_JSON_MAX_DEPTH_LIMIT) {
        fprintf(stderr, "stagehand: invalid value for --max-json-depth: %u (1..%d)\n",
                a.cfg.max_json_depth, SH_JSON_MAX_DEPTH_LIMIT);
        sh_config_deinit(&a.cfg);
        return 2;
    }
    if (a.cfg.redis) {
        struct sh_redis_addr addr;
        const char *why = NULL;
        if (sh_redis_parse_url(a.cfg.redis, &addr, &why)) {
            fprintf(stderr, "stagehand: invalid value for --redis: %s\n", why);
            sh_config_deinit(&a.cfg);
            return 2;
        }
    }
    sh_json_limits_set((size_t)a.cfg.max_json_body, a.cfg.max_json_depth);
    sh_log_min_level = (enum sh_log_level)a.cfg.log_level;
    if (mkdir_p(a.cfg.dir)) {
        fprintf(stderr, "stagehand: cannot create data directory %s: %s\n", a.cfg.dir,
                strerror(errno));
        return 1;
    }
    /* One server per data directory: a second one would serve its own stale
     * caches (counts, tokens) of a database another process changes. */
    long holder = 0;
    int lock_fd = -1;
    /* With Redis, servers on one directory form a group (they share through
     * Redis and the table versions what one keeps in memory): the lock is
     * held shared, and a server without Redis is refused beside them. */
    int group = a.cfg.redis != NULL;
    int lrc = group ? sh_db_dir_lock_group(a.cfg.dir, &lock_fd, &holder)
                    : sh_db_dir_lock(a.cfg.dir, &lock_fd, &holder);
    if (lrc == SH_EBUSY) {
        sh_log_flush();
        const char *why = group ? "by a server without --redis (all servers sharing a data "
                                  "directory need Redis)"
                                : "by another server (several servers on one directory need "
                                  "--redis on each)";
        if (holder)
            fprintf(stderr, "stagehand: the data directory %s is in use %s (pid %ld)\n", a.cfg.dir,
                    why, holder);
        else
            fprintf(stderr, "stagehand: the data directory %s is in use %s\n", a.cfg.dir, why);
        return 1;
    }
    if (lrc) {
        sh_log_flush();
        fprintf(stderr, "stagehand: cannot lock the data directory %s (see the log above)\n",
                a.cfg.dir);
        return 1;
    }
    a.argc = argc;
    a.argv = argv;
    int rc = serve_locked(&a);
    if (rc == 0 && a.restore) {
        char why[256];
        if (sh_backup_restore_swap(a.cfg.dir, why, sizeof(why)) != 0)
            sh_log_error("main", "restore failed, the old data stays: %s", why);
        sh_log_flush();
        sh_db_dir_unlock(lock_fd);
        reexec(&a); /* returns only if exec failed */
        return 1;
    }
    sh_db_dir_unlock(lock_fd);
    return rc;
}

static int serve_locked(struct app *a)
{
    char err[256];
    a->loop = uv_default_loop();
    if (a->cfg.public_dir) {
        if (sh_static_init(&a->files, a->loop, a->cfg.public_dir)) {
            fprintf(stderr, "stagehand: invalid value for --public: %s is not a folder\n",
                    a->cfg.public_dir);
            return 2;
        }
        a->has_files = 1;
    }
    int rc = open_storage(a);
    if (rc)
        return rc > 0 ? rc : 1;
    sh_router_init(&a->router, &a->cfg);
    a->health = (struct sh_api_health){&a->router, a->backups};
    if (sh_api_register(&a->router, a->has_files ? &a->files : NULL, &a->health) ||
        sh_api_auth_register(&a->router, a->auth) ||
        sh_api_records_register(&a->router, a->records) ||
        sh_api_realtime_register(&a->router, a->records) ||
        sh_api_collections_register(&a->router, a->records) ||
        sh_logs_register(&a->router, a->logs) || sh_api_backups_register(&a->router, a->backups) ||
        sh_api_settings_register(&a->router, a->settings) ||
        sh_api_crons_register(&a->router, a->crons) || sh_api_sql_register(&a->router, a->sql)) {
        fprintf(stderr, "stagehand: route table is invalid\n");
        sh_api_crons_stop(a->crons);
        sh_api_backups_stop(a->backups);
        sh_api_sql_stop(a->sql);
        close_db_now(a);
        sh_api_records_free(a->records);
        sh_api_auth_free(a->auth);
        uv_run(a->loop, UV_RUN_NOWAIT); /* the logs' handle closes */
        sh_logs_free(a->logs);
        sh_api_backups_free(a->backups);
        sh_api_crons_free(a->crons);
        sh_api_settings_free(a->settings);
        sh_api_sql_free(a->sql);
        return 1;
    }
    sh_http_server_init(&a->http, a->loop, &a->cfg, sh_router_dispatch, &a->router);
    a->http.on_drained = on_drained;
    a->metrics = sh_metrics_new(a->loop, &a->cfg, &a->router, &a->http, a->db, a->auth, a->logs);
    sh_metrics_register(&a->router, a->metrics);
    sh_metrics_add_records(a->metrics, a->records);
    a->http.on_done = sh_metrics_on_done;
    a->http.on_done_ud = a->metrics;
    if (a->cfg.metrics_listen) {
        /* The same config but one listener; its strings stay the main config's. */
        a->metrics_cfg = a->cfg;
        a->metrics_cfg.listen[0] = a->cfg.metrics_listen;
        a->metrics_cfg.nlisten = 1;
        a->metrics_cfg.nowned = 0;
        sh_router_init(&a->metrics_router, &a->metrics_cfg);
        sh_router_use(&a->metrics_router, sh_api_mw_auth, a->auth);
        sh_metrics_register(&a->metrics_router, a->metrics);
        sh_http_server_init(&a->metrics_http, a->loop, &a->metrics_cfg, sh_router_dispatch,
                            &a->metrics_router);
        a->has_metrics_http = 1;
    }
    if (sh_http_server_listen(&a->http, err, sizeof(err)) ||
        (a->has_metrics_http && sh_http_server_listen(&a->metrics_http, err, sizeof(err)))) {
        fprintf(stderr, "stagehand: %s\n", err);
        sh_api_crons_stop(a->crons);
        sh_api_backups_stop(a->backups);
        sh_api_sql_stop(a->sql);
        close_db_now(a);
        sh_api_records_free(a->records);
        sh_api_auth_free(a->auth);
        sh_metrics_stop(a->metrics);
        uv_run(a->loop, UV_RUN_NOWAIT);
        sh_metrics_free(a->metrics);
        sh_logs_free(a->logs);
        sh_api_backups_free(a->backups);
        sh_api_crons_free(a->crons);
        sh_api_settings_free(a->settings);
        sh_api_sql_free(a->sql);
        return 1;
    }
    uv_signal_init(a->loop, &a->sigterm);
    uv_signal_init(a->loop, &a->sigint);
    a->sigterm.data = a->sigint.data = a;
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    uv_timer_init(a->loop, &a->drain_timer);
    if (a->cfg.redis)
        open_redis(a);

    for (unsigned i = 0; i < a->http.net.nlisteners; i++) {
        if (nbound < SH_ARRAY_LEN(bound_addrs))
            snprintf(bound_addrs[nbound++], sizeof(bound_addrs[0]), "%s",
                     a->http.net.listeners[i].bound);
        printf("%s\n", a->http.net.listeners[i].bound);
        sh_log_info("main", "listening on %s", a->http.net.listeners[i].bound);
    }
    if (a->has_metrics_http) {
        printf("metrics %s\n", a->metrics_http.net.listeners[0].bound);
        sh_log_info("main", "metrics listening on %s", a->metrics_http.net.listeners[0].bound);
    }
    fflush(stdout);
    notify("READY=1");

    uv_run(a->loop, UV_RUN_DEFAULT);

    sh_http_server_deinit(&a->http);
    if (a->has_metrics_http)
        sh_http_server_deinit(&a->metrics_http);
    uv_run(a->loop, UV_RUN_DEFAULT); /* let close callbacks run */
    sh_router_deinit(&a->router);
    if (a->has_metrics_http)
        sh_router_deinit(&a->metrics_router);
    sh_metrics_free(a->metrics);
    sh_logs_free(a->logs);
    sh_api_records_free(a->records);
    sh_api_auth_free(a->auth);
    sh_api_backups_free(a->backups);
    sh_api_crons_free(a->crons);
    sh_api_settings_free(a->settings);
    sh_api_sql_free(a->sql);
    if (a->has_files)
        sh_static_deinit(&a->files);
    sh_log_info("main", "stopped after %llu requests", (unsigned long long)a->http.requests);
    sh_log_flush();
    uv_loop_close(a->loop);
    if (!a->restore) /* serve() still needs the directory for the swap */
        sh_config_deinit(&a->cfg);
    return 0;
}

int main(int argc, char **argv, char **envp)
{
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0) {
        fprintf(stderr, "stagehand: libsodium failed to initialise\n");
        return 1;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    self_argv0 = argv[0];
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return serve(argc - 2, argv + 2, envp);
    if (strcmp(cmd, "collections") == 0) {
        sh_log_min_level = SH_LOG_WARN;
        int rc = sh_cli_collections(argc - 2, argv + 2, envp);
        sh_log_flush();
        return rc;
    }
    if (strcmp(cmd, "superuser") == 0) {
        sh_log_min_level = SH_LOG_WARN;
        int rc = argc < 3 ? (sh_cli_superuser_usage(stderr), 2)
                          : sh_cli_superuser(argc - 2, argv + 2, envp);
        sh_log_flush();
        return rc;
    }
    if (strcmp(cmd, "backup") == 0) {
        sh_log_min_level = SH_LOG_WARN;
        int rc =
            argc < 3 ? (sh_cli_backup_usage(stderr), 2) : sh_cli_backup(argc - 2, argv + 2, envp);
        sh_log_flush();
        return rc;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("stagehand %s\n", SH_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "stagehand: unknown command: %s\n", cmd);
    return 2;
}
