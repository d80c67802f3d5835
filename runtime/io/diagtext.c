/* diagtext.c — the pieces of a located message (header, quoted line, caret, did-you-mean) that
 * hsicc's diag.c and the experiment loader (config.c) share; see hsi_diagtext.h.
 * Used by the compiler too (hsicc_core links this file alone), so it depends on nothing else.
 */
#include <stdio.h>
#include <string.h>

#include "hsi_diagtext.h"

int hsi_diag_where(char *buf, size_t cap, const char *file, int line, int col, const char *kind)
{
    if (line > 0) return snprintf(buf, cap, "%s:%d:%d: %s: ", file, line, col, kind);
    return snprintf(buf, cap, "%s: %s: ", file, kind);
}

long hsi_diag_line(const char *text, size_t len, int line, const char **start)
{
    const char *p = text, *end = text + len;
    for (int l = 1; l < line; l++) {
        const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        if (!nl) return -1;
        p = nl + 1;
    }
    if (line < 1) return -1;
    const char *e = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    *start = p;
    return (long)((e ? e : end) - p);
}

size_t hsi_utf8_len(const unsigned char *s, size_t n)
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

size_t hsi_diag_caret_pad(const char *line, size_t n, int col, char *out, size_t cap)
{
    size_t k = 0, at = 0;
    if (!cap) return 0;
    for (int c = 1; c < col && k + 1 < cap; c++) {
        if (at >= n) {   /* a column past the end of the line: blanks up to it */
            out[k++] = ' ';
            continue;
        }
        size_t w = hsi_utf8_len((const unsigned char *)line + at, n - at);
        out[k++] = line[at] == '\t' ? '\t' : ' ';
        at += w ? w : 1;
    }
    out[k] = 0;
    return k;
}

size_t hsi_edit_distance(const char *a, const char *b)
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
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                m[i - 2][j - 2] + 1 < best)
                best = m[i - 2][j - 2] + 1;
            m[i][j] = best;
        }
    return m[la][lb];
}

const char *hsi_suggest(const char *word, const char *const *cands, int n, int min_edits,
                        int prefixes)
{
    size_t len = strlen(word), limit = len / 3, best = (size_t)-1;
    if (limit < (size_t)min_edits) limit = (size_t)min_edits;
    const char *pick = NULL;
    for (int i = 0; i < n; i++) {
        if (!cands[i] || !strcmp(cands[i], word)) continue;
        size_t d = hsi_edit_distance(word, cands[i]);
        if (d <= limit && d < best) {
            best = d;
            pick = cands[i];
        }
    }
    for (int i = 0; i < n && !pick && prefixes; i++) {
        if (!cands[i] || !strcmp(cands[i], word)) continue;
        size_t lc = strlen(cands[i]), k = len < lc ? len : lc;
        if (k >= 2 && strncmp(word, cands[i], k) == 0) pick = cands[i];
    }
    return pick;
}
