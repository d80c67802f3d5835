/* cpus.c — how many CPUs this process may use, and how many compute threads to run: the
 * affinity mask capped by a cgroup CPU quota, then the explicit settings (SLURM_CPUS_PER_TASK,
 * train.threads, OMP_NUM_THREADS) on top. The chosen count is given to the OpenMP runtime that
 * oneDNN uses (looked up at run time: a trainer does not link OpenMP itself), before any kernel
 * runs. It does not pin threads to CPUs and does not look at the machine's load.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsi_io.h"

/* s as a whole number >= 1 (at most 1 << 20), else 0. */
static int count_of(const char *s)
{
    if (!s || !*s) return 0;
    char *end;
    long v = strtol(s, &end, 10);
    return *end == 0 && v >= 1 && v <= (1 << 20) ? (int)v : 0;
}

/* 1 if the comma-separated list (cut up in place) names the cpu controller. */
static int has_cpu(char *list)
{
    char *save = NULL;
    for (char *o = strtok_r(list, ",", &save); o; o = strtok_r(NULL, ",", &save))
        if (!strcmp(o, "cpu")) return 1;
    return 0;
}

/* The mount point of the cgroup v2 hierarchy, or of the v1 hierarchy with the cpu controller
 * (v2 when want_v2), from /proc/self/mountinfo; 0 if found. */
static int cgroup_mount(int want_v2, char *out, size_t n)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f) return -1;
    char line[4096];
    int found = -1;
    while (found && fgets(line, sizeof line, f)) {
        /* id parent maj:min root mount-point options [optional...] - fstype source super-options */
        char *dash = strstr(line, " - "), mnt[2048], fs[64], super[1024] = "";
        if (!dash || sscanf(line, "%*s %*s %*s %*s %2047s", mnt) != 1 ||
            sscanf(dash + 3, "%63s %*s %1023s", fs, super) < 1)
            continue;
        if (want_v2 ? !strcmp(fs, "cgroup2") : (!strcmp(fs, "cgroup") && has_cpu(super))) {
            snprintf(out, n, "%s", mnt);
            found = 0;
        }
    }
    fclose(f);
    return found;
}

/* This process's cgroup path in the v2 hierarchy ("0::/path") or in the v1 hierarchy holding
 * the cpu controller ("N:cpu,cpuacct:/path"), from /proc/self/cgroup; 0 if found. */
static int cgroup_path(int want_v2, char *out, size_t n)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return -1;
    char line[4096];
    int found = -1;
    while (found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c2 = 0;
        if (want_v2 ? !strcmp(line, "0") && c2 == c1 + 1 : has_cpu(c1 + 1)) {
            snprintf(out, n, "%s", c2 + 1);
            found = 0;
        }
    }
    fclose(f);
    return found;
}

/* The CPU quota of file (v2: "max 100000" or "QUOTA PERIOD" in cpu.max; v1: the quota in
 * cpu.cfs_quota_us, -1 for none, and the period in cpu.cfs_period_us) as CPUs, rounded up;
 * 0 when there is none or it cannot be read. */
static int quota_cpus(const char *dir, int v2)
{
    char path[4300];
    long long quota = -1, period = 0;
    snprintf(path, sizeof path, "%s/%s", dir, v2 ? "cpu.max" : "cpu.cfs_quota_us");
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char word[32] = "";
    int ok = v2 ? fscanf(f, "%31s %lld", word, &period) == 2 : fscanf(f, "%lld", &quota) == 1;
    fclose(f);
    if (!ok) return 0;
    if (v2) {
        if (!strcmp(word, "max")) return 0;
        quota = strtoll(word, NULL, 10);
    } else {
        snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
        if (!(f = fopen(path, "r"))) return 0;
        ok = fscanf(f, "%lld", &period) == 1;
        fclose(f);
        if (!ok) return 0;
    }
    if (quota <= 0 || period <= 0) return 0;
    long long cpus = (quota + period - 1) / period;
    return cpus > INT_MAX ? INT_MAX : (int)cpus;
}

/* The smallest CPU quota on the way from this process's cgroup up to the root (a parent's
 * quota limits its children too), v2 first, else v1; 0 when none is set. */
