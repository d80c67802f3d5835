/* memlimit.c — how much memory this process can have at most, for the sizes a user setting
 * decides (train.batch, a patch, a --batch...): a size past it is refused with the setting's
 * name before anything is allocated or written, instead of an allocation that fails later
 * without naming it, or one that succeeds (the kernel overcommits) and ends in the OOM killer.
 * The ceiling is the machine's RAM plus swap, lowered by the address-space and data limits
 * (ulimit -v / -d) and a cgroup v2 memory.max; what is free now (MemAvailable) is only said.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hsi_io.h"

/* A "Key:   N kB" line of file (/proc/meminfo, /proc/self/status) in bytes, or -1. */
static int64_t kb_line(const char *file, const char *key)
{
    FILE *f = fopen(file, "r");
    if (!f) return -1;
    char line[256];
    int64_t v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') {
            long long kb;
            if (sscanf(line + n + 1, "%lld", &kb) == 1 && kb >= 0 && kb < INT64_MAX / 1024)
                v = (int64_t)kb * 1024;
            break;
        }
    fclose(f);
    return v;
}

/* memory.max of this process's cgroup (v2, the unified hierarchy mounted at /sys/fs/cgroup),
 * or -1: none, "max", or not found. */
static int64_t cgroup_max(void)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return -1;
    char line[4096], path[4300];
    int64_t v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "0::", 3)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max",
                     strcmp(line + 3, "/") ? line + 3 : "");
            FILE *g = fopen(path, "r");
            long long b;
            if (g && fscanf(g, "%lld", &b) == 1 && b > 0) v = (int64_t)b;
            if (g) fclose(g);
            break;
        }
    fclose(f);
    return v;
}

static void lower(int64_t *limit, char *why, size_t whylen, int64_t v, const char *what)
{
    if (v <= 0 || (*limit >= 0 && v >= *limit)) return;
    *limit = v;
    snprintf(why, whylen, "%s", what);
}

int64_t hsi_mem_ceiling(char *why, size_t whylen)
{
    char w[16];
    if (!why || !whylen) why = w, whylen = sizeof w;
    why[0] = 0;
    int64_t limit = -1;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    int64_t ram = pages > 0 && psize > 0 && pages < INT64_MAX / psize ? (int64_t)pages * psize : -1;
    int64_t swap = kb_line("/proc/meminfo", "SwapTotal");
    if (ram > 0) {
        limit = ram + (swap > 0 ? swap : 0);
        snprintf(why, whylen, swap > 0 ? "RAM and swap" : "RAM");
    }
    struct rlimit r;
    if (!getrlimit(RLIMIT_AS, &r) && r.rlim_cur != RLIM_INFINITY && r.rlim_cur < (rlim_t)INT64_MAX)
        lower(&limit, why, whylen, (int64_t)r.rlim_cur, "the address-space limit, ulimit -v");
    if (!getrlimit(RLIMIT_DATA, &r) && r.rlim_cur != RLIM_INFINITY && r.rlim_cur < (rlim_t)INT64_MAX)
        lower(&limit, why, whylen, (int64_t)r.rlim_cur, "the data-size limit, ulimit -d");
    lower(&limit, why, whylen, cgroup_max(), "the cgroup's memory.max");
    return limit;
}

int hsi_mem_mul(int64_t *acc, int64_t f)
{
    if (*acc < 0 || f < 0) return *acc = -1, -1;
    if (f && *acc > INT64_MAX / f) return *acc = -1, -1;
    *acc *= f;
    return 0;
}

int hsi_mem_add(int64_t *acc, int64_t b)
{
    if (*acc < 0 || b < 0 || *acc > INT64_MAX - b) return *acc = -1, -1;
    *acc += b;
    return 0;
}

/* "12.3 GB" (or MB, or bytes) */
static void human(char *out, size_t n, double b)
{
    if (b >= 1e9) snprintf(out, n, "%.1f GB", b / 1e9);
    else if (b >= 1e6) snprintf(out, n, "%.1f MB", b / 1e6);
    else snprintf(out, n, "%.0f bytes", b);
}

int hsi_mem_check(int64_t bytes, int64_t mapped, const char *what, char *err, size_t errlen)
{
    char why[64], have[240], need[64];
    if (bytes < 0) {
        snprintf(err, errlen, "%s: the size does not fit in 64 bits", what);
        return 1;
    }
    int64_t limit = hsi_mem_ceiling(why, sizeof why);
    if (limit < 0) return 0;
    /* what the process holds already counts: its mappings against ulimit -v, else its pages */
    int vm = strstr(why, "ulimit -v") != NULL;
    int64_t used = kb_line("/proc/self/status", vm ? "VmSize" : "VmRSS");
    if (used < 0) used = 0;
    if (used < limit) limit -= used;
    if ((vm && mapped > 0 && mapped <= bytes ? bytes - mapped : bytes) <= limit) return 0;
    int64_t avail = kb_line("/proc/meminfo", "MemAvailable");
    human(have, sizeof have, (double)limit);
    human(need, sizeof need, (double)bytes);
    size_t k = strlen(have);
    snprintf(have + k, sizeof have - k, ": %s, less the %.1f GB this process holds", why,
             (double)used / 1e9);
    if (avail >= 0) {
        k = strlen(have);
        snprintf(have + k, sizeof have - k, "; %.1f GB available now", (double)avail / 1e9);
    }
    snprintf(err, errlen, "%s: needs %" PRId64 " bytes (%s), more than this process can still take: "
             "%" PRId64 " bytes (%s)", what, bytes, need, limit, have);
    return 1;
}
