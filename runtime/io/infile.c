/* infile.c — opening the files a user names for reading (netdefs, experiments, registries,
 * datasets, masks, weights, checkpoints, states, inputs). What is not a regular file — a FIFO,
 * a directory, a device, a socket — is refused at once with its kind: the open never blocks
 * (O_NONBLOCK, so a FIFO without a writer does not hang) and nothing is read from it.
 * Used by the compiler too (hsicc_core links this file alone), so it depends on nothing else.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsi_io.h"

static const char *kind_of(mode_t m)
{
    return S_ISDIR(m) ? "is a directory"
         : S_ISFIFO(m) ? "is a FIFO (named pipe), not a regular file"
         : S_ISCHR(m) ? "is a character device, not a regular file"
         : S_ISBLK(m) ? "is a block device, not a regular file"
         : S_ISSOCK(m) ? "is a socket, not a regular file"
                       : "is not a regular file";
}

/* An empty path printed as itself left the message without a name (": cannot open: ..."). */
static int no_path(const char *path, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", path ? "'' (empty path)" : "(no path: NULL)", what);
    return -1;
}

int hsi_open_regular(const char *path, int64_t *size, char *err, size_t errlen)
{
    if (!path || !*path) return no_path(path, "cannot open: no file name given", err, errlen);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    const char *bad = fstat(fd, &st) != 0 ? strerror(errno)
                    : !S_ISREG(st.st_mode) ? kind_of(st.st_mode) : NULL;
    if (bad) {
        snprintf(err, errlen, "%s: %s", path, bad);
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (size) *size = (int64_t)st.st_size;
    return fd;
}

FILE *hsi_open_input(const char *path, char *err, size_t errlen)
{
    int fd = hsi_open_regular(path, NULL, err, errlen);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

int hsi_check_input(const char *path, char *err, size_t errlen)
{
    int fd = hsi_open_regular(path, NULL, err, errlen);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

int hsi_check_output(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) return no_path(path, "no file name to write to", err, errlen);
    struct stat st;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode)) return 0;   /* new, or a file to replace */
    snprintf(err, errlen, "%s: %s; a result file would replace it: give another path", path,
             kind_of(st.st_mode));
    return -1;
}

int hsi_check_not_input(const char *out, const char *in, const char *what, char *err,
                        size_t errlen)
{
    struct stat so, si;
    if (!out || !in || stat(out, &so) != 0 || stat(in, &si) != 0) return 0;
    if (so.st_dev != si.st_dev || so.st_ino != si.st_ino) return 0;
    snprintf(err, errlen, "%s is the %s (%s): writing it would replace the input; give another "
             "path", out, what, in);
    return -1;
}
