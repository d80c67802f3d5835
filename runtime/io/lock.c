/* lock.c — a folder in use: an exclusive flock(2) on DIR/NAME, held by the process that works
 * in DIR (a trainer in its run folder, hsicc sweep on a point) until it closes the descriptor or
 * ends, however it ends (the kernel drops the lock even after kill -9). The file holds the
 * owner's pid and kind, for the message a second process gets. Advisory: only processes that
 * take the same lock are kept out; nothing here waits for a lock to be free.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "hsi_io.h"

int hsi_lock_dir(const char *dir, const char *name, const char *who, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create the lock file: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char owner[128] = "";
        ssize_t n = e == EWOULDBLOCK ? pread(fd, owner, sizeof owner - 1, 0) : -1;
        owner[n > 0 ? n : 0] = 0;
        owner[strcspn(owner, "\n")] = 0;
        close(fd);
        if (e != EWOULDBLOCK)
            snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(e));
        else
            snprintf(err, errlen, "%s is in use by another process%s%s%s: wait for it to end (or "
                     "stop it), or use another folder", dir, owner[0] ? " (" : "", owner,
                     owner[0] ? ")" : "");
        return -1;
    }
    char text[128];
    int len = snprintf(text, sizeof text, "%s, pid %ld\n", who, (long)getpid());
    /* the text only names the owner in another process's message: not writing it is no error */
    int named = ftruncate(fd, 0) == 0 && pwrite(fd, text, (size_t)len, 0) == len;
    (void)named;
    return fd;
}

void hsi_unlock_dir(int fd)
{
    if (fd >= 0) close(fd);
}
