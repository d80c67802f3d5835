/* atomic.c — result files appear whole or not at all: temp file in the target's directory,
 * write, fflush, fsync, rename over the target; on any failure the temp file is removed and the
 * old target stays. Also hsi_mkdirs (mkdir -p), and write faults as errors: SIGXFSZ ignored, so
 * the file-size limit is a failed write like a full disk (hsicc links this file too).
 * Temporary names are registered while they exist: SIGINT, SIGTERM or SIGHUP arriving while a
 * write is open (and not caught by the program) removes them before the process ends as the
 * signal says, so an interrupted writer leaves no "NAME.tmp.hsicc-PID-XXXXXX" behind (SIGKILL still can:
 * hsi_remove_stale_temps clears those under a held lock). In a program that computes
 * (the trainers) those signals are taken by a thread of their own instead of a handler
 * (hsi_signals_take), which does the same once the commit in progress, if any, is done
 * (hsi_temp_hold: temporaries made and registered, or renamed and unregistered, as one step).
 * Not here: fsync of the directory after rename (a power cut may lose the new name, never the
 * content of either version), and locking against concurrent writers of the same path.
 */
#define _GNU_SOURCE   /* syscall(SYS_getdents64) in the signal handler */
#if !defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L
#error "hsicc's runtime is C11 (aligned_alloc, _Atomic, _Thread_local): compile it with -std=c11, gnu11 or later"
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* ---- temporary names removed on a terminating signal ------------------------------------ */

#define TEMP_SLOTS 64
static _Atomic(const char *) g_temps[TEMP_SLOTS];
static const int g_term_signals[] = {SIGINT, SIGTERM, SIGHUP};
static atomic_int g_handlers_installed;
/* Held while temporaries are made and registered, or renamed and unregistered (hsi_temp_hold),
 * and taken for good by the signal thread before it removes them: it removes all of a commit's
 * temporaries or none, and no name is made after its removal pass. Recursive: register and
 * unregister take it too, inside a hold. */
static pthread_mutex_t g_temp_mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static _Thread_local int t_hold_depth;
static _Thread_local sigset_t t_hold_mask;

/* Removes the files of folder p (one level: a writer's temporary folder), then p; with raw
 * getdents64 records, since opendir/readdir may allocate and are not async-signal-safe. */
static void remove_flat_folder(const char *p)
{
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[4096];
        long n;
        while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
            for (long off = 0; off < n;) {
                /* struct linux_dirent64: ino 8, off 8, reclen 2, type 1, then the name */
                unsigned short reclen;
                memcpy(&reclen, buf + off + 16, sizeof reclen);
                const char *name = buf + off + 19;
                if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) unlinkat(fd, name, 0);
                off += reclen;
            }
        close(fd);
    }
    rmdir(p);
}

/* Removes every registered name (a folder with its files). Only async-signal-safe calls. */
static void remove_temps(void)
{
    for (int i = TEMP_SLOTS - 1; i >= 0; i--) {
        const char *p = atomic_load(&g_temps[i]);
        if (p && unlink(p) != 0 && (errno == EISDIR || errno == EPERM)) remove_flat_folder(p);
    }
}

/* Removes the registered names, then ends the process as the signal would have. */
static void on_terminating_signal(int sig)
{
    remove_temps();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_temp_handlers(void)
{
    if (atomic_exchange(&g_handlers_installed, 1)) return;
    for (size_t i = 0; i < sizeof g_term_signals / sizeof *g_term_signals; i++) {
        struct sigaction old, sa;
        /* a program's own handler (the trainer's "save and stop") or SIG_IGN stays as it is */
        if (sigaction(g_term_signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL
            || (old.sa_flags & SA_SIGINFO))
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_terminating_signal;
        sigfillset(&sa.sa_mask);
        sigaction(g_term_signals[i], &sa, NULL);
    }
}

/* ---- terminating signals taken by a thread of their own ---------------------------------
 * oneDNN 2.6's JIT GEMM kernels (jit_avx512_common_gemm_f32, what dnnl_sgemm and the inner
 * products run on AVX-512) point rsp at a heap buffer while they run: a signal handled on such
 * a thread has its frame pushed there, over the heap (oneDNN issue 4845, fixed in 3.x). Here:
 * "corrupted size vs. prev_size while consolidating" when Slurm stopped a trainer, and the same
 * in a plain loop of dnnl_sgemm under a no-op SIGUSR2 handler, never with oneDNN at AVX2. So
 * no handler may run on a thread that computes: the signals are blocked in the calling thread
 * (and thereby in every thread it starts afterwards: OpenMP's, the batcher's) and a thread of
 * their own waits for them. */
static void (*g_on_signal)(int);

static void take_set(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < sizeof g_term_signals / sizeof *g_term_signals; i++)
        sigaddset(set, g_term_signals[i]);
}

/* hsi_signal_cleanup's function, or NULL. */
static void (*g_cleanup)(void);

void hsi_signal_cleanup(void (*fn)(void))
{
    pthread_mutex_lock(&g_temp_mu);   /* not while the signal thread runs it */
    g_cleanup = fn;
    pthread_mutex_unlock(&g_temp_mu);
}

/* What one signal taken does: on_signal, or the terminating mode. */
static void take_one(int sig, siginfo_t *info)
{
    if (g_on_signal) {
        g_on_signal(sig);
        return;
    }
    /* one ignored where the program started (nohup; SIGINT of a background job) stays ignored:
     * blocked, it is queued rather than dropped; a program's own handler is called here */
    struct sigaction cur;
    if (sigaction(sig, NULL, &cur) == 0 && cur.sa_handler != SIG_DFL
        && cur.sa_handler != on_terminating_signal) {
        if (cur.sa_flags & SA_SIGINFO) cur.sa_sigaction(sig, info, NULL);
        else if (cur.sa_handler != SIG_IGN) cur.sa_handler(sig);
        return;
    }
    /* the temps removed, then the process ends as the signal says (unblocked on this thread,
     * at its default action, raised here). The lock is never given back: a commit in progress
     * on another thread finishes first, and none starts after */
    pthread_mutex_lock(&g_temp_mu);
    remove_temps();
    /* not a handler: a thread of its own, where opendir and the rest are safe */
    if (g_cleanup) g_cleanup();
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    raise(sig);
}

static void *signal_taker(void *arg)
{
    (void)arg;
    sigset_t set;
    take_set(&set);
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&set, &info);
        if (sig > 0) take_one(sig, &info);
    }
    return NULL;
}

