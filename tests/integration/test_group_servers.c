/*
 * The helper servers of test_group_servers.h.
 */
#include "test_group_servers.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

char redis_sock[100];
pid_t redis_pid;
static char redis_dir[64];

static pid_t spawn_quiet(const char *const *argv, const char *log)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int out = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (out >= 0) {
        dup2(out, 1);
        dup2(out, 2);
    }
    execvp(argv[0], (char **)(uintptr_t)argv);
    _exit(127);
}

int redis_start(void)
{
    if (!redis_dir[0]) {
        snprintf(redis_dir, sizeof redis_dir, "/tmp/sh-it-redis-XXXXXX");
        if (!mkdtemp(redis_dir))
            return -1;
        snprintf(redis_sock, sizeof redis_sock, "%s/redis.sock", redis_dir);
    }
    const char *argv[] = {"redis-server", "--port", "0",       "--unixsocket",
                          redis_sock,     "--save", "",        "--appendonly",
                          "no",           "--dir",  redis_dir, NULL};
    pid_t pid = spawn_quiet(argv, NULL);
    if (pid < 0)
        return -1;
    redis_pid = pid;
    for (int i = 0; i < 500; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", redis_sock);
        int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
        close(fd);
        if (rc == 0)
            return 0;
        usleep(10000);
    }
    return -1;
}

void redis_kill(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGCONT);
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
        redis_pid = 0;
    }
    if (redis_sock[0])
        unlink(redis_sock);
}

void redis_cleanup(void *unused)
{
    (void)unused;
    redis_kill();
    if (redis_dir[0])
        it_rmrf(redis_dir);
    redis_dir[0] = 0;
    redis_sock[0] = 0;
}

/* ---- nginx ---- */

static void nginx_stop(void *p)
{
    pid_t pid = (pid_t)(intptr_t)p;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

int nginx_front(const char *dir, const int *ports, int n)
{
    int port = free_port();
    if (port < 0)
        return -1;
    char *ups = it_sprintf("%s", "");
    for (int i = 0; i < n; i++)
        ups = it_sprintf("%s    server 127.0.0.1:%d;\n", ups, ports[i]);
    char *conf = it_sprintf(
        "daemon off;\nmaster_process off;\npid %s/nginx.pid;\nerror_log %s/nginx-error.log;\n"
        "events { worker_connections 512; }\n"
        "http {\n  access_log off;\n  keepalive_requests 100000;\n  client_body_temp_path "
        "%s/body;\n"
        "  proxy_temp_path %s/proxy;\n  fastcgi_temp_path %s/fcgi;\n  uwsgi_temp_path %s/uwsgi;\n"
        "  scgi_temp_path %s/scgi;\n"
        "  upstream stagehand {\n%s    keepalive 16;\n  }\n"
        "  server {\n    listen 127.0.0.1:%d;\n    location / {\n"
        "      proxy_pass http://stagehand;\n      proxy_http_version 1.1;\n"
        "      proxy_set_header Connection \"\";\n"
        "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "      proxy_buffering off;\n    }\n  }\n}\n",
        dir, dir, dir, dir, dir, dir, dir, ups, port);
    char *path = it_sprintf("%s/nginx.conf", dir);
    if (it_write_file(path, conf, strlen(conf)))
        return -1;
    const char *nginx = access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : "nginx";
    const char *argv[] = {nginx, "-p", dir, "-c", path, "-e", it_sprintf("%s/nginx-error.log", dir),
                          NULL};
    pid_t pid = spawn_quiet(argv, it_sprintf("%s/nginx-out.log", dir));
    if (pid < 0)
        return -1;
    it_defer(nginx_stop, (void *)(intptr_t)pid);
    for (int i = 0; i < 500; i++) {
        int fd = it_connect("127.0.0.1", port, 100);
        if (fd >= 0) {
            close(fd);
            return port;
        }
        usleep(10000);
    }
    it_note("nginx did not start: see %s/nginx-error.log", dir);
    return -1;
}
