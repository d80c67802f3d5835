/* test_config_doc.c — runtime/io/EXPERIMENTS.md and the schema's tables agree: every key the
 * loader accepts has a row in the documentation's key tables (under the heading of its map),
 * every row names a key the loader accepts, and an enum key's row lists exactly the values the
 * loader accepts. Usage: test_train_config_doc EXPERIMENTS.md
 * `test_train_config_doc --list` prints every key's last name and every enum value, one a line
 * (tests/install/man_check.py holds the man page hsicc-experiment(5) to that list).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_config.h"

#define MAX_KEYS 256

typedef struct doc_row {
    char key[96];       /* "solver.lr", "domains.bands.range" (list items without '*') */
    char type[512];     /* the row's second cell */
    int seen;           /* a schema key matched it */
} doc_row;

static doc_row rows[MAX_KEYS];
static int n_rows, failures;

/* "domains.*.bands.range" -> "domains.bands.range" */
static void plain_path(const char *path, char *out, size_t n)
{
    size_t k = 0;
    for (const char *p = path; *p && k + 1 < n; p++) {
        if (p[0] == '.' && p[1] == '*') {
            p++;
            continue;
        }
        out[k++] = *p;
    }
    out[k] = 0;
}

/* Is `word` written as `word` in text? */
static int has_code(const char *text, const char *word)
{
    char want[128];
    snprintf(want, sizeof want, "`%s`", word);
    return strstr(text, want) != NULL;
}

static void check_key(const hsi_exp_key *k, void *ctx)
{
    (void)ctx;
    char path[96];
    plain_path(k->path, path, sizeof path);
    /* a nested map below the top level (domains.*.bands, train.early_stopping) is documented
     * by its keys' rows (bands.range, early_stopping.patience), not a row of its own */
    if (k->nested && strchr(path, '.')) return;
    for (int i = 0; i < n_rows; i++) {
        if (strcmp(rows[i].key, path)) continue;
        rows[i].seen = 1;
        for (int j = 0; j < k->n_names; j++) {
            /* region.half accepts `none` (no half) only to say "give rect or half" */
            if (!strcmp(path, "domains.region.half") && !strcmp(k->names[j], "none")) continue;
            if (!has_code(rows[i].type, k->names[j])) {
                printf("FAIL %s: the value %s is accepted but not in its row: %s\n", path,
                       k->names[j], rows[i].type);
                failures++;
            }
        }
        /* every value the row shows (`a` \| `b`) is one the loader accepts */
        for (const char *p = strchr(rows[i].type, '`'); k->n_names && p; p = strchr(p, '`')) {
            const char *e = strchr(p + 1, '`');
            if (!e) break;
            int ok = 0;
            for (int j = 0; j < k->n_names && !ok; j++)
                ok = strlen(k->names[j]) == (size_t)(e - p - 1) &&
                     !strncmp(k->names[j], p + 1, (size_t)(e - p - 1));
            if (!ok) {
                printf("FAIL %s: its row shows %.*s, which the loader refuses\n", path,
                       (int)(e - p + 1), p);
                failures++;
            }
            p = e + 1;
        }
        return;
    }
    printf("FAIL %s: a key of the schema without a row in EXPERIMENTS.md\n", path);
    failures++;
}

/* The key tables of "## Keys": a heading "### `solver:`" (or "### Top level") then rows
 * "| `key` | type | ...", several keys in a first cell as "`epochs` / `iterations`". */
static int read_doc(const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        printf("FAIL cannot open %s\n", file);
        return -1;
    }
    char line[2048], prefix[64] = "";
    int in_keys = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "## ", 3)) in_keys = !strncmp(line, "## Keys", 7);
        if (!in_keys) continue;
        if (!strncmp(line, "### ", 4)) {
            const char *b = strchr(line, '`'), *e = b ? strchr(b + 1, ':') : NULL;
            snprintf(prefix, sizeof prefix, "%.*s", b && e ? (int)(e - b - 1) : 0, b ? b + 1 : "");
            continue;
        }
        if (strncmp(line, "| `", 3)) continue;
        char *cell2 = strstr(line + 1, " | ");
        if (!cell2) continue;
        *cell2 = 0;
        cell2 += 3;
        for (char *p = strchr(line, '`'); p; p = strchr(p, '`')) {
            char *e = strchr(p + 1, '`');
            if (!e || n_rows == MAX_KEYS) break;
            doc_row *r = &rows[n_rows++];
            snprintf(r->key, sizeof r->key, "%s%s%.*s", prefix, *prefix ? "." : "",
                     (int)(e - p - 1), p + 1);
            /* the type cell: up to the next cell ("\|" inside it is a literal bar) */
            char *end = cell2;
            while ((end = strstr(end, " | ")) && end[-1] == '\\') end += 3;
            snprintf(r->type, sizeof r->type, "%.*s", end ? (int)(end - cell2) : (int)strlen(cell2),
                     cell2);
            p = e + 1;
        }
    }
    fclose(f);
    return 0;
}

static void list_key(const hsi_exp_key *k, void *ctx)
{
    (void)ctx;
    const char *leaf = strrchr(k->path, '.');
    printf("%s\n", leaf ? leaf + 1 : k->path);
    for (int i = 0; i < k->n_names; i++) printf("%s\n", k->names[i]);
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--list")) {
        hsi_experiment_each_key(list_key, NULL);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: test_train_config_doc EXPERIMENTS.md\n");
        return 2;
    }
    if (read_doc(argv[1])) return 1;
    if (n_rows < 50) {
        printf("FAIL only %d key rows read from %s\n", n_rows, argv[1]);
        return 1;
    }
    hsi_experiment_each_key(check_key, NULL);
    for (int i = 0; i < n_rows; i++)
        if (!rows[i].seen) {
            printf("FAIL %s: a row of EXPERIMENTS.md that is not a key of the schema\n", rows[i].key);
            failures++;
        }
    printf("%d keys documented, %d failures\n", n_rows, failures);
    return failures != 0;
}
