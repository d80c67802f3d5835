/* atomic.c — result files appear whole or not at all: temp file in the target's directory,
 * write, fflush, fsync, rename over the target; on any failure the temp file is removed and the
 * old target stays. Also hsi_mkdirs (mkdir -p), and write faults as errors: SIGXFSZ ignored, so
 * the file-size limit is a failed write like a full disk (hsicc links this file too).
 * Not here: fsync of the directory after rename (a power cut may lose the new name, never the
 * content of either version), and locking against concurrent writers of the same path.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsi_io.h"

void hsi_write_faults_as_errors(void)
{
    signal(SIGXFSZ, SIG_IGN);
}

const char *hsi_write_strerror(int e)
{
    if (e == EFBIG) return "File too large (the file-size limit, ulimit -f, was reached)";
    if (e == ENOSPC) return "No space left on device";
    return strerror(e);
}

/* A path in a message: as it is, or (past 200 bytes) its start, its end and its length, so
 * that the reason after it still fits the message. */
static void short_path(const char *p, char *buf, size_t n)
{
    size_t len = strlen(p);
    if (len <= 200) snprintf(buf, n, "%s", p);
    else snprintf(buf, n, "%.60s...%s (%zu bytes)", p, p + len - 20, len);
}

int hsi_mkdirs(const char *path, char *err, size_t errlen)
{
    char shown[320];
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        struct stat st;
        if (mkdir(p, 0777) != 0) {
            int e = errno;
            short_path(p, shown, sizeof shown);
            if (e == EEXIST && stat(p, &st) != 0) {   /* a link to nothing, or a link loop */
                e = errno;
                snprintf(err, errlen, "%s: cannot create directory: %s", shown,
                         e == ENOENT ? "a symbolic link to a missing directory" : strerror(e));
                free(p);
                return -1;
            }
            if (e != EEXIST || !S_ISDIR(st.st_mode)) {
                snprintf(err, errlen, "%s: cannot create directory: %s", shown,
                         e == EEXIST ? "a file of that name exists" : strerror(e));
                free(p);
                return -1;
            }
        }
        p[i] = saved;
    }
    free(p);
    return 0;
}

int hsi_atomic_open(hsi_atomic_file *af, const char *path, char *err, size_t errlen)
{
    memset(af, 0, sizeof *af);
    if (hsi_check_output(path, err, errlen))
        return -1;
    size_t n = strlen(path);
    af->path = malloc(n + 1);
    af->tmp = malloc(n + sizeof ".tmp.XXXXXX");
    if (!af->path || !af->tmp) {
        snprintf(err, errlen, "%s: out of memory", path);
        hsi_atomic_abort(af);
        return -1;
    }
    memcpy(af->path, path, n + 1);
    memcpy(af->tmp, path, n);
    memcpy(af->tmp + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a temporary file beside it: %s", path,
                 strerror(errno));
        free(af->tmp);
        af->tmp = NULL;
        hsi_atomic_abort(af);
        return -1;
    }
    /* mkstemp makes 0600; result files are ordinary files (0666 & umask). */
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        hsi_atomic_abort(af);
        return -1;
    }
    return 0;
}

void hsi_atomic_abort(hsi_atomic_file *af)
{
    if (af->fp)
        fclose(af->fp);
    if (af->tmp)
        remove(af->tmp);
    free(af->tmp);
    free(af->path);
    memset(af, 0, sizeof *af);
}

int hsi_atomic_commit(hsi_atomic_file *af, char *err, size_t errlen)
{
    const char *what = NULL;
    int e = 0;
    if (ferror(af->fp)) {
        /* an earlier write failed and stdio kept no errno: one more byte at the end of the temp
         * file (removed below) fails the same way (EFBIG past ulimit -f, ENOSPC...) */
        int fd = fileno(af->fp);
        e = lseek(fd, 0, SEEK_END) >= 0 && write(fd, "", 1) < 0 ? errno : EIO;
        what = "write failed";
    } else if (fflush(af->fp) != 0)
        what = "write failed", e = errno;
    else if (fsync(fileno(af->fp)) != 0)
        what = "fsync failed", e = errno;
    if (!what) {
        int rc = fclose(af->fp);
        af->fp = NULL;
        if (rc != 0)
            what = "close failed", e = errno;
        else if (rename(af->tmp, af->path) != 0)
            what = "rename failed", e = errno;
    }
    if (what) {
        snprintf(err, errlen, "%s: %s: %s (the previous file, if any, is unchanged)", af->path,
                 what, hsi_write_strerror(e));
        hsi_atomic_abort(af);
        return -1;
    }
    free(af->tmp);
    free(af->path);
    memset(af, 0, sizeof *af);
    return 0;
}

int hsi_atomic_write(const char *path, const void *bytes, size_t n, char *err, size_t errlen)
{
    hsi_atomic_file af;
    if (hsi_atomic_open(&af, path, err, errlen))
        return -1;
    if (n) fwrite(bytes, 1, n, af.fp);
    return hsi_atomic_commit(&af, err, errlen);   /* reports a failed fwrite (ferror) */
}

/* A name hsi_atomic_open makes: "<name>.tmp." and mkstemp's 6 characters. */
static int is_atomic_temp(const char *name)
{
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name || strlen(t + 5) != 6) return 0;
    for (const char *c = t + 5; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))) return 0;
    return 1;
}

int hsi_remove_stale_temps(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(len);
        if (!p) break;
        snprintf(p, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0) {
            if (S_ISREG(st.st_mode) && is_atomic_temp(e->d_name)) n += remove(p) == 0;
            else if (S_ISDIR(st.st_mode) && depth > 0) n += hsi_remove_stale_temps(p, depth - 1);
        }
        free(p);
    }
    closedir(d);
    return n;
}
