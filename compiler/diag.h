/* diag.h — diagnostics for every phase: `file:line:col: error: message`, the source line with
 * a caret under the span, then optional `hint:` / `note:` lines. The pieces of that text are
 * shared with the runtime's experiment loader (hsi_diagtext.h).
 *
 * One diag per compilation. It counts errors and stops printing after DIAG_MAX_ERRORS (the
 * phases check diag.stop to give up early). It never exits; callers decide the exit status.
 */
#ifndef HSICC_DIAG_H
#define HSICC_DIAG_H

#include <stddef.h>
#include <stdio.h>

#include "hsi_diagtext.h"   /* hsi_utf8_len, hsi_suggest: shared with the runtime */
#include "span.h"

#define DIAG_MAX_ERRORS 20

typedef struct diag {
    FILE *out;            /* NULL: count errors, print nothing */
    const char *file;     /* default file name for spans without one */
    const char *text;     /* the source text (quoted under messages); may be NULL */
    size_t len;
    int errors;           /* errors reported so far (printed or not) */
    int stop;             /* 1 once DIAG_MAX_ERRORS was reached: phases should give up */
    int shown;            /* the last error was printed (hints/notes follow it or not) */
} diag;

/* `file:line:col: error: ...` + quoted source + caret. */
void diag_error(diag *d, src_span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An error without a source place (command line): `hsicc: error: ...`. */
void diag_error_noloc(diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An error located outside the netdef ("x.yaml:9:3: error: ..."); where NULL: as _noloc. */
void diag_error_at(diag *d, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* `file:line:col: note: ...` + quoted source, attached to the last error. */
void diag_note(diag *d, src_span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* `note: ...` without a source place (which domain...), attached to the last error. */
void diag_note_noloc(diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* `hint: ...`, attached to the last error. */
void diag_hint(diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Length of the valid UTF-8 sequence at s (n bytes available); 0 if invalid or NUL: the lexer's
 * name for hsi_utf8_len. */
size_t diag_utf8_len(const unsigned char *s, size_t n);

/* The candidate closest to `name` by edit distance if it is close enough to be a likely typo
 * (distance <= max(1, len/3), no prefix matching: hsi_suggest(name, cands, n, 1, 0)), else NULL. */
const char *diag_suggest(const char *name, const char *const *cands, int n);
/* diag_hint("did you mean '%s'?") when diag_suggest finds one; returns 1 if it did. */
int diag_did_you_mean(diag *d, const char *name, const char *const *cands, int n);

#endif
