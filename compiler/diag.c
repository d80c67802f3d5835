/* diag.c — printing of located errors, notes and hints, and the did-you-mean helper.
 * Columns count UTF-8 characters (an invalid byte counts as one); control bytes of the quoted
 * line are shown as '?'. It does not decide what is an error: the phases call it.
 */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define QUOTE_MAX 512   /* bytes of a source line quoted at most */

size_t diag_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0], min;
    size_t len;
    if (c == 0) return 0;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; min = 0x10000; }
    else return 0;
    if (len > n) return 0;
    unsigned cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static void quote(diag *d, src_span sp)
{
    if (!d->text || sp.line < 1) return;
    const char *p = d->text, *end = d->text + d->len;
    int l = 1;
    while (l < sp.line && p < end)
        if (*p++ == '\n') l++;
    if (l < sp.line) return;
    const char *e = p;
    while (e < end && *e != '\n' && e - p < QUOTE_MAX) e++;
    fprintf(d->out, "%5d | ", sp.line);
    for (const char *q = p; q < e;) {
        unsigned char c = (unsigned char)*q;
        size_t k = diag_utf8_len((const unsigned char *)q, (size_t)(e - q));
        if (k > 1) {
            fwrite(q, 1, k, d->out);
            q += k;
            continue;
        }
        fputc((c < 0x20 && c != '\t') || c >= 0x7f ? '?' : c, d->out);
        q++;
    }
    fputc('\n', d->out);
    fputs("      | ", d->out);
    int col = 1;
    for (const char *q = p; q < e && col < sp.col; col++) {
        size_t k = diag_utf8_len((const unsigned char *)q, (size_t)(e - q));
        fputc(*q == '\t' ? '\t' : ' ', d->out);
        q += k ? k : 1;
    }
    int n = sp.end_line == sp.line && sp.end_col >= sp.col ? sp.end_col - sp.col + 1 : 1;
    if (n > QUOTE_MAX) n = QUOTE_MAX;
    fputc('^', d->out);
    for (int i = 1; i < n; i++) fputc('~', d->out);
    fputc('\n', d->out);
}

static void vheader(diag *d, src_span sp, const char *kind, const char *fmt, va_list ap)
{
    const char *file = sp.file ? sp.file : d->file ? d->file : "<input>";
    if (sp.line > 0)
        fprintf(d->out, "%s:%d:%d: %s: ", file, sp.line, sp.col, kind);
    else
        fprintf(d->out, "%s: %s: ", file, kind);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
}

static int admit(diag *d)
{
    d->errors++;
    d->shown = 0;
    if (d->stop) return 0;
    if (d->errors > DIAG_MAX_ERRORS) {
        d->stop = 1;
        if (d->out) fprintf(d->out, "hsicc: too many errors (%d), stopping\n", DIAG_MAX_ERRORS);
        return 0;
    }
    d->shown = d->out != NULL;
    return d->shown;
}

/* One message: located (sp: header, then the quoted line) or `kind` followed by the text. */
static void vmessage(diag *d, const src_span *sp, const char *kind, const char *fmt, va_list ap)
{
    if (sp) {
        vheader(d, *sp, kind, fmt, ap);
        quote(d, *sp);
        return;
    }
    fputs(kind, d->out);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
}

#define MESSAGE(sp, kind)                 \
    do {                                  \
        va_list ap;                       \
        va_start(ap, fmt);                \
        vmessage(d, sp, kind, fmt, ap);   \
        va_end(ap);                       \
    } while (0)

void diag_error(diag *d, src_span sp, const char *fmt, ...)
{
    if (admit(d)) MESSAGE(&sp, "error");
}

void diag_error_noloc(diag *d, const char *fmt, ...)
{
    if (admit(d)) MESSAGE(NULL, "hsicc: error: ");
}

void diag_note(diag *d, src_span sp, const char *fmt, ...)
{
    if (d->shown) MESSAGE(&sp, "note");
}

void diag_hint(diag *d, const char *fmt, ...)
{
    if (d->shown) MESSAGE(NULL, "hint: ");
}

/* optimal string alignment distance: insertions, deletions, substitutions, transpositions */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return (size_t)-1;
    size_t m[65][65];
    for (size_t i = 0; i <= la; i++) m[i][0] = i;
    for (size_t j = 0; j <= lb; j++) m[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = m[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (m[i - 1][j] + 1 < best) best = m[i - 1][j] + 1;
            if (m[i][j - 1] + 1 < best) best = m[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && m[i - 2][j - 2] + 1 < best)
                best = m[i - 2][j - 2] + 1;
            m[i][j] = best;
        }
    return m[la][lb];
}

const char *diag_suggest(const char *name, const char *const *cands, int n)
{
    size_t len = strlen(name), limit = len / 3 > 1 ? len / 3 : 1, best = (size_t)-1;
    const char *pick = NULL;
    for (int i = 0; i < n; i++) {
        if (!cands[i] || !strcmp(cands[i], name)) continue;
        size_t dist = edit_distance(name, cands[i]);
        if (dist <= limit && dist < best) {
            best = dist;
            pick = cands[i];
        }
    }
    return pick;
}

int diag_did_you_mean(diag *d, const char *name, const char *const *cands, int n)
{
    const char *s = diag_suggest(name, cands, n);
    if (s) diag_hint(d, "did you mean '%s'?", s);
    return s != NULL;
}
