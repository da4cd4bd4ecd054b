/*
 * The Redis client of the cache module: one connection driven by the loop
 * through hiredis's asynchronous API, with a deadline on every command, a
 * bound on commands in flight, and a circuit breaker, so that Redis can only
 * ever make a request miss the cache, never fail it or stall the loop.
 *
 * States: DOWN (no connection; the next attempt is scheduled with a backoff
 * that doubles up to backoff_max), CONNECTING (TCP or unix connect, then
 * AUTH/SELECT/PING; each step under connect_timeout), UP (commands accepted).
 * A command that fails or passes its deadline counts one failure; after
 * breaker_threshold consecutive failures the connection is dropped (every
 * outstanding command completes as failed at once) and the client is DOWN:
 * that is the open breaker. The reconnect's handshake is the probe: a PING
 * answered closes the breaker again. Commands issued while not UP are
 * refused synchronously, so the caller goes straight to SQLite.
 *
 * Commands issued in one loop turn leave in one write (hiredis buffers them
 * until the socket's writable event): pipelining for free.
 *
 * Loop thread only; nothing here blocks (host names are resolved with
 * uv_getaddrinfo, the connect is non-blocking).
 */
#ifndef STAGEHAND_CACHE_H
#define STAGEHAND_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct redisReply;

/* ---- where Redis is ---- */

#define SH_REDIS_HOST_MAX     256
#define SH_REDIS_PASSWORD_MAX 512

struct sh_redis_addr {
    char host[SH_REDIS_HOST_MAX];         /* host name or address, or the socket path when unix */
    int port;                             /* 6379 when not given; unused for unix */
    int unix_socket;                      /* 1: host is a filesystem path */
    int db;                               /* SELECT index, 0 when not given */
    char password[SH_REDIS_PASSWORD_MAX]; /* "" when none; percent-decoded */
    char user[SH_REDIS_HOST_MAX];         /* ACL user ("" = default); AUTH user password */
};

/* Parses `redis://[[user]:password@]host[:port][/db]` (an IPv6 host in
 * brackets), `unix:/path/to.sock[?db=N]` or `unix:///path?db=N&password=P`.
 * Returns 0, or SH_EINVAL with a reason in *why (static text) for anything
 * else, including `rediss://` (hiredis 0.14 has no TLS: put stunnel or a
 * unix socket in front). */
int sh_redis_parse_url(const char *url, struct sh_redis_addr *out, const char **why);

/* ---- the client ---- */

struct sh_redis_options {
    const char *url;             /* required */
    const char *password;        /* overrides the URL's when non-NULL and non-empty */
    uint64_t timeout_ms;         /* deadline of each command, from when it is issued */
    uint64_t connect_timeout_ms; /* deadline of the connect and of each handshake step */
    uint64_t backoff_max_ms;     /* longest wait between two connection attempts */
    unsigned breaker_threshold;  /* consecutive failures that drop the connection */
    unsigned max_pending;        /* commands in flight; beyond it, refused */
    /* Subscriber mode: the connection SUBSCRIBEs to channel once its handshake
     * succeeded (again after every reconnect) and then carries only messages,
     * each handed to on_message (payload bytes, valid during the call);
     * on_subscribed runs each time the subscription is (re)made, so the
     * receiver knows messages sent while it was away are lost. A client in
     * this mode refuses commands. NULL channel: a normal client. */
    const char *channel;
    void (*on_message)(void *arg, const char *payload, size_t len);
    void (*on_subscribed)(void *arg);
    void *arg;
};

/* Fills the defaults: 5 ms, 1 s, 5 s, 5 failures, 4096 in flight. */
void sh_redis_options_init(struct sh_redis_options *o);

enum sh_redis_state {
    SH_REDIS_DOWN = 0,
    SH_REDIS_CONNECTING = 1,
    SH_REDIS_UP = 2,
};

struct sh_redis_stats {
    uint64_t commands;      /* accepted by sh_redis_command */
    uint64_t replies;       /* answered in time (error replies included) */
    uint64_t error_replies; /* answered in time with a Redis error */
    uint64_t failures;      /* connection lost or dropped before the answer */
    uint64_t timeouts;      /* passed their deadline */
    uint64_t refused;       /* refused: not UP, or max_pending in flight */
    uint64_t connects;      /* handshakes completed */
    uint64_t breaker_opens; /* connections dropped for repeated failures */
    unsigned pending;       /* in flight now */
    enum sh_redis_state state;
};

struct sh_redis;

/* A command's completion: reply is the answer (owned by hiredis, valid only
 * during the call; REDIS_REPLY_ERROR is an answer too), or NULL when the
 * command failed or passed its deadline. Called exactly once per accepted
 * command unless cancelled, never from inside sh_redis_command. */
typedef void (*sh_redis_reply_fn)(void *arg, const struct redisReply *reply);

/* The handle of a command in flight, to cancel it. Valid until its fn ran. */
struct sh_redis_call;

/* Starts the client and its first connection attempt. The address is
 * checked here: a bad URL returns SH_EINVAL (and logs why). Unreachable
 * Redis is not an error: the client stays DOWN and keeps trying. */
int sh_redis_open(struct sh_redis **out, uv_loop_t *loop, const struct sh_redis_options *o);

/* Drops the connection (outstanding commands complete as failed), closes
 * the handles, and frees the client when they are closed. */
void sh_redis_close(struct sh_redis *r);

/* Issues one command (argv of argc strings with their lengths). Returns 0
 * (fn will be called exactly once unless cancelled; *call, when non-NULL,
 * receives the handle), or SH_EBUSY without calling fn when the client is not
 * UP or max_pending commands are in flight. */
int sh_redis_command(struct sh_redis *r, sh_redis_reply_fn fn, void *arg, int argc,
                     const char *const *argv, const size_t *lens, struct sh_redis_call **call);

/* PUBLISH payload to channel, fire and forget (a failure is counted, never
 * reported). 0 or SH_EBUSY (not UP). */
int sh_redis_publish(struct sh_redis *r, const char *channel, const char *payload, size_t len);

/* fn of this command will not be called; the command itself still runs. */
void sh_redis_cancel(struct sh_redis_call *call);

enum sh_redis_state sh_redis_state(const struct sh_redis *r);
void sh_redis_stats(const struct sh_redis *r, struct sh_redis_stats *out);

#endif
