/* test_config_bad.c — the corpus of bad experiment files in tests/train/bad/: each file says
 * what it expects in its first comment lines,
 *   # expect: <the exact first line of the error>
 *   # set: key.path=value        (optional, repeatable: --set overrides)
 * and must fail with exactly that message (file names are relative to the corpus folder).
 * Files whose name ends in .bin hold no header; their expectation is in <name>.expect.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsi_config.h"
#include "hsi_data.h"

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = calloc(1, 1 << 16);
    if (s) fread(s, 1, (1 << 16) - 1, f);
    fclose(f);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 2 || chdir(argv[1])) {
        fprintf(stderr, "usage: test_train_config_bad CORPUS_DIR\n");
        return 2;
    }
    char err[2048];
    hsi_registry *reg = hsi_registry_load(NULL, err, sizeof err);
    if (!reg) {
        printf("FAIL registry: %s\n", err);
        return 1;
    }
    DIR *d = opendir(".");
    char *names[256];
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) && n < 256;)
        if (strstr(e->d_name, ".yaml")) names[n++] = strdup(e->d_name);
    if (d) closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    int failures = 0;
    for (int i = 0; i < n; i++) {
        char *text = read_all(names[i]);
        const char *sets[8];
        int n_sets = 0;
        char expect[1024] = "";
        for (char *line = text; line && *line == '#';) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = 0;
            if (strncmp(line, "# expect: ", 10) == 0) snprintf(expect, sizeof expect, "%s", line + 10);
            if (strncmp(line, "# set: ", 7) == 0 && n_sets < 8) sets[n_sets++] = line + 7;
            line = nl ? nl + 1 : NULL;
        }
        hsi_experiment_opts o = {names[i], sets, n_sets, -1, reg};
        hsi_experiment *x = hsi_experiment_load(&o, err, sizeof err);
        char *nl = strchr(err, '\n');
        if (nl) *nl = 0;
        if (x || !expect[0] || strcmp(err, expect)) {
            printf("FAIL %s\n  want: %s\n  got:  %s\n", names[i], expect, x ? "(loaded)" : err);
            failures++;
        } else {
            printf("ok   %s\n", names[i]);
        }
        hsi_experiment_free(x);
        free(text);
        free(names[i]);
    }
    hsi_registry_free(reg);
    if (n < 10) {
        printf("FAIL only %d corpus files\n", n);
        failures++;
    }
    return failures != 0;
}
