/* cmd_trainerkey.c — whether a trainer built before can be used again (hsicc sweep).
 *
 * The key of a build is a SHA-256 over everything that decides the executable: this hsicc
 * (its own file), the C compiler (its name, and the file it resolves to through $PATH: path,
 * device, inode, size, mtime), the environment variables that steer that compiler's search
 * paths, every word of the compiler command, and the content of every file the command names:
 * the emitted sources (the compiled netdef and the embedded experiment text), trainer_main.c,
 * libhsirt.a, and every file of each -I folder (the runtime's headers). After a build that
 * succeeded, TRAINER.key records that key and the SHA-256 of the trainer file itself; a trainer
 * is reused only when both match again, so one half written, truncated or changed in any byte
 * since is rebuilt, never run. A record is written atomically after the trainer is in place.
 */
#define _XOPEN_SOURCE 700   /* realpath */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "hsi_data.h"
#include "hsi_io.h"

#define KEY_SUFFIX ".key"
#define KEY_HEAD "hsicc trainer build record (hsicc sweep): the trainer beside it was built from these inputs\n"

/* a string, with its length first: "ab","c" and "a","bc" give other keys */
static void add_str(hsi_sha256 *s, const char *tag, const char *v)
{
    char len[48];
    int n = snprintf(len, sizeof len, "\n%s %zu:", tag, v ? strlen(v) : (size_t)0);
    hsi_sha256_update(s, len, (size_t)n);
    if (v) hsi_sha256_update(s, v, strlen(v));
}

/* A file's digest, remembered by path and identity within this process: libhsirt.a and the
 * headers are read once per sweep, not once per point. */
typedef struct key_memo {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char hex[65];
} key_memo;
static key_memo memo[64];
static int n_memo;

static int file_digest(const char *path, const struct stat *st, char hex[65])
{
    for (int i = 0; i < n_memo; i++)
        if (!strcmp(memo[i].path, path) && memo[i].dev == st->st_dev && memo[i].ino == st->st_ino &&
            memo[i].size == st->st_size && memo[i].mtime.tv_sec == st->st_mtim.tv_sec &&
            memo[i].mtime.tv_nsec == st->st_mtim.tv_nsec) {
            memcpy(hex, memo[i].hex, 65);
            return 0;
        }
    char err[512];
    if (hsi_sha256_file(path, hex, err, sizeof err)) return -1;
    if (n_memo < (int)(sizeof memo / sizeof memo[0]) && (memo[n_memo].path = strdup(path))) {
        memo[n_memo] = (key_memo){memo[n_memo].path, st->st_dev, st->st_ino, st->st_size,
                                  st->st_mtim, ""};
        memcpy(memo[n_memo++].hex, hex, 65);
    }
    return 0;
}

/* path and content of a regular file; 1 when path is no regular file (nothing added) */
static int add_file(hsi_sha256 *s, const char *path)
{
    struct stat st;
    char d[65];
    if (stat(path, &st) || !S_ISREG(st.st_mode)) return 1;
    if (file_digest(path, &st, d)) return -1;
    add_str(s, "file", path);
    add_str(s, "sha256", d);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* every regular file of a folder (an -I folder: the headers an #include may take), by name */
static int add_dir(hsi_sha256 *s, const char *dir)
{
    struct dirent **e;
    int n = scandir(dir, &e, NULL, by_name), rc = n < 0 ? -1 : 0;
    add_str(s, "dir", dir);
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, e[i]->d_name);
        if (!rc && e[i]->d_name[0] != '.' && add_file(s, path) < 0) rc = -1;
        free(e[i]);
    }
    if (n >= 0) free(e);
    return rc;
}