static int cgroup_quota(void)
{
    for (int v2 = 1; v2 >= 0; v2--) {
        char mnt[2048], rel[2048], dir[4100];
        if (cgroup_mount(v2, mnt, sizeof mnt) || cgroup_path(v2, rel, sizeof rel)) continue;
        int best = 0;
        for (;;) {
            snprintf(dir, sizeof dir, "%s%s", mnt, strcmp(rel, "/") ? rel : "");
            int q = quota_cpus(dir, v2);
            if (q > 0 && (best == 0 || q < best)) best = q;
            char *slash = strrchr(rel, '/');
            if (!slash || slash == rel) {
                if (!strcmp(rel, "/") || !rel[0]) break;
                snprintf(rel, sizeof rel, "/");
            } else {
                *slash = 0;
            }
        }
        if (best) return best;
    }
    return 0;
}

int hsi_cpus_usable(char *why, size_t whylen)
{
    cpu_set_t set;
    int mask = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) mask = CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int n = mask > 0 ? mask : online > 0 ? (int)online : 1;
    int quota = cgroup_quota();
    if (why) {
        if (mask > 0) snprintf(why, whylen, "%d CPU%s in the affinity mask", n, n == 1 ? "" : "s");
        else snprintf(why, whylen, "%d CPU%s online", n, n == 1 ? "" : "s");
    }
    if (quota > 0 && quota < n) {
        if (why)
            snprintf(why + strlen(why), whylen - strlen(why), ", cgroup CPU quota %d", quota);
        n = quota;
    }
    return n;
}

/* The thread count and why (see hsi_threads_setup). */
static int choose(int configured, char *why, size_t whylen, char *warn, size_t warnlen)
{
    char usable_why[256];
    int usable = hsi_cpus_usable(usable_why, sizeof usable_why), n = 0;
    const char *omp = getenv("OMP_NUM_THREADS"), *slurm = getenv("SLURM_CPUS_PER_TASK");
    warn[0] = 0;
    if (omp && *omp) {
        /* a list ("4,2") sets nested levels: its first number is the outer one */
        char first[32];
        snprintf(first, sizeof first, "%.*s", (int)strcspn(omp, ","), omp);
        n = count_of(first);
        if (n) snprintf(why, whylen, "OMP_NUM_THREADS=%s", omp);
        else snprintf(warn, warnlen, "OMP_NUM_THREADS='%s' is not a number of threads: ignored",
                      omp);
    }
    if (!n && configured > 0) {
        n = configured;
        snprintf(why, whylen, "train.threads: %d", configured);
    }
    if (!n && (n = count_of(slurm)) > 0) snprintf(why, whylen, "SLURM_CPUS_PER_TASK=%s", slurm);
    if (!n) {
        n = usable;
        snprintf(why, whylen, "%s", usable_why);
    }
    if (n > HSI_THREADS_MAX) {   /* see hsi_io.h: more is a crash in the OpenMP runtime */
        snprintf(warn, warnlen, "%d threads (%s) is more than the %d this runtime starts: it "
                 "runs %d", n, why, HSI_THREADS_MAX, HSI_THREADS_MAX);
        n = HSI_THREADS_MAX;
    } else if (n > usable && !warn[0]) {
        snprintf(warn, warnlen, "%d threads on %d usable CPU%s (%s): oversubscribed, each thread "
                 "waits for the others; set OMP_NUM_THREADS to at most %d", n, usable,
                 usable == 1 ? "" : "s", usable_why, usable);
    }
    return n;
}

static char g_note[400];   /* what hsi_threads_setup chose, for the log */
static int g_threads;      /* the threads the kernels run on (1 without an OpenMP runtime) */

int hsi_threads_setup(int configured, char *warn, size_t warnlen)
{
    char why[300];
    int n = choose(configured, why, sizeof why, warn, warnlen);
    char t[16];
    snprintf(t, sizeof t, "%d", n);
    setenv("OMP_NUM_THREADS", t, 1);   /* for the programs this one starts */
    /* the OpenMP runtime read OMP_NUM_THREADS when it was loaded: tell it directly */
    void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    int (*get)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    int got = 0;
    if (set && get) {
        set(n);
        got = get();
    }
    if (got && got != n) snprintf(g_note, sizeof g_note, "%d (%s; OpenMP runs %d)", n, why, got);
    else if (!got) snprintf(g_note, sizeof g_note, "%d (%s; no OpenMP runtime: the kernels run on one)", n, why);
    else snprintf(g_note, sizeof g_note, "%d (%s)", n, why);
    g_threads = got ? got : 1;
    return n;
}

int hsi_threads_count(void)
{
    return g_threads;
}

const char *hsi_threads_note(void)
{
    return g_note[0] ? g_note : NULL;
}
