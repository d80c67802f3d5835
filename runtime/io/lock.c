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
#include <dirent.h>
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

/* DIR holds nothing but NAME */
static int holds_only(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int only = d != NULL;
    while (only && (e = readdir(d)))
        only = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, name);
    if (d) closedir(d);
    return only;
}

void hsi_unlock_dir_unmade(int fd, const char *dir, const char *name, const char *top)
{
    char path[4200];
    int ok = fd >= 0 && top && snprintf(path, sizeof path, "%s", dir) < (int)sizeof path &&
             holds_only(dir, name);
    size_t n = ok ? strlen(path) : 0, ntop = top ? strlen(top) : 0;
    while (n > 1 && path[n - 1] == '/') path[--n] = '\0';
    if (ok) {
        char lock[4300];
        snprintf(lock, sizeof lock, "%s/%s", path, name);
        /* removed while still held: a process that opened it meanwhile finds the folder gone */
        ok = unlink(lock) == 0;
    }
    /* the folder, then each parent the command made, while empty */
    while (ok && n >= ntop && rmdir(path) == 0) {
        while (n > 0 && path[n - 1] != '/') n--;
        while (n > 1 && path[n - 1] == '/') n--;
        path[n] = '\0';
    }
    hsi_unlock_dir(fd);
}
