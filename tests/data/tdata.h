/* tdata.h — tiny assertion helpers shared by the data tests, and the path of the shared data
 * folder (real files; a test that needs it exits 77 = skipped when it is absent). */
#ifndef TDATA_H
#define TDATA_H
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int t_failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            t_failures++;                                                            \
        }                                                                            \
    } while (0)
#define CHECK_EQ(a, b)                                                                 \
    do {                                                                               \
        long long a_ = (long long)(a), b_ = (long long)(b);                            \
        if (a_ != b_) {                                                                \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s = %lld, %s = %lld\n", __FILE__, \
                    __LINE__, #a, a_, #b, b_);                                         \
            t_failures++;                                                              \
        }                                                                              \
    } while (0)
/* err must contain every one of the given substrings. */
#define CHECK_HAS(err, sub)                                                                   \
    do {                                                                                      \
        if (!strstr((err), (sub))) {                                                          \
            fprintf(stderr, "%s:%d: message lacks \"%s\": %s\n", __FILE__, __LINE__, (sub), (err)); \
            t_failures++;                                                                     \
        }                                                                                     \
    } while (0)

static inline int t_done(const char *name)
{
    if (t_failures)
        fprintf(stderr, "%s: %d check(s) failed\n", name, t_failures);
    else
        printf("%s: ok\n", name);
    return t_failures ? 1 : 0;
}

/* The shared data folder, or NULL (callers then skip). */
static inline const char *t_shared(void)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/SalinasA/SalinasA_gt.mat", HSICC_SHARED_DATA);
    return access(p, R_OK) == 0 ? HSICC_SHARED_DATA : NULL;
}

/* Writes (mode "w") or appends (mode "a") text to path. */
static inline void t_write(const char *path, const char *mode, const char *text)
{
    FILE *f = fopen(path, mode);
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

/* A fresh temporary folder (mkdtemp), path in buf. */
static inline const char *t_tmpdir(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/hsi_data_test_XXXXXX");
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(2);
    }
    return buf;
}

/* Removes a t_tmpdir folder and everything in it; counts a failure if that fails. */
static inline void t_rmtree(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}
#endif