int hsi_signals_take(void (*on_signal)(int sig))
{
    static int started;
    if (started) return 0;
    sigset_t set, old;
    take_set(&set);
    g_on_signal = on_signal;
    /* threads started before this call keep a handler: on_signal's, or the temps' */
    if (!on_signal) install_temp_handlers();
    pthread_sigmask(SIG_BLOCK, &set, &old);
    /* one already pending (blocked where the program was started, as a launcher may leave it)
     * is taken now, before this returns, not whenever the thread first runs */
    const struct timespec now = {0, 0};
    siginfo_t info;
    for (int sig; (sig = sigtimedwait(&set, &info, &now)) > 0;) take_one(sig, &info);
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 64 << 10);
    int rc = pthread_create(&th, &at, signal_taker, NULL);
    pthread_attr_destroy(&at);
    if (rc != 0) {   /* no thread: the handlers take them, as before */
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    pthread_setname_np(th, "hsi-signals");   /* as ps and /proc show it */
    started = 1;
    return 0;
}

void hsi_temp_hold(void)
{
    if (t_hold_depth++ == 0) {   /* a handler (no signal thread) on this thread waits too */
        sigset_t set;
        take_set(&set);
        pthread_sigmask(SIG_BLOCK, &set, &t_hold_mask);
    }
    pthread_mutex_lock(&g_temp_mu);
}

void hsi_temp_release(void)
{
    pthread_mutex_unlock(&g_temp_mu);
    if (--t_hold_depth == 0) pthread_sigmask(SIG_SETMASK, &t_hold_mask, NULL);
}

int hsi_temp_register(const char *path)
{
    install_temp_handlers();
    int slot = -1;
    hsi_temp_hold();
    for (int i = 0; i < TEMP_SLOTS && slot < 0; i++) {
        const char *none = NULL;
        if (atomic_compare_exchange_strong(&g_temps[i], &none, path)) slot = i;
    }
    hsi_temp_release();
    return slot;   /* -1: more than TEMP_SLOTS open at once, left to hsi_remove_stale_temps */
}

void hsi_temp_unregister(int slot)
{
    hsi_temp_hold();   /* not while the signal thread reads the name: it is freed after this */
    if (slot >= 0 && slot < TEMP_SLOTS) atomic_store(&g_temps[slot], NULL);
    hsi_temp_release();
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
    return hsi_mkdirs_made(path, NULL, err, errlen);
}

int hsi_mkdirs_made(const char *path, char **made, char *err, size_t errlen)
{
    char shown[320];
    if (made) *made = NULL;
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
        if (mkdir(p, 0777) == 0) {
            if (made && !*made) *made = strdup(p);   /* the first folder this call made */
        } else {
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
    /* every folder made here is one to write outputs in */
    return hsi_check_out_dir(path, err, errlen);
}

int hsi_check_out_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st, root;
    char shown[320];
    if (stat(dir, &st) == 0 && stat("/", &root) == 0 && st.st_dev == root.st_dev &&
        st.st_ino == root.st_ino) {
        short_path(dir, shown, sizeof shown);
        snprintf(err, errlen, "%s: the filesystem's root is not a folder for outputs; give another",
                 shown);
        return -1;
    }
    struct stat target;
    if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode) && stat(dir, &target) != 0) {
        /* a link to a folder that does not exist: said here, not as a temporary file's failure */
        int e = errno;
        char to[4096];
        ssize_t k = readlink(dir, to, sizeof to - 1);
        to[k > 0 ? k : 0] = 0;
        short_path(dir, shown, sizeof shown);
        snprintf(err, errlen, "%s: a symbolic link to %.300s, which %s", shown, to,
                 e == ENOENT ? "does not exist: make that folder, or give another" : strerror(e));
        return -1;
    }
    return 0;
}

