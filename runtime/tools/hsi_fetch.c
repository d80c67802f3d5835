/* hsi_fetch.c — `hsi-fetch`: puts registered datasets into the data folder (copy from a local
 * mirror, else download), verifying SHA-256; lists the registry. All the work is in
 * libhsirt (hsi_dataset_ensure); this is argument parsing and messages only.
 *
 *   hsi-fetch NAME... [--from DIR] [--data DIR] [--datasets FILE] [--no-download]
 *   hsi-fetch --list
 * Exit status: 0 done, 1 a dataset could not be fetched or verified, 2 usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hsi_data.h"
#include "hsi_diagtext.h"
#include "hsi_io.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hsi-fetch NAME... [--from DIR] [--data DIR] [--datasets FILE] [--no-download]\n"
            "       hsi-fetch --list [--data DIR] [--datasets FILE]\n"
            "  NAME            a dataset of the registry (see --list), or 'all'\n"
            "  --from DIR      copy from this mirror (DIR/<folder>/<file> or DIR/<file>);\n"
            "                  default $HSICC_DATA_MIRROR\n"
            "  --data DIR      the data folder (default $HSICC_DATA, else ./data)\n"
            "  --datasets FILE extra registry entries (default $HSICC_DATASETS)\n"
            "  --no-download   never use the network\n");
}

static int present(const char *dir, const hsi_dataset *d)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s/%s", dir, d->folder, d->cube.file);
    if (stat(p, &st) != 0)
        return 0;
    snprintf(p, sizeof p, "%s/%s/%s", dir, d->folder, d->gt.file);
    return stat(p, &st) == 0;
}

int main(int argc, char **argv)
{
    hsi_write_faults_as_errors();
    hsi_fetch_opts o = {.download = 1, .verbose = 1};
    const char *reg_path = NULL;
    int list = 0, n_names = 0;
    const char **names = calloc((size_t)argc, sizeof *names);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "--from") && has_val)
            o.mirror = argv[++i];
        else if (!strcmp(a, "--data") && has_val)
            o.data_dir = argv[++i];
        else if (!strcmp(a, "--datasets") && has_val)
            reg_path = argv[++i];
        else if (!strcmp(a, "--no-download"))
            o.download = 0;
        else if (!strcmp(a, "--list"))
            list = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-') {
            static const char *const known[] = {"--from", "--data", "--datasets", "--no-download",
                                                "--list", "--help"};
            const char *s = hsi_suggest(a, known, (int)(sizeof known / sizeof *known), 2, 1);
            fprintf(stderr, "hsi-fetch: unknown or incomplete option '%s'", a);
            if (s) fprintf(stderr, "; did you mean '%s'?", s);
            fprintf(stderr, "\n");
            usage(stderr);
            return 2;
        } else
            names[n_names++] = a;
    }
    if (!list && n_names == 0) {
        usage(stderr);
        return 2;
    }
    char err[2048];
    hsi_registry *reg = hsi_registry_load(reg_path, err, sizeof err);
    if (!reg) {
        fprintf(stderr, "hsi-fetch: error: %s\n", err);
        return 1;
    }
    const char *dir = hsi_data_dir(&o);
    if (list) {
        printf("%-12s %-22s %-16s %5s %11s %-7s %s\n", "name", "display", "sensor", "bands",
               "size", "present", "folder");
        for (int i = 0; i < reg->n; i++) {
            const hsi_dataset *d = &reg->ds[i];
            long long sz = d->cube.size >= 0 ? d->cube.size : 0;
            printf("%-12s %-22s %-16s %5d %11lld %-7s %s/%s\n", d->name, d->display, d->sensor,
                   d->bands, sz, present(dir, d) ? "yes" : "no", dir, d->folder);
        }
    }
    int status = 0;
    for (int k = 0; k < n_names; k++) {
        int all = !strcmp(names[k], "all");
        const hsi_dataset *one = all ? NULL : hsi_registry_find(reg, names[k]);
        if (!all && !one) {
            const char **known = malloc(sizeof *known * (size_t)(reg->n + 1));
            for (int i = 0; known && i < reg->n; i++) known[i] = reg->ds[i].name;
            const char *s = known ? hsi_suggest(names[k], known, reg->n, 2, 1) : NULL;
            free(known);   /* s points into the registry */
            fprintf(stderr, "hsi-fetch: error: no dataset '%s' in the registry", names[k]);
            if (s) fprintf(stderr, "; did you mean '%s'?", s);
            fprintf(stderr, " (known:");
            for (int i = 0; i < reg->n; i++)
                fprintf(stderr, " %s", reg->ds[i].name);
            fprintf(stderr, ")\n");
            status = 1;
            continue;
        }
        for (int i = 0; i < reg->n; i++) {
            const hsi_dataset *d = all ? &reg->ds[i] : one;
            if (hsi_dataset_ensure(d, &o, err, sizeof err) != 0) {
                fprintf(stderr, "hsi-fetch: error: %s\n", err);
                status = 1;
            } else {
                printf("%s: ok (%s/%s)\n", d->name, dir, d->folder);
            }
            if (!all)
                break;
        }
    }
    hsi_registry_free(reg);
    free(names);
    return status;
}
