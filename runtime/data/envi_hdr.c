/* envi_hdr.c — the ENVI header, shared by the whole-cube loader (envi.c) and the streaming
 * reader (envi_stream.c): finds the .hdr / data pair, parses the keys they need (samples, lines,
 * bands, data type, interleave, byte order, header offset, data ignore value, map info,
 * coordinate system string; other keys and {} lists are skipped), and checks every size for
 * overflow and against the data file before anyone allocates from it. Files are opened with
 * O_NONBLOCK and must be regular, so a FIFO is refused instead of blocking. It does not read
 * complex types (6, 9) and does not interpret the georeference (runtime/io/georef.c does). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_internal.h"

enum { HDR_MAX_BYTES = 16 << 20 };   /* a header is text: anything larger is not one */

int data_open_regular(const char *path, int *fd, int64_t *size, char *err, size_t errlen)
{
    *fd = hsi_open_regular(path, size, err, errlen);   /* the one opener of input files */
    return *fd < 0 ? -1 : 0;
}

int data_pread_full(int fd, void *buf, size_t n, int64_t off, const char *path, char *err,
                    size_t errlen)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = pread(fd, p, n, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return data_err(err, errlen, "%s: read error at byte %lld: %s", path, (long long)off,
                            strerror(errno));
        if (got == 0)
            return data_err(err, errlen, "%s: ends at byte %lld, before the data the header "
                            "describes (was the file truncated while open?)", path,
                            (long long)off);
        p += got;
        n -= (size_t)got;
        off += got;
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

/* A whole base-10 number filling val (spaces around allowed), within [lo, hi]. */
static int whole(const char *val, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (end == val || errno == ERANGE || v < lo || v > hi)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static int map_type(int t, data_type *out)
{
    switch (t) {
    case 1: *out = DATA_U8; return 0;
    case 2: *out = DATA_I16; return 0;
    case 3: *out = DATA_I32; return 0;
    case 4: *out = DATA_F32; return 0;
    case 5: *out = DATA_F64; return 0;
    case 12: *out = DATA_U16; return 0;
    case 13: *out = DATA_U32; return 0;
    case 14: *out = DATA_I64; return 0;
    case 15: *out = DATA_U64; return 0;
    default: return -1;
    }
}

/* One "key = value" of the header; val is NUL-terminated and trimmed, a {} list without its
 * braces. */
static int hdr_key(const char *path, int line, const char *key, char *val, int list, envi_hdr *h,
                   char *err, size_t errlen)
{
    static const struct { const char *key; long long lo, hi; } nums[] = {
        {"samples", 1, INT32_MAX}, {"lines", 1, INT32_MAX}, {"bands", 1, INT32_MAX},
        {"header offset", 0, LLONG_MAX}, {"data type", 0, INT32_MAX}, {"byte order", 0, 1},
    };
    int64_t *dst[] = {&h->samples, &h->lines, &h->bands, &h->offset, NULL, NULL};
    int *idst[] = {NULL, NULL, NULL, NULL, &h->envi_type, &h->byte_order};
    for (size_t k = 0; k < sizeof nums / sizeof *nums; k++) {
        if (strcasecmp(key, nums[k].key) != 0)
            continue;
        long long v;
        if (list || whole(val, nums[k].lo, nums[k].hi, &v) != 0)
            return data_err(err, errlen, "%s:%d: '%s = %s%.40s%s': expected a whole number from "
                            "%lld to %lld", path, line, nums[k].key, list ? "{" : "", val,
                            list ? "}" : "", nums[k].lo, nums[k].hi);
        if (dst[k])
            *dst[k] = v;
        else
            *idst[k] = (int)v;
        if (idst[k] == &h->envi_type)
            h->envi_type_line = line;
        return 0;
    }
    if (strcasecmp(key, "interleave") == 0) {
        char il[8] = "";
        snprintf(il, sizeof il, "%s", val);
        for (char *c = il; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (strcmp(il, "bsq") && strcmp(il, "bil") && strcmp(il, "bip"))
            return data_err(err, errlen, "%s:%d: interleave '%.40s' (expected bsq, bil or bip)",
                            path, line, val);
        memcpy(h->interleave, il, 4);
    } else if (strcasecmp(key, "data ignore value") == 0) {
        char *end;
        double v = strtod(val, &end);
        if (end == val || *trim(end)) {
            snprintf(h->warn, sizeof h->warn, "%.300s:%d: 'data ignore value = %.40s' is not a "
                     "number; ignored (only NaN and Inf pixels are nodata)", path, line, val);
            h->has_ignore = 0;
        } else {
            h->has_ignore = 1;
            h->ignore = v;
        }
    } else if (strcasecmp(key, "map info") == 0
               || strcasecmp(key, "coordinate system string") == 0) {
        char **slot = tolower((unsigned char)key[0]) == 'm' ? &h->map_info : &h->cs_string;
        free(*slot);
        *slot = strdup(val);
        if (!*slot)
            return data_err(err, errlen, "%s: out of memory", path);
    }
    return 0;
}

/* A key as written ("Data  Type", "data\ttype") with each run of blanks made one space. */
static char *squeeze_key(char *key)
{
    char *o = key;
    for (const char *i = key; *i; i++)
        if (!isspace((unsigned char)*i) || (o > key && o[-1] != ' '))
            *o++ = isspace((unsigned char)*i) ? ' ' : *i;
    *o = 0;
    return key;
}

/* Parses the header text (modified in place). Lines may end in \n, \r\n or \r alone (classic
 * Mac), and a UTF-8 byte-order mark (Windows editors) may precede 'ENVI'. */
static int parse_hdr(const char *path, char *text, envi_hdr *h, char *err, size_t errlen)
{
    if (strncmp(text, "\xef\xbb\xbf", 3) == 0)
        text += 3;
    for (char *c = text; *c; c++)
        if (*c == '\r' && c[1] != '\n')
            *c = '\n';
    if (strncmp(trim(text), "ENVI", 4) != 0)
        return data_err(err, errlen, "%s: not an ENVI header (first line must be 'ENVI')", path);
    int line = 1;
    for (char *p = text; *p;) {
        char *eol = strchr(p, '\n');
        char *next = eol ? eol + 1 : p + strlen(p);
        char *eq = memchr(p, '=', (size_t)(next - p));
        if (!eq) {
            line++;
            p = next;
            continue;
        }
        char *val = eq + 1;
        while (*val == ' ' || *val == '\t')
            val++;
        int list = *val == '{';
        char *close = list ? strchr(val, '}') : NULL;
        if (list && !close)
            return data_err(err, errlen, "%s:%d: unterminated '{'", path, line);
        if (list) {                       /* a list runs to its closing brace, maybe lines on */
            next = strchr(close, '\n');
            next = next ? next + 1 : close + strlen(close);
        }
        int key_line = line;
        for (const char *q = p; q < next; q++)
            line += *q == '\n';
        *eq = 0;
        if (list) {
            *close = 0;
            val++;
        } else if (eol) {
            *eol = 0;
        }
        if (hdr_key(path, key_line, squeeze_key(trim(p)), trim(val), list, h, err, errlen) != 0)
            return -1;
        p = next;
    }
    /* hdr_key refused bad values with their line: what is left here is a key never given */
    const char *missing = h->samples < 1 ? "samples" : h->lines < 1 ? "lines"
                        : h->bands < 1 ? "bands" : h->envi_type < 0 ? "data type" : NULL;
    if (missing)
        return data_err(err, errlen, "%s: no '%s = ...' line: an ENVI header needs samples, "
                        "lines, bands and data type", path, missing);
    if (map_type(h->envi_type, &h->type) != 0)
        return data_err(err, errlen, "%s:%d: unsupported 'data type = %d' (supported: 1 2 3 4 5 "
                        "12 13 14 15)", path, h->envi_type_line, h->envi_type);
    return 0;
}

/* Fills hdr and dat paths from either one. */
static int find_pair(const char *path, char *hdr, char *dat, size_t n, char *err, size_t errlen)
{
    size_t len = strlen(path);
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - path) : len;
    if (len + 5 > n)
        return data_err(err, errlen, "%s: path too long", path);
    if (len >= 4 && strcasecmp(path + len - 4, ".hdr") == 0) {
        static const char *ext[] = {"", ".img", ".dat", ".raw", ".bsq", ".bil", ".bip"};
        snprintf(hdr, n, "%s", path);
        if (access(path, F_OK) != 0)   /* the header itself: say it is missing, and why */
            return data_err(err, errlen, "%s: %s", path, strerror(errno));
        if (hsi_check_input(path, err, errlen))   /* a FIFO or a directory: said first */
            return -1;
        for (size_t k = 0; k < sizeof ext / sizeof *ext; k++) {
            snprintf(dat, n, "%.*s%s", (int)stem, path, ext[k]);
            if (access(dat, R_OK) == 0)
                return 0;
        }
        return data_err(err, errlen, "%s: no ENVI data file beside it (%.*s, .img, .dat, .raw, "
                        ".bsq, .bil, .bip)", path, (int)stem, path);
    }
    snprintf(dat, n, "%s", path);
    snprintf(hdr, n, "%.*s.hdr", (int)stem, path);
    if (access(hdr, R_OK) == 0)
        return 0;
    snprintf(hdr, n, "%s.hdr", path);
    if (access(hdr, R_OK) == 0)
        return 0;
    if (access(path, R_OK) != 0)
        return data_err(err, errlen, "%s: %s", path, strerror(errno));
    return data_err(err, errlen, "%s: unknown format (not .mat, not .npy, and no ENVI .hdr "
                    "beside it)", path);
}

/* The header text, from a regular file of at most HDR_MAX_BYTES (NUL-terminated, malloc'd). */
static char *read_hdr_text(const char *path, char *err, size_t errlen)
{
    int fd;
    int64_t size;
    if (data_open_regular(path, &fd, &size, err, errlen) != 0)
        return NULL;
    char *text = NULL;
    if (size > HDR_MAX_BYTES)
        data_err(err, errlen, "%s: %lld bytes is too large for an ENVI header (at most %d)", path,
                 (long long)size, HDR_MAX_BYTES);
    else if (!(text = malloc((size_t)size + 1)))
        data_err(err, errlen, "%s: out of memory", path);
    else if (data_pread_full(fd, text, (size_t)size, 0, path, err, errlen) != 0) {
        free(text);
        text = NULL;
    } else {
        text[size] = 0;
    }
    close(fd);
    return text;
}

/* The warning for a data file of file_size bytes where the header describes need. */
static void longer_than_described(envi_hdr *h, int64_t file_size, int64_t need)
{
    size_t used = strlen(h->warn);
    int64_t data = file_size - h->offset;
    char times[160] = "";
    if (data % h->data_bytes == 0)
        snprintf(times, sizeof times, "; it holds %lld times the data the header describes: is "
                 "'data type' or 'bands' wrong?", (long long)(data / h->data_bytes));
    snprintf(h->warn + used, sizeof h->warn - used, "%s%.300s: %lld bytes, %lld more than the "
             "header describes (%lld x %lld x %lld %s + offset %lld); they are not read, and a "
             "header that does not match the file classifies garbage%s", used ? "; " : "",
             h->dat_path, (long long)file_size, (long long)(file_size - need),
             (long long)h->lines, (long long)h->samples, (long long)h->bands,
             data_type_name(h->type), (long long)h->offset, times);
}

void envi_hdr_free(envi_hdr *h)
{
    free(h->map_info);
    free(h->cs_string);
    h->map_info = h->cs_string = NULL;
}

int envi_hdr_open(const char *path, envi_hdr *h, int *fd, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    *fd = -1;
    h->samples = h->lines = h->bands = h->envi_type = -1;
    memcpy(h->interleave, "bsq", 4);
    if (find_pair(path, h->hdr_path, h->dat_path, sizeof h->hdr_path, err, errlen) != 0)
        return -1;
    char *text = read_hdr_text(h->hdr_path, err, errlen);
    if (!text)
        return -1;
    int rc = parse_hdr(h->hdr_path, text, h, err, errlen);
    free(text);
    if (rc != 0) {
        envi_hdr_free(h);
        return -1;
    }
    const uint16_t one = 1;
    uint8_t le;
    memcpy(&le, &one, 1);
    h->es = data_type_size(h->type);
    h->swap = h->es > 1 && (h->byte_order == 1) == (le == 1);

    /* Every product checked before it is used: a header is not trusted to be sane. */
    int64_t px, need;
    int64_t file_size;
    int over = __builtin_mul_overflow(h->samples, h->lines, &px)
               || __builtin_mul_overflow(px, h->bands, &h->data_bytes)
               || __builtin_mul_overflow(h->data_bytes, (int64_t)h->es, &h->data_bytes)
               || __builtin_add_overflow(h->data_bytes, h->offset, &need);
    if (over) {
        data_err(err, errlen, "%s: %lld lines x %lld samples x %lld bands of %s + header offset "
                 "%lld overflows a 64-bit size: the header is corrupt", h->hdr_path,
                 (long long)h->lines, (long long)h->samples, (long long)h->bands,
                 data_type_name(h->type), (long long)h->offset);
        envi_hdr_free(h);
        return -1;
    }
    if (data_open_regular(h->dat_path, fd, &file_size, err, errlen) != 0) {
        envi_hdr_free(h);
        return -1;
    }
    if (file_size < need) {
        data_err(err, errlen, "%s: %lld bytes, the header %s needs %lld (%lld x %lld x %lld %s "
                 "+ offset %lld)", h->dat_path, (long long)file_size, h->hdr_path,
                 (long long)need, (long long)h->lines, (long long)h->samples,
                 (long long)h->bands, data_type_name(h->type), (long long)h->offset);
        close(*fd);
        *fd = -1;
        envi_hdr_free(h);
        return -1;
    }
    if (file_size > need)   /* read as the header says, but said: float64 data under 'data
                             * type = 4' is twice as long, and reads as garbage */
        longer_than_described(h, file_size, need);
    return 0;
}