char *hsi_output_target(const char *path, char *err, size_t errlen)
{
    char *cur = strdup(path);
    for (int hops = 0; cur; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;   /* new, or not a link */
        if (hops == 40) {   /* the kernel's own limit for a chain of links */
            snprintf(err, errlen, "%s: %s", path, strerror(ELOOP));
            free(cur);
            return NULL;
        }
        size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
        char *to = malloc(cap);
        ssize_t k = to ? readlink(cur, to, cap) : -1;
        if (k < 0 || (size_t)k >= cap) {   /* gone or changed since lstat: the error says it */
            snprintf(err, errlen, "%s: cannot read the link: %s", path,
                     k < 0 && to ? strerror(errno) : "it changed while being read");
            free(to);
            free(cur);
            return NULL;
        }
        to[k] = 0;
        const char *slash = strrchr(cur, '/');
        size_t dir = to[0] != '/' && slash ? (size_t)(slash - cur) + 1 : 0;   /* relative: to the link's folder */
        char *next = malloc(dir + (size_t)k + 1);
        if (next) {
            memcpy(next, cur, dir);
            memcpy(next + dir, to, (size_t)k + 1);
        }
        free(to);
        free(cur);
        cur = next;
    }
    snprintf(err, errlen, "%s: out of memory", path);
    return NULL;
}

int hsi_atomic_open(hsi_atomic_file *af, const char *path, char *err, size_t errlen)
{
    memset(af, 0, sizeof *af);
    af->slot = -1;
    if (hsi_check_output(path, err, errlen))
        return -1;
    /* a link is written through: its target is replaced (the temp file beside the target, on
     * its filesystem) and the link stays a link */
    af->path = hsi_output_target(path, err, errlen);
    if (!af->path)
        return -1;
    af->tmp = hsi_temp_template(af->path);
    if (!af->tmp) {
        snprintf(err, errlen, "%s: out of memory", path);
        hsi_atomic_abort(af);
        return -1;
    }
    hsi_temp_hold();   /* registered and made as one step: a signal removes it or finds none */
    af->slot = hsi_temp_register(af->tmp);
    int fd = mkstemp(af->tmp);
    hsi_temp_release();
    if (fd < 0) {
        if (strcmp(path, af->path))   /* a link: the folder is the target's */
            snprintf(err, errlen, "%s: cannot create a temporary file beside its target %s: %s",
                     path, af->path, strerror(errno));
        else
            snprintf(err, errlen, "%s: cannot create a temporary file beside it: %s", path,
                     strerror(errno));
        hsi_temp_unregister(af->slot);
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
    if (af->tmp)
        hsi_temp_unregister(af->slot);
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
        else {
            hsi_temp_hold();   /* renamed and unregistered as one step */
            if (rename(af->tmp, af->path) != 0) what = "rename failed", e = errno;
            else hsi_temp_unregister(af->slot);
            hsi_temp_release();
        }
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

#define TEMP_MARK ".tmp.hsicc-"

char *hsi_temp_template(const char *prefix)
{
    size_t n = strlen(prefix) + sizeof TEMP_MARK + 24 + sizeof "-XXXXXX";
    char *t = malloc(n);
    if (t)
        snprintf(t, n, "%s" TEMP_MARK "%ld-XXXXXX", prefix, (long)getpid());
    return t;
}

/* A name hsi_temp_template makes, "<name>.tmp.hsicc-<pid>-" and mkstemp's 6 characters, whose
 * process is gone: 1 (a user's "notes.tmp.backup" or "run.tmp.abc123" is never one). */
static int is_stale_temp(const char *name)
{
    const char *t = strstr(name, TEMP_MARK), *c;
    if (!t || t == name) return 0;
    long pid = 0;
    for (c = t + strlen(TEMP_MARK); *c >= '0' && *c <= '9' && pid < 1L << 40; c++)
        pid = pid * 10 + (*c - '0');
    if (c == t + strlen(TEMP_MARK) || *c != '-' || pid < 1 || pid >= 1L << 40
        || strlen(c + 1) != 6) return 0;
    for (c++; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))) return 0;
    /* a live process's (this one's, or another writing there without the folder's lock) stays */
    return pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
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
            if (S_ISREG(st.st_mode) && is_stale_temp(e->d_name)) {
                n += remove(p) == 0;
            } else if (S_ISDIR(st.st_mode) && e->d_name[0] == '.' && is_stale_temp(e->d_name)) {
                remove_flat_folder(p);   /* a map writer's ".STEM.tmp.hsicc-PID-XXXXXX" and its files */
                n += access(p, F_OK) != 0;
            } else if (S_ISDIR(st.st_mode) && depth > 0) {
                n += hsi_remove_stale_temps(p, depth - 1);
            }
        }
        free(p);
    }
    closedir(d);
    return n;
}
