/*
 * The development mailer: where password-reset mails go until a real mail
 * transport exists (--mailer). A mail carries a credential (the reset
 * token: whoever holds it sets the account's password), so it never goes
 * to the log unless the operator asked for exactly that:
 *
 *  - "file" (default): the mail is appended to <dir>/mail.log, created with
 *    mode 0600 (and set to 0600 if it existed), opened with O_NOFOLLOW so a
 *    symlink planted in the data directory cannot redirect it. The file is
 *    written on libuv's threadpool (uv_fs_*), never on the loop. The log
 *    says that a mail was written, for which record, without the token.
 *  - "log": the mail is printed in the log (mod=mailer, level warn), for
 *    development only: the log then holds credentials.
 *  - "off": nothing is sent (the log notes the record).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth_int.h"
#include "stagehand/config.h"

#define MOD "mailer"

enum { MAILER_FILE, MAILER_LOG, MAILER_OFF };

int sh__auth_mailer_parse(const char *name)
{
    if (strcmp(name, "file") == 0)
        return MAILER_FILE;
    if (strcmp(name, "log") == 0)
        return MAILER_LOG;
    if (strcmp(name, "off") == 0)
        return MAILER_OFF;
    return -1;
}

/* One append: open, chmod, write, close, each step on the threadpool. */
struct mail {
    uv_fs_t req;
    uv_loop_t *loop;
    uv_file fd;
    char *text; /* holds the token: wiped before it is freed */
    size_t len;
    char path[];
};

static void mail_free(struct mail *m)
{
    sodium_memzero(m->text, m->len);
    free(m->text);
    free(m);
}

static void on_close(uv_fs_t *req)
{
    struct mail *m = req->data;
    uv_fs_req_cleanup(req);
    mail_free(m);
}

static void finish(struct mail *m)
{
    if (uv_fs_close(m->loop, &m->req, m->fd, on_close) != 0)
        mail_free(m);
}

static void on_write(uv_fs_t *req)
{
    struct mail *m = req->data;
    if (req->result < 0 || (size_t)req->result != m->len)
        sh_log_error(MOD, "cannot append to %s: %s", m->path,
                     req->result < 0 ? uv_strerror((int)req->result) : "short write");
    uv_fs_req_cleanup(req);
    finish(m);
}

static void on_chmod(uv_fs_t *req)
{
    struct mail *m = req->data;
    uv_fs_req_cleanup(req);
    uv_buf_t buf = uv_buf_init(m->text, (unsigned)m->len);
    if (req->result < 0 || uv_fs_write(m->loop, &m->req, m->fd, &buf, 1, -1, on_write) != 0) {
        sh_log_error(MOD, "cannot make %s private; the mail was not written", m->path);
        finish(m);
    }
}

static void on_open(uv_fs_t *req)
{
    struct mail *m = req->data;
    ssize_t fd = req->result;
    uv_fs_req_cleanup(req);
    if (fd < 0) {
        sh_log_error(MOD, "cannot open %s: %s", m->path, uv_strerror((int)fd));
        mail_free(m);
        return;
    }
    m->fd = (uv_file)fd;
    if (uv_fs_fchmod(m->loop, &m->req, m->fd, 0600, on_chmod) != 0)
        finish(m);
}

static void append(struct sh_api_auth *a, char *text)
{
    const char *dir = a->cfg->dir ? a->cfg->dir : ".";
    size_t dl = strlen(dir);
    struct mail *m = sh_calloc(1, sizeof(*m) + dl + sizeof("/mail.log"));
    memcpy(m->path, dir, dl);
    memcpy(m->path + dl, "/mail.log", sizeof("/mail.log"));
    m->loop = a->loop;
    m->text = text;
    m->len = strlen(text);
    m->req.data = m;
    if (uv_fs_open(a->loop, &m->req, m->path,
                   O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600, on_open) != 0) {
        sh_log_error(MOD, "cannot open %s", m->path);
        mail_free(m);
    }
}

void sh__auth_mail_reset(struct sh_api_auth *a, const struct sh_collection *c, const char *id,
                         const char *email, const char *token)
{
    switch (a->mailer) {
    case MAILER_OFF:
        sh_log_info(MOD, "password reset for record %s of %s: no mailer (--mailer off)", id,
                    c->name);
        return;
    case MAILER_LOG:
        sh_log_warn(MOD,
                    "password reset for %s of %s: POST /api/collections/%s/"
                    "confirm-password-reset with token %s (valid 30 minutes; --mailer log)",
                    email, c->name, c->name, token);
        return;
    default:
        break;
    }
    int64_t now = sh__now_ms();
    char *text = sh_malloc(1024 + strlen(email) + strlen(c->name) * 2 + strlen(token));
    sprintf(text,
            "To: %s\nX-Stagehand-Time: %lld\nSubject: Reset your %s password\n\n"
            "POST /api/collections/%s/confirm-password-reset\n"
            "{\"token\":\"%s\",\"password\":\"...\",\"passwordConfirm\":\"...\"}\n"
            "(valid 30 minutes)\n\n",
            email, (long long)now, c->name, c->name, token);
    append(a, text);
    sh_log_info(MOD, "password reset mail for record %s of %s appended to mail.log", id, c->name);
}
