/* hsi_diagtext.h — the text of a located message, shared by hsicc (netdefs, commands) and
 * libhsirt (experiment files) so that both read alike:
 *
 *     FILE:LINE:COL: error: message
 *     <the source line>
 *     <spaces, tabs kept>^
 *
 * and "did you mean 'x'?" picks its candidate the same way. Pure text functions: nothing here
 * prints, allocates or knows a file format; the callers lay the pieces out (hsicc numbers the
 * quoted line, the experiment loader indents it). Columns are 1-based and count UTF-8
 * characters (an invalid byte counts as one), as libyaml's marks and the netdef lexer do.
 *
 * Usage:
 *     char where[256];
 *     hsi_diag_where(where, sizeof where, "a.yaml", 3, 7, "error");   // "a.yaml:3:7: error: "
 *     const char *line;
 *     long n = hsi_diag_line(text, len, 3, &line);                    // line 3, n bytes, or -1
 *     char pad[512];
 *     hsi_diag_caret_pad(line, (size_t)n, 7, pad, sizeof pad);        // 6 columns of blanks
 *     const char *s = hsi_suggest("lrr", keys, n_keys, 2, 1);         // "lr" or NULL
 */
#ifndef HSI_DIAGTEXT_H
#define HSI_DIAGTEXT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "FILE:LINE:COL: KIND: " when line > 0, else "FILE: KIND: ", into buf[cap] (snprintf rules:
 * always terminated when cap > 0; returns the length the whole text needs). */
int hsi_diag_where(char *buf, size_t cap, const char *file, int line, int col, const char *kind);

/* Line `line` (1-based) of text[0..len): *start points at it; returns its length in bytes
 * without the '\n', or -1 when the text has fewer lines. */
long hsi_diag_line(const char *text, size_t len, int line, const char **start);

/* Length in bytes of the valid UTF-8 sequence at s (n bytes available); 0 if it is invalid or
 * a NUL. */
size_t hsi_utf8_len(const unsigned char *s, size_t n);

/* The blanks that put a caret under column col of line[0..n): one per character before col,
 * a tab where the line has a tab (so the caret lines up however tabs are shown), a space
 * elsewhere and past the end of the line. Written to out[cap], terminated; returns the number
 * of blanks written (fewer when cap is too small). */
size_t hsi_diag_caret_pad(const char *line, size_t n, int col, char *out, size_t cap);

/* Edit distance (optimal string alignment: insertion, deletion, substitution and the
 * transposition of two neighbours each cost 1); (size_t)-1 when either text is longer than 64. */
size_t hsi_edit_distance(const char *a, const char *b);

/* The candidate closest to word, if it is a likely typo: at most max(min_edits, strlen(word)/3)
 * edits away (the first of equals wins; NULL candidates and word itself are skipped). When none
 * is that close and prefixes is set: the first candidate that starts word or that word starts,
 * sharing at least 2 characters ("lrate" -> "lr"). NULL when nothing fits. */
const char *hsi_suggest(const char *word, const char *const *cands, int n, int min_edits,
                        int prefixes);

#ifdef __cplusplus
}
#endif
#endif /* HSI_DIAGTEXT_H */
