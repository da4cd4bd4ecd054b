/*
 * POST /api/backups/upload (superusers): a backup archive sent as
 * multipart/form-data in the field `file`, as PocketBase's SDK sends it
 * (pb.backups.upload). The http module has already streamed the part to a
 * temporary file under <dir>/storage/.tmp/ (never held in memory; bounded by
 * --max-upload); here it is checked and moved into <dir>/backups/ under its
 * file name, on the threadpool (no file I/O on the loop):
 *  - the name must be a new backup name (PocketBase's ^[a-z0-9_-]+\.zip$;
 *    validation_match_invalid) that no backup has yet
 *    (validation_backup_name_exists: link(2) refuses an existing name, so
 *    two uploads of one name cannot both win);
 *  - the content must start as a ZIP archive does (PK\3\4;
 *    validation_invalid_mime_type). Whether it is a stagehand backup is
 *    checked by a restore, which validates before it changes anything;
 *  - the file and the folder are fsynced before the answer (204).
 * The temporary file is removed when the request ends, moved or not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_int.h"
#include "ops_int.h"

struct upload {
    uv_work_t work;
    struct sh_req_watch watch;
    char src[4096], dst[4096], dirpath[4096];
    int rc; /* 0, SH_ECONFLICT, SH_EINVAL (not a zip), or a negative errno */
};

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static void upload_work(uv_work_t *w)
{
    struct upload *u = w->data;
    unsigned char magic[4] = {0};
    int fd = open(u->src, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        u->rc = -errno;
        return;
    }
    ssize_t n = read(fd, magic, sizeof magic);
    close(fd);
    if (n != 4 || memcmp(magic, "PK\3\4", 4) != 0) {
        u->rc = SH_EINVAL;
        return;
    }
    if (mkdir(u->dirpath, 0700) != 0 && errno != EEXIST) {
        u->rc = -errno;
        return;
    }
    if (link(u->src, u->dst) != 0) { /* same filesystem: <dir>/storage/.tmp -> <dir>/backups */
        u->rc = errno == EEXIST ? SH_ECONFLICT : -errno;
        return;
    }
    unlink(u->src);
    u->rc = fsync_path(u->dst, O_RDONLY);
    if (u->rc == 0)
        u->rc = fsync_path(u->dirpath, O_RDONLY | O_DIRECTORY);
}

static void upload_done(uv_work_t *w, int status)
{
    struct upload *u = w->data;
    struct sh_req *r = u->watch.req;
    if (r) {
        sh_req_unwatch(&u->watch);
        int rc = status ? status : u->rc;
        if (rc == 0)
            sh_res_send(r, 204, NULL, NULL, 0);
        else if (rc == SH_ECONFLICT)
            sh__api_field_error(r, "An error occurred while validating the submitted data.", "file",
                                "validation_backup_name_exists",
                                "Backup with the specified name already exists.");
        else if (rc == SH_EINVAL)
            sh__api_field_error(r, "An error occurred while validating the submitted data.", "file",
                                "validation_invalid_mime_type",
                                "The file must be a ZIP archive (application/zip).");
        else
            sh__api_error(r, 400, "Failed to upload the backup.", NULL);
    }
    free(u);
}

int sh__ops_backup_upload(struct sh_req *r, const char *dir, uv_loop_t *loop)
{
    if (r->form_error || !r->is_form) {
        sh__api_error(r, 400, "Failed to load the submitted data due to invalid formatting.", NULL);
        return SH_HANDLED;
    }
    if (r->upload_error) {
        sh__api_fail(r, r->upload_error);
        return SH_HANDLED;
    }
    const struct sh_form_part *file = NULL;
    for (unsigned i = 0; i < r->nform; i++)
        if (r->form[i].is_file && r->form[i].name.len == 4 &&
            memcmp(r->form[i].name.ptr, "file", 4) == 0)
            file = &r->form[i];
    if (!file || !file->tmp_path.len) {
        sh__api_field_error(r, "An error occurred while validating the submitted data.", "file",
                            "validation_required", "Missing required value.");
        return SH_HANDLED;
    }
    char name[SH_BACKUP_KEY_MAX + 1];
    if (file->filename.len >= sizeof name) {
        sh__api_field_error(r, "An error occurred while validating the submitted data.", "file",
                            "validation_match_invalid", "Invalid backup file name.");
        return SH_HANDLED;
    }
    memcpy(name, file->filename.ptr, file->filename.len);
    name[file->filename.len] = 0;
    if (!sh_backup_name_valid(name)) {
        sh__api_field_error(r, "An error occurred while validating the submitted data.", "file",
                            "validation_match_invalid",
                            "The file name must look like name.zip (a-z, 0-9, _ and -).");
        return SH_HANDLED;
    }
    struct upload *u = sh_calloc(1, sizeof *u);
    u->work.data = u;
    if (file->tmp_path.len >= sizeof u->src ||
        sh_backup_path(dir, name, u->dst, sizeof u->dst) != 0 ||
        (size_t)snprintf(u->dirpath, sizeof u->dirpath, "%s/backups", dir) >= sizeof u->dirpath) {
        free(u);
        sh__api_error(r, 400, "Failed to upload the backup.", NULL);
        return SH_HANDLED;
    }
    memcpy(u->src, file->tmp_path.ptr, file->tmp_path.len);
    u->src[file->tmp_path.len] = 0;
    if (uv_queue_work(loop, &u->work, upload_work, upload_done) != 0) {
        free(u);
        sh__api_fail(r, SH_EBUSY);
        return SH_HANDLED;
    }
    sh_req_watch(r, &u->watch);
    return SH_HANDLED;
}
