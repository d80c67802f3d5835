/* diag.c — printing of located errors, notes and hints, and the did-you-mean helper, laid out
 * from the pieces shared with the experiment loader (runtime/io/diagtext.c, hsi_diagtext.h).
 * Columns count UTF-8 characters (an invalid byte counts as one); control bytes of the quoted
 * line are shown as '?'. It does not decide what is an error: the phases call it.
 */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define QUOTE_MAX 512   /* bytes of a source line quoted at most */

static void quote(diag *d, src_span sp)
{
    const char *p;
    long len = d->text ? hsi_diag_line(d->text, d->len, sp.line, &p) : -1;
    if (len < 0) return;
    /* a line longer than QUOTE_MAX bytes is quoted from a little before the column on, so the
     * caret stays under the place it names ("..." marks the cut) */
    const char *s = p, *end = p + len;
    int col = sp.col, cut = 0;
    if (len > QUOTE_MAX && sp.col > QUOTE_MAX / 4) {
        for (int skip = sp.col - QUOTE_MAX / 8; skip > 0 && s < end; skip--, col--) {
            size_t k = hsi_utf8_len((const unsigned char *)s, (size_t)(end - s));
            s += k ? k : 1;   /* a column per character, or per invalid byte, as the lexer counts */
        }
        cut = 1;
    }
    const char *e = s + (end - s < QUOTE_MAX ? end - s : QUOTE_MAX);
    fprintf(d->out, "%5d | %s", sp.line, cut ? "..." : "");
    for (const char *q = s; q < e;) {
        unsigned char c = (unsigned char)*q;
        size_t k = hsi_utf8_len((const unsigned char *)q, (size_t)(e - q));
        if (k > 1) {
            fwrite(q, 1, k, d->out);
            q += k;
            continue;
        }
        fputc((c < 0x20 && c != '\t') || c >= 0x7f ? '?' : c, d->out);
        q++;
    }
    char pad[QUOTE_MAX + 1];
    hsi_diag_caret_pad(s, (size_t)(e - s), col, pad, sizeof pad);
    fprintf(d->out, "\n      | %s%s", cut ? "   " : "", pad);
    int n = sp.end_line == sp.line && sp.end_col >= sp.col ? sp.end_col - sp.col + 1 : 1;
    if (n > QUOTE_MAX) n = QUOTE_MAX;
    fputc('^', d->out);
    for (int i = 1; i < n; i++) fputc('~', d->out);
    fputc('\n', d->out);
}

static void vheader(diag *d, src_span sp, const char *kind, const char *fmt, va_list ap)
{
    const char *file = sp.file ? sp.file : d->file ? d->file : "<input>";
    char where[4200];
    hsi_diag_where(where, sizeof where, file, sp.line, sp.col, kind);
    fputs(where, d->out);
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

void diag_error_at(diag *d, const char *where, const char *fmt, ...)
{
    if (!admit(d)) return;
    if (where) fprintf(d->out, "%s: ", where);
    MESSAGE(NULL, where ? "error: " : "hsicc: error: ");
}

void diag_note(diag *d, src_span sp, const char *fmt, ...)
{
    if (d->shown) MESSAGE(&sp, "note");
}

void diag_note_noloc(diag *d, const char *fmt, ...)
{
    if (d->shown) MESSAGE(NULL, "note: ");
}

void diag_hint(diag *d, const char *fmt, ...)
{
    if (d->shown) MESSAGE(NULL, "hint: ");
}

size_t diag_utf8_len(const unsigned char *s, size_t n)
{
    return hsi_utf8_len(s, n);
}

const char *diag_suggest(const char *name, const char *const *cands, int n)
{
    return hsi_suggest(name, cands, n, 1, 0);
}

int diag_did_you_mean(diag *d, const char *name, const char *const *cands, int n)
{
    const char *s = diag_suggest(name, cands, n);
    if (s) diag_hint(d, "did you mean '%s'?", s);
    return s != NULL;
}
