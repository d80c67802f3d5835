/* test_atomic.c — atomic writes: a new file appears whole; a writer that fails midway (the file
 * size limit makes write() fail with EFBIG) or aborts leaves the previous file byte for byte and
 * no temporary file; a rename onto a directory fails cleanly; hsi_mkdirs creates nested dirs
 * and reports a file in the way; a writer ended by SIGTERM, SIGINT or SIGHUP while a file (or a
 * registered temporary folder with files in it) is open leaves no temporary name, dies of that
 * signal, and a program's own handler is left in place.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "hsi_io.h"

static char dir[512];

static const char *at(const char *name)
{
    static char buf[2][4096];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static volatile sig_atomic_t g_caught;
static void catch_signal(int sig) { g_caught = sig; }

/* A child opens an atomic file (and, with folder, a registered temporary folder holding two
 * files), writes half of it, then gets sig from itself. Returns the child's wait status. */
static int killed_writer(int sig, int folder, int own_handler)
{
    pid_t pid = fork();
    if (pid == 0) {
        char e[256];
        if (own_handler) signal(sig, catch_signal);
        hsi_atomic_file af;
        if (hsi_atomic_open(&af, at("killed.json"), e, sizeof e) != 0) _exit(3);
        fputs("{\"half\": ", af.fp);
        fflush(af.fp);
        if (folder) {
            static char tdir[640];
            snprintf(tdir, sizeof tdir, "%s", at(".maps.tmp.AbC123"));
            if (mkdir(tdir, 0777) != 0) _exit(4);
            hsi_temp_register(tdir);
            for (int i = 0; i < 2; i++) {
                char f[700];
                snprintf(f, sizeof f, "%s/part%d.tif", tdir, i);
                FILE *fp = fopen(f, "w");
                if (!fp) _exit(5);
                fputs("x", fp);
                fclose(fp);
            }
        }
        kill(getpid(), sig);
        /* reached only when the program's own handler took the signal */
        _exit(g_caught == sig ? hsi_atomic_commit(&af, e, sizeof e) == 0 ? 42 : 6 : 7);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

static int same_content(const char *path, const char *want)
{
    static char buf[256];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return n == strlen(want) && memcmp(buf, want, n) == 0;
}

/* Files in dir whose name contains ".tmp.". */
static int temp_files(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    char err[512];
    snprintf(dir, sizeof dir, "%s/a/b", argc > 1 ? argv[1] : "tmp_atomic");
    CHECK(hsi_mkdirs(dir, err, sizeof err) == 0);
    CHECK(hsi_mkdirs(dir, err, sizeof err) == 0);   /* existing: fine */
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));

    const char *path = at("metrics.json");
    CHECK(hsi_atomic_write(path, "old contents\n", 13, err, sizeof err) == 0);
    CHECK(same_content(path, "old contents\n"));

    /* Writer fails midway: 1 MiB against a 64 KiB file size limit. */
    struct rlimit saved;
    CHECK(fsize_limit(64 * 1024, &saved) == 0);
    size_t big = 1 << 20;
    char *junk = malloc(big);
    memset(junk, 'x', big);
    CHECK(hsi_atomic_write(path, junk, big, err, sizeof err) == -1);
    CHECK_MSG(err, "metrics.json: write failed");
    CHECK_MSG(err, "the previous file, if any, is unchanged");
    /* The streaming variant: the failure surfaces at commit. */
    hsi_atomic_file af;
    CHECK(hsi_atomic_open(&af, path, err, sizeof err) == 0);
    fwrite(junk, 1, big, af.fp);
    CHECK(hsi_atomic_commit(&af, err, sizeof err) == -1);
    CHECK_MSG(err, "metrics.json: write failed");
    setrlimit(RLIMIT_FSIZE, &saved);
    free(junk);
    CHECK(same_content(path, "old contents\n"));
    CHECK(temp_files() == 0);

    /* Abort leaves the old file; commit replaces it. */
    CHECK(hsi_atomic_open(&af, path, err, sizeof err) == 0);
    fputs("half", af.fp);
    hsi_atomic_abort(&af);
    CHECK(same_content(path, "old contents\n") && temp_files() == 0);
    CHECK(hsi_atomic_open(&af, path, err, sizeof err) == 0);
    fprintf(af.fp, "new %d\n", 42);
    CHECK(hsi_atomic_commit(&af, err, sizeof err) == 0);
    CHECK(same_content(path, "new 42\n") && temp_files() == 0);
    CHECK(af.fp == NULL && af.tmp == NULL);

    /* A directory as the target is refused before anything is written; it stays. */
    CHECK(hsi_mkdirs(at("adir/inner"), err, sizeof err) == 0);
    CHECK(hsi_atomic_write(at("adir"), "x", 1, err, sizeof err) == -1);
    CHECK_MSG(err, "adir: is a directory; a result file would replace it");
    CHECK(stat(at("adir/inner"), &st) == 0 && temp_files() == 0);

    /* Ended by a signal mid-write: no temporary name stays, the old file stays, the process
     * still dies of that signal (its parent sees it). */
    const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        CHECK(hsi_atomic_write(at("killed.json"), "old", 3, err, sizeof err) == 0);
        int status = killed_writer(sigs[i], i == 0, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == sigs[i]);
        CHECK(temp_files() == 0);
        CHECK(stat(at(".maps.tmp.AbC123"), &st) != 0);
        CHECK(same_content(at("killed.json"), "old"));
    }
    /* A program's own handler (the trainer's "save and stop") is not replaced: the write goes on
     * and commits. */
    int status = killed_writer(SIGTERM, 0, 1);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42);
    CHECK(same_content(at("killed.json"), "{\"half\": ") && temp_files() == 0);

    /* What writers killed by SIGKILL left, removed under the folder's lock: temp files in it
     * and one level down, and a map writer's hidden temporary folder with its files (it stayed
     * for good: 1 GB of partial maps for a large scene); a folder of the user's that only looks
     * like one (not hidden), and a temp file deeper than asked, stay. Only names this project
     * makes ("NAME.tmp.hsicc-PID-XXXXXX") of a process that is gone: a user's files named like
     * temporaries of other programs, and the temporaries of a live process, stay. */
    char rm[4200];   /* a fresh folder: the build tree keeps the last run's */
    snprintf(rm, sizeof rm, "rm -rf '%s'", at("stale"));
    CHECK(system(rm) == 0);
    pid_t gone = fork();
    if (gone == 0) _exit(0);
    waitpid(gone, NULL, 0);
    char dead[64], live[64], own[64];
    snprintf(dead, sizeof dead, "tmp.hsicc-%ld-", (long)gone);
    snprintf(live, sizeof live, "tmp.hsicc-%ld-", (long)getppid());
    snprintf(own, sizeof own, "tmp.hsicc-%ld-", (long)getpid());
    char names[16][160];
    const char *fmt[16][2] = {
        {"stale/.map.", "XyZ789"},                 /* 0: dirs, removed */
        {"stale/keep.", "QwE456"},                 /* 1: kept (not hidden) */
        {"stale/sub/deep", NULL},                  /* 2 */
        {"stale/.maps.tmp.abc123", NULL},          /* 3: a user's hidden folder: kept */
        {"stale/a.json.", "AbC123"},               /* 4: files, removed */
        {"stale/.map.", "XyZ789/map.tif"},         /* 5: removed with its folder */
        {"stale/.map.", "XyZ789/pred.npy"},        /* 6 */
        {"stale/sub/b.", "Zx9Yw8"},                /* 7: removed */
        {"stale/sub/deep/c.", "Zx9Yw8"},           /* 8: kept (too deep) */
        {"stale/keep.", "QwE456/mine.txt"},        /* 9: kept */
        {"stale/notes.tmp.backup", NULL},          /* 10: the user's, kept */
        {"stale/run.tmp.abc123", NULL},            /* 11: kept */
        {"stale/.maps.tmp.abc123/mine.txt", NULL}, /* 12: kept */
        {"stale/sub/x.tmp.Zx9Yw8", NULL},          /* 13: kept */
        {"stale/l.json.", "AbC123"},               /* 14: a live process's: kept */
        {"stale/o.json.", "AbC123"},               /* 15: this process's: kept */
    };
    for (int i = 0; i < 16; i++)
        snprintf(names[i], sizeof names[i], "%s%s%s", fmt[i][0],
                 !fmt[i][1] ? "" : i == 14 ? live : i == 15 ? own : dead,
                 fmt[i][1] ? fmt[i][1] : "");
    for (int i = 0; i < 4; i++)
        CHECK(hsi_mkdirs(at(names[i]), err, sizeof err) == 0);
    for (int i = 4; i < 16; i++)
        CHECK(hsi_atomic_write(at(names[i]), "x", 1, err, sizeof err) == 0);
    CHECK(hsi_remove_stale_temps(at("stale"), 1) == 3);
    const int removed[] = {0, 4, 7}, kept[] = {2, 3, 8, 9, 10, 11, 12, 13, 14, 15};
    for (int i = 0; i < 3; i++)
        if (stat(at(names[removed[i]]), &st) == 0) {
            fprintf(stderr, "%s: still there\n", names[removed[i]]);
            CHECK(0);
        }
    for (int i = 0; i < 10; i++)
        if (stat(at(names[kept[i]]), &st) != 0) {
            fprintf(stderr, "%s: removed\n", names[kept[i]]);
            CHECK(0);
        }

    /* A file where a directory should be. */
    CHECK(hsi_mkdirs(at("metrics.json/sub"), err, sizeof err) == -1);
    CHECK_MSG(err, "metrics.json: cannot create directory");
    CHECK_DONE();
}
