/*
 * The servers the Redis and group tests run beside stagehand, each a child
 * process of the test with a known pid (stopped by that pid, never by name):
 * a redis-server on a unix socket in a temporary folder, and an nginx
 * proxying round-robin to several instances.
 */
#ifndef SH_IT_GROUP_SERVERS_H
#define SH_IT_GROUP_SERVERS_H

#include <sys/types.h>

extern char redis_sock[100]; /* the socket path once started */
extern pid_t redis_pid;      /* 0 when not running */

/* Starts a fresh, empty redis-server (the same socket path as before after a
 * redis_kill) and waits until it accepts. 0 or -1. */
int redis_start(void);
/* SIGKILL (after SIGCONT, if it was stopped) and reap. */
void redis_kill(void);
/* For it_defer: kills it and removes its folder. */
void redis_cleanup(void *unused);

/* Starts nginx in dir (a folder of the test's), listening on a free
 * loopback port, with an upstream of the n backend ports (round robin,
 * keep-alive, X-Forwarded-For set). Returns the port, or -1 (its error log
 * printed). Stopped when the current scope ends. */
int nginx_front(const char *dir, const int *ports, int n);

#endif