/* the compiler program: what $PATH resolves its name to, and that file's identity */
static void add_compiler(hsi_sha256 *s, const char *cc)
{
    char found[PATH_MAX + 256] = "", real[PATH_MAX];
    if (strchr(cc, '/')) {
        snprintf(found, sizeof found, "%s", cc);
    } else {
        const char *path = getenv("PATH");
        for (const char *d = path ? path : "/usr/bin:/bin"; *d && !found[0];) {
            size_t n = strcspn(d, ":");
            char cand[PATH_MAX + 256];
            snprintf(cand, sizeof cand, "%.*s/%s", (int)n, n ? d : ".", cc);
            if (access(cand, X_OK) == 0) snprintf(found, sizeof found, "%s", cand);
            d += n + (d[n] == ':');
        }
    }
    struct stat st;
    char id[200] = "not found";
    if (found[0] && !stat(found, &st))
        snprintf(id, sizeof id, "%llu %llu %lld %lld.%09ld", (unsigned long long)st.st_dev,
                 (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                 st.st_mtim.tv_nsec);
    add_str(s, "cc", cc);
    add_str(s, "cc-file", found[0] && realpath(found, real) ? real : found);
    add_str(s, "cc-id", id);
}

int trainer_key(char *const *av, char key[65])
{
    static char self[65];
    static int have_self = -1;   /* -1: not read yet */
    if (have_self < 0) {
        struct stat st;
        have_self = !stat("/proc/self/exe", &st) && !file_digest("/proc/self/exe", &st, self);
    }
    if (!have_self) return -1;   /* this hsicc cannot be told from another: always build */
    hsi_sha256 s;
    hsi_sha256_init(&s);
    add_str(&s, "hsicc trainer key", "1");
    add_str(&s, "hsicc", self);
    add_compiler(&s, av[0]);
    static const char *const env[] = {"CPATH", "C_INCLUDE_PATH", "LIBRARY_PATH", "COMPILER_PATH",
                                      "GCC_EXEC_PREFIX", NULL};
    for (int i = 0; env[i]; i++) {
        const char *v = getenv(env[i]);
        add_str(&s, env[i], v ? v : "(unset)");
    }
    for (int i = 0; av[i]; i++) {
        add_str(&s, "arg", av[i]);
        if (!strncmp(av[i], "-I", 2) && av[i][2] && add_dir(&s, av[i] + 2) < 0) return -1;
        if (av[i][0] != '-' && add_file(&s, av[i]) < 0) return -1;
    }
    uint8_t d[32];
    hsi_sha256_final(&s, d);
    for (int i = 0; i < 32; i++) snprintf(key + 2 * i, 3, "%02x", d[i]);
    return 0;
}

static char *record_path(const char *trainer)
{
    char *p = malloc(strlen(trainer) + sizeof KEY_SUFFIX);
    if (p) sprintf(p, "%s%s", trainer, KEY_SUFFIX);
    return p;
}

void cmd_line_field(const char *text, const char *name, char *v, size_t len)
{
    size_t n = strlen(name);
    v[0] = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (!strncmp(l, name, n) && l[n] == ' ') {
            snprintf(v, len, "%.*s", (int)strcspn(l + n + 1, "\n"), l + n + 1);
            return;
        }
}

int trainer_reusable(const char *trainer, const char *key, char *why, size_t whylen)
{
    struct stat st;
    char *rec = record_path(trainer), text[1024] = "", inputs[65], file[65], now[65], err[512];
    FILE *f = rec ? fopen(rec, "rb") : NULL;
    int rc = 0;
    if (f) {
        text[fread(text, 1, sizeof text - 1, f)] = 0;
        fclose(f);
    }
    cmd_line_field(text, "inputs", inputs, sizeof inputs);
    cmd_line_field(text, "trainer", file, sizeof file);
    if (stat(trainer, &st)) {
        snprintf(why, whylen, "none yet");
    } else if (!f || strncmp(text, KEY_HEAD, strlen(KEY_HEAD)) || strlen(inputs) != 64 ||
               strlen(file) != 64) {
        snprintf(why, whylen, "no record of a finished build (%s)", rec ? rec : "");
    } else if (strcmp(inputs, key)) {
        snprintf(why, whylen, "its inputs changed (netdef, experiment, hsicc, C compiler or runtime)");
    } else if (!S_ISREG(st.st_mode) || access(trainer, X_OK) ||
               hsi_sha256_file(trainer, now, err, sizeof err) || strcmp(now, file)) {
        snprintf(why, whylen, "the trainer file is not the one built (changed or damaged since)");
    } else {
        rc = 1;
    }
    free(rec);
    return rc;
}

void trainer_record_drop(const char *trainer)
{
    char *rec = record_path(trainer);
    if (rec && unlink(rec) && errno != ENOENT)
        fprintf(stderr, "hsicc: warning: %s: cannot remove: %s\n", rec, strerror(errno));
    free(rec);
}

void trainer_record_write(const char *trainer, const char *key)
{
    char *rec = record_path(trainer), file[65], err[600], text[sizeof KEY_HEAD + 200];
    if (!rec) return;
    int ok = !hsi_sha256_file(trainer, file, err, sizeof err);
    if (ok) {
        int n = snprintf(text, sizeof text, "%sinputs %s\ntrainer %s\n", KEY_HEAD, key, file);
        ok = !hsi_atomic_write(rec, text, (size_t)n, err, sizeof err);
    }
    if (!ok)
        fprintf(stderr, "hsicc: warning: %s (the next sweep builds %s again)\n", err, trainer);
    free(rec);
}
