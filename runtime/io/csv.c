/* csv.c — log.csv: a header line once, then one row per call, flushed at once so a killed run
 * keeps every finished row and `tail -f` shows progress. Reopening an existing log appends and
 * checks that its header names the same columns.
 * Not here: reading CSV, truncating rows after a resumed checkpoint (the caller's policy).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_io.h"

/* Writes one field, quoted when it holds a separator, quote or line break (RFC 4180). */
void hsi_csv_field(FILE *fp, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

/* The header line as it is written, without the newline. */
static char *header_line(const char *const *cols, int ncols)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return NULL;
    for (int i = 0; i < ncols; i++) {
        if (i)
            fputc(',', mem);
        hsi_csv_field(mem, cols[i]);
    }
    fclose(mem);
    return buf;
}

int hsi_csv_open(hsi_csv *c, const char *path, const char *const *cols, int ncols,
                 char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    char *want = header_line(cols, ncols);
    c->path = strdup(path);
    if (!want || !c->path) {
        free(want);
        free(c->path);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    c->fp = fopen(path, "a+");
    if (!c->fp) {
        snprintf(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
        free(want);
        free(c->path);
        return -1;
    }
    c->ncols = ncols;
    fseek(c->fp, 0, SEEK_END);
    int rc = 0;
    if (ftell(c->fp) == 0) {
        fprintf(c->fp, "%s\n", want);
        fflush(c->fp);
    } else {
        /* Compare the first line with the header we would write. */
        rewind(c->fp);
        size_t n = strlen(want);
        char *line = malloc(n + 2);
        size_t got = line ? fread(line, 1, n + 1, c->fp) : 0;
        if (!line || got != n + 1 || memcmp(line, want, n) != 0 || line[n] != '\n') {
            snprintf(err, errlen, "%s: exists with other columns (expected the header \"%s\"); "
                     "move it away or use a new run folder", path, want);
            rc = -1;
        }
        free(line);
        fseek(c->fp, 0, SEEK_END);
    }
    free(want);
    if (rc)
        hsi_csv_close(c);
    return rc;
}

static int end_row(hsi_csv *c, char *err, size_t errlen)
{
    fputc('\n', c->fp);
    if (fflush(c->fp) != 0 || ferror(c->fp)) {
        snprintf(err, errlen, "%s: write failed: %s", c->path, hsi_write_strerror(errno));
        return -1;
    }
    return 0;
}

int hsi_csv_row(hsi_csv *c, const double *vals, char *err, size_t errlen)
{
    for (int i = 0; i < c->ncols; i++) {
        if (i)
            fputc(',', c->fp);
        if (isnan(vals[i]))
            continue;
        if (vals[i] == floor(vals[i]) && fabs(vals[i]) < 9007199254740992.0)
            fprintf(c->fp, "%.0f", vals[i]);
        else
            fprintf(c->fp, "%.9g", vals[i]);
    }
    return end_row(c, err, errlen);
}

int hsi_csv_row_text(hsi_csv *c, const char *const *fields, char *err, size_t errlen)
{
    for (int i = 0; i < c->ncols; i++) {
        if (i)
            fputc(',', c->fp);
        if (fields[i])
            hsi_csv_field(c->fp, fields[i]);
    }
    return end_row(c, err, errlen);
}

void hsi_csv_close(hsi_csv *c)
{
    if (c->fp)
        fclose(c->fp);
    free(c->path);
    memset(c, 0, sizeof *c);
}
