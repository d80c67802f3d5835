/* test_signals.c — stop signals never interrupt a thread inside oneDNN. oneDNN 2.6's AVX-512
 * GEMM kernels point rsp at a heap buffer while they run; a signal handled there pushes its
 * frame over the heap (oneDNN issue 4845). hsi_signals_take blocks SIGINT / SIGTERM / SIGHUP in
 * the compute threads and takes them on a thread of its own.
 *
 *   test_signals take SECS     dnnl_sgemm of the contextual CNN's dense shapes for SECS seconds
 *                              while a child sends SIGTERM and SIGHUP every 20 us: every product
 *                              the same bits as before the signals, every signal taken on the
 *                              taker thread (not the computing one), at least one taken.
 *   test_signals handler SECS  the same with a plain handler (what the trainer had): on an
 *                              AVX-512 machine it corrupts the heap. Not a CTest test (it ends
 *                              in an abort): on the AMD EPYC (Zen 4) VM, 'corrupted size vs.
 *                              prev_size' or 'free(): invalid pointer' within 5 s.
 *   test_signals terminate     the mode of every other command (hsi_signals_take(NULL)), in
 *                              child processes: SIGTERM removes a registered temp file and
 *                              ends the process by SIGTERM; a SIGHUP ignored at start stays
 *                              ignored; a program's own SIGINT handler is called, on the
 *                              taker thread, and the process goes on; a SIGTERM pending at
 *                              start ends it within hsi_signals_take.
 */
#define _GNU_SOURCE
#include <dnnl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hsi_io.h"

static atomic_int g_taken, g_on_main;
static pthread_t g_main;

static void on_taken(int sig)
{
    (void)sig;
    atomic_fetch_add(&g_taken, 1);
    if (pthread_equal(pthread_self(), g_main)) atomic_fetch_add(&g_on_main, 1);
}

typedef struct shape {
    char ta, tb;
    long m, n, k;
} shape;

/* the dense layers' GEMMs of the contextual CNN at batch 8 (dn_mm_forward / dn_mm_backward) */
static const shape g_shapes[] = {{'N', 'N', 8, 600, 128}, {'T', 'N', 128, 5000, 128},
                                 {'N', 'T', 8, 128, 600}};
enum { N_SHAPES = sizeof g_shapes / sizeof *g_shapes };

static void gemm(const shape *s, const float *a, const float *b, float *c)
{
    long lda = s->ta == 'N' ? s->k : s->m, ldb = s->tb == 'N' ? s->n : s->k;
    if (dnnl_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.f, a, lda, b, ldb, 0.f, c, s->n)
        != dnnl_success) {
        fprintf(stderr, "dnnl_sgemm failed\n");
        exit(1);
    }
}

static atomic_int g_own;
static void own_handler(int sig)
{
    (void)sig;
    atomic_store(&g_own, pthread_equal(pthread_self(), g_main) ? 2 : 1);
}

/* One child: what = 0 SIGTERM with a temp registered, 1 SIGHUP ignored at start, 2 SIGINT with
 * the program's own handler, 3 SIGTERM pending (blocked) before hsi_signals_take. Returns the child's wait status; *left: the temp file remained. */
static int terminate_child(int what, const char *tmp, int *left)
{
    unlink(tmp);
    pid_t c = fork();
    if (c == 0) {
        g_main = pthread_self();
        FILE *f = fopen(tmp, "w");
        if (!f) _exit(3);
        fclose(f);
        if (what == 1) signal(SIGHUP, SIG_IGN);
        if (what == 2) signal(SIGINT, own_handler);
        if (what == 3) {   /* pending before the call: taken in it, before it returns */
            sigset_t term;
            sigemptyset(&term);
            sigaddset(&term, SIGTERM);
            sigprocmask(SIG_BLOCK, &term, NULL);
            kill(getpid(), SIGTERM);
        }
        if (hsi_temp_register(tmp) < 0 || hsi_signals_take(NULL) != 0) _exit(3);
        if (what == 3) _exit(4);
        kill(getpid(), what == 0 ? SIGTERM : what == 1 ? SIGHUP : SIGINT);
        for (int i = 0; i < 200 && (what != 2 || !atomic_load(&g_own)); i++) usleep(5000);
        _exit(what == 2 ? 10 + atomic_load(&g_own) : 0);
    }
    int st = 0;
    waitpid(c, &st, 0);
    *left = access(tmp, F_OK) == 0;
    unlink(tmp);
    return st;
}

