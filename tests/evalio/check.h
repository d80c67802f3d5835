/* check.h — tiny assertion macros for the evalio tests: count failures, report file:line, and
 * make main return 1 if anything failed. Not a framework: no fixtures, no registration.
 */
#ifndef EVALIO_CHECK_H
#define EVALIO_CHECK_H
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static int check_failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures++;                                                        \
        }                                                                            \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                          \
    do {                                                                               \
        double a_ = (a), b_ = (b);                                                     \
        if (!(fabs(a_ - b_) <= (tol))) {                                               \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.17g, expected %.17g\n", \
                    __FILE__, __LINE__, #a, a_, b_);                                   \
            check_failures++;                                                          \
        }                                                                              \
    } while (0)

/* The message must contain the substring. */
#define CHECK_MSG(msg, sub)                                                                 \
    do {                                                                                    \
        if (!strstr((msg), (sub))) {                                                        \
            fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, (msg), \
                    (sub));                                                                 \
            check_failures++;                                                               \
        }                                                                                   \
    } while (0)

/* Lowers the file-size limit (ulimit -f) to bytes with SIGXFSZ ignored, so that a write past it
 * fails with EFBIG; *saved gets the limit to put back (setrlimit(RLIMIT_FSIZE, saved)). */
static inline int fsize_limit(rlim_t bytes, struct rlimit *saved)
{
    struct rlimit small;
    getrlimit(RLIMIT_FSIZE, saved);
    small = *saved;
    small.rlim_cur = bytes;
    signal(SIGXFSZ, SIG_IGN);
    return setrlimit(RLIMIT_FSIZE, &small);
}

#define CHECK_DONE()                                                   \
    do {                                                               \
        if (check_failures)                                            \
            fprintf(stderr, "%d check(s) failed\n", check_failures);   \
        return check_failures ? 1 : 0;                                 \
    } while (0)

#endif