static int terminate_tests(void)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "test_signals.%d.tmp", (int)getpid());
    int left, bad = 0;
    int st = terminate_child(0, tmp, &left);
    printf("SIGTERM: %s %d, temp file %s\n", WIFSIGNALED(st) ? "signal" : "exit",
           WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), left ? "left" : "removed");
    bad |= !(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM && !left);
    st = terminate_child(1, tmp, &left);
    printf("SIGHUP ignored at start: %s %d\n", WIFSIGNALED(st) ? "signal" : "exit",
           WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    bad |= !(WIFEXITED(st) && WEXITSTATUS(st) == 0 && left);
    st = terminate_child(2, tmp, &left);   /* exit 11: called, not on the main thread */
    printf("SIGINT with its own handler: %s %d\n", WIFSIGNALED(st) ? "signal" : "exit",
           WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    bad |= !(WIFEXITED(st) && WEXITSTATUS(st) == 11 && left);
    st = terminate_child(3, tmp, &left);
    printf("SIGTERM pending at start: %s %d, temp file %s\n", WIFSIGNALED(st) ? "signal" : "exit",
           WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), left ? "left" : "removed");
    bad |= !(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM && !left);
    printf("%s\n", bad ? "FAIL" : "PASS");
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "terminate")) return terminate_tests();
    if (argc != 3 || (strcmp(argv[1], "take") && strcmp(argv[1], "handler"))) {
        fprintf(stderr, "usage: %s take|handler SECONDS | terminate\n", argv[0]);
        return 2;
    }
    int take = !strcmp(argv[1], "take"), secs = atoi(argv[2]);
    g_main = pthread_self();
    if (take) {
        if (hsi_signals_take(on_taken) != 0) {
            fprintf(stderr, "FAIL: hsi_signals_take could not start its thread\n");
            return 1;
        }
    } else {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_taken;   /* on whichever thread the signal lands */
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
    }
    float *a[N_SHAPES], *b[N_SHAPES], *c[N_SHAPES], *want[N_SHAPES];
    for (int i = 0; i < N_SHAPES; i++) {
        const shape *s = &g_shapes[i];
        a[i] = malloc(sizeof(float) * (size_t)(s->m * s->k));
        b[i] = malloc(sizeof(float) * (size_t)(s->k * s->n));
        c[i] = malloc(sizeof(float) * (size_t)(s->m * s->n));
        want[i] = malloc(sizeof(float) * (size_t)(s->m * s->n));
        if (!a[i] || !b[i] || !c[i] || !want[i]) return 1;
        for (long j = 0; j < s->m * s->k; j++) a[i][j] = (float)((j * 7) % 13) - 6;
        for (long j = 0; j < s->k * s->n; j++) b[i][j] = (float)((j * 5) % 11) - 5;
        gemm(s, a[i], b[i], want[i]);
    }
    pid_t parent = getpid(), child = fork();
    if (child < 0) return 1;
    if (child == 0) {   /* SIGTERM and SIGHUP in turn, every 20 us, until the parent is gone */
        struct timespec ts = {0, 20000};
        for (long i = 0; kill(parent, i % 2 ? SIGHUP : SIGTERM) == 0; i++) nanosleep(&ts, NULL);
        _exit(0);
    }
    long rounds = 0, bad = 0;
    time_t t0 = time(NULL);
    while (time(NULL) - t0 < secs) {
        for (int i = 0; i < N_SHAPES; i++) {
            const shape *s = &g_shapes[i];
            gemm(s, a[i], b[i], c[i]);
            if (memcmp(c[i], want[i], sizeof(float) * (size_t)(s->m * s->n))) bad++;
            /* the heap in use between products, as a training step's allocations would */
            void *p = malloc(4096 + (size_t)(rounds % 7) * 1024);
            if (p) memset(p, 1, 4096);
            free(p);
        }
        rounds++;
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    int taken = atomic_load(&g_taken), on_main = atomic_load(&g_on_main);
    printf("%s: %ld rounds of %d products, %ld differ; %d signals taken, %d of them on the "
           "computing thread\n", argv[1], rounds, N_SHAPES, bad, taken, on_main);
    for (int i = 0; i < N_SHAPES; i++) {
        free(a[i]);
        free(b[i]);
        free(c[i]);
        free(want[i]);
    }
    if (bad || taken == 0 || (take && on_main)) {
        printf("FAIL\n");
        return 1;
    }
    printf("PASS\n");
    return 0;
}
