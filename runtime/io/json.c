/* json.c — a small JSON writer (metrics.json, safetensors headers) and a small strict reader
 * (safetensors headers, metrics.json, sweep manifests). The reader is recursive descent with a
 * depth limit and bounds checks on every byte, so garbage gives an error, never a crash; it also
 * refuses what C strings cannot hold or a reader could take two ways: a key given twice in an
 * object, a \u0000 in a string. Not here: streaming, comments, NaN literals, or preserving
 * number spelling (numbers become double, plus int64 when integral).
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_io.h"

/* ------------------------------------------------------------------------------------------ */
/* writer                                                                                     */

static void put(hsi_json *j, const char *s, size_t n)
{
    if (j->oom)
        return;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (j->len + n + 1 > cap)
            cap *= 2;
        char *b = realloc(j->buf, cap);
        if (!b) {
            j->oom = 1;
            return;
        }
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void puts_(hsi_json *j, const char *s) { put(j, s, strlen(s)); }

static void newline(hsi_json *j, int depth)
{
    put(j, "\n", 1);
    for (int i = 0; i < depth; i++)
        put(j, "  ", 2);
}

/* Called before every value and every key: separators and layout. */
static void before_value(hsi_json *j, int is_container)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth == 0)
        return;
    assert(j->stack[j->depth - 1].kind == '[' && "object member needs hsi_json_key first");
    if (j->stack[j->depth - 1].count++)
        put(j, ",", 1);
    if (is_container) {
        j->stack[j->depth - 1].multiline = 1;
        newline(j, j->depth);
    } else if (j->stack[j->depth - 1].count > 1) {
        put(j, " ", 1);
    }
}

static void open_(hsi_json *j, char kind)
{
    before_value(j, 1);
    assert(j->depth < (int)(sizeof j->stack / sizeof j->stack[0]));
    j->stack[j->depth].kind = kind;
    j->stack[j->depth].count = 0;
    j->stack[j->depth].multiline = 0;
    j->depth++;
    put(j, kind == '{' ? "{" : "[", 1);
}

static void close_(hsi_json *j, char kind)
{
    assert(j->depth > 0 && j->stack[j->depth - 1].kind == kind);
    j->depth--;
    int lines = kind == '{' ? j->stack[j->depth].count > 0 : j->stack[j->depth].multiline;
    if (lines)
        newline(j, j->depth);
    put(j, kind == '{' ? "}" : "]", 1);
}

void hsi_json_init(hsi_json *j) { memset(j, 0, sizeof *j); }
void hsi_json_free(hsi_json *j) { free(j->buf); memset(j, 0, sizeof *j); }
void hsi_json_begin_object(hsi_json *j) { open_(j, '{'); }
void hsi_json_end_object(hsi_json *j) { close_(j, '{'); }
void hsi_json_begin_array(hsi_json *j) { open_(j, '['); }
void hsi_json_end_array(hsi_json *j) { close_(j, '['); }

static void put_quoted(hsi_json *j, const char *s)
{
    put(j, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': puts_(j, "\\\""); break;
        case '\\': puts_(j, "\\\\"); break;
        case '\n': puts_(j, "\\n"); break;
        case '\r': puts_(j, "\\r"); break;
        case '\t': puts_(j, "\\t"); break;
        case '\b': puts_(j, "\\b"); break;
        case '\f': puts_(j, "\\f"); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                puts_(j, esc);
            } else {
                put(j, (const char *)p, 1);
            }
        }
    }
    put(j, "\"", 1);
}

void hsi_json_key(hsi_json *j, const char *key)
{
    assert(j->depth > 0 && j->stack[j->depth - 1].kind == '{' && !j->after_key);
    if (j->stack[j->depth - 1].count++)
        put(j, ",", 1);
    newline(j, j->depth);
    put_quoted(j, key);
    put(j, ": ", 2);
    j->after_key = 1;
}

void hsi_json_string(hsi_json *j, const char *s)
{
    before_value(j, 0);
    if (s)
        put_quoted(j, s);
    else
        puts_(j, "null");
}

static void put_number(hsi_json *j, double v, int digits)
{
    before_value(j, 0);
    if (!isfinite(v)) {
        puts_(j, "null");
        return;
    }
    char b[40];
    snprintf(b, sizeof b, "%.*g", digits, v);
    puts_(j, b);
}

void hsi_json_double(hsi_json *j, double v) { put_number(j, v, 17); }
void hsi_json_float(hsi_json *j, float v) { put_number(j, v, 9); }

void hsi_json_int(hsi_json *j, int64_t v)
{
    before_value(j, 0);
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)v);
    puts_(j, b);
}

void hsi_json_bool(hsi_json *j, int v)
{
    before_value(j, 0);
    puts_(j, v ? "true" : "false");
}

void hsi_json_null(hsi_json *j)
{
    before_value(j, 0);
    puts_(j, "null");
}

int hsi_json_write_file(const hsi_json *j, const char *path, char *err, size_t errlen)
{
    if (j->oom || j->depth != 0) {
        snprintf(err, errlen, "%s: %s", path,
                 j->oom ? "out of memory while building JSON" : "internal error: unbalanced JSON");
        return -1;
    }
    hsi_atomic_file af;
    if (hsi_atomic_open(&af, path, err, errlen))
        return -1;
    if (j->len)
        fwrite(j->buf, 1, j->len, af.fp);
    fputc('\n', af.fp);
    return hsi_atomic_commit(&af, err, errlen);
}

/* ------------------------------------------------------------------------------------------ */
/* reader                                                                                     */

typedef struct parser {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
    int failed;
} parser;

static int fail(parser *p, const char *fmt, ...)
{
    if (!p->failed) {
        p->failed = 1;
        int k = snprintf(p->err, p->errlen, "byte %zu: ", p->pos);
        if (k >= 0 && (size_t)k < p->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err + k, p->errlen - k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int peek(parser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

static int literal(parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, "unexpected character");
    p->pos += n;
    return 0;
}

static int hex4(parser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return fail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return fail(p, "bad \\u escape");
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* At the opening quote. The decoded string is never longer than its source text. */
static int parse_string(parser *p, char **out, size_t *outlen)
{
    p->pos++;
    size_t start = p->pos;
    while (p->pos < p->len && p->s[p->pos] != '"')
        p->pos += p->s[p->pos] == '\\' ? 2 : 1;
    if (p->pos >= p->len)
        return fail(p, "unterminated string");
    size_t end = p->pos;
    char *o = malloc(end - start + 1);
    if (!o)
        return fail(p, "out of memory");
    size_t n = 0;
    p->pos = start;
    while (p->pos < end) {
        unsigned char c = (unsigned char)p->s[p->pos++];
        if (c < 0x20) {
            free(o);
            return fail(p, "control character in string");
        }
        if (c != '\\') {
            o[n++] = (char)c;
            continue;
        }
        char e = p->s[p->pos++];
        switch (e) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (p->pos + 4 > end || hex4(p, &cp)) {
                free(o);
                return fail(p, "bad \\u escape");
            }
            if (cp == 0) {   /* keys and values are C strings: "a\u0000b" would read as "a" */
                p->pos -= 6;
                free(o);
                return fail(p, "a NUL character (\\u0000) in a string");
            }
            if (cp >= 0xD800 && cp < 0xDC00 && p->pos + 6 <= end && p->s[p->pos] == '\\' &&
                p->s[p->pos + 1] == 'u') {
                p->pos += 2;
                if (hex4(p, &lo) || lo < 0xDC00 || lo >= 0xE000) {
                    free(o);
                    return fail(p, "bad surrogate pair");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            /* 6 source bytes decode to at most 4 (a pair: 12 bytes to 4). */
            n += utf8_put(o + n, cp);
            break;
        }
        default:
            free(o);
            return fail(p, "bad escape");
        }
    }
    o[n] = '\0';
    p->pos = end + 1;
    *out = o;
    *outlen = n;
    return 0;
}

static int parse_number(parser *p, hsi_jval *v)
{
    size_t start = p->pos;
    int integral = 1;
    if (peek(p) == '-')
        p->pos++;
    if (peek(p) == '0')
        p->pos++;
    else if (peek(p) >= '1' && peek(p) <= '9')
        while (peek(p) >= '0' && peek(p) <= '9') p->pos++;
    else
        return fail(p, "bad number");
    if (peek(p) == '.') {
        integral = 0;
        p->pos++;
        if (!(peek(p) >= '0' && peek(p) <= '9'))
            return fail(p, "bad number");
        while (peek(p) >= '0' && peek(p) <= '9') p->pos++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        integral = 0;
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-')
            p->pos++;
        if (!(peek(p) >= '0' && peek(p) <= '9'))
            return fail(p, "bad number");
        while (peek(p) >= '0' && peek(p) <= '9') p->pos++;
    }
    char buf[64];
    size_t n = p->pos - start;
    if (n >= sizeof buf)
        return fail(p, "number too long");
    memcpy(buf, p->s + start, n);
    buf[n] = '\0';
    v->type = HSI_JNUMBER;
    v->num = strtod(buf, NULL);
    if (integral) {
        errno = 0;
        long long i = strtoll(buf, NULL, 10);
        if (errno == 0) {
            v->is_int = 1;
            v->i = i;
        }
    }
    return 0;
}

static int parse_value(parser *p, hsi_jval *v, int depth);

/* Room for one more member; an object's keys and their byte offsets (*at) grow with it. */
static int grow(parser *p, hsi_jval *v, size_t *cap, int with_keys, size_t **at)
{
    if (v->n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 4;
    hsi_jval *items = realloc(v->items, c * sizeof *items);
    if (!items)
        return fail(p, "out of memory");
    v->items = items;
    if (with_keys) {
        char **keys = realloc(v->keys, c * sizeof *keys);
        if (!keys)
            return fail(p, "out of memory");
        v->keys = keys;
        size_t *a = realloc(*at, c * sizeof *a);
        if (!a)
            return fail(p, "out of memory");
        *at = a;
    }
    *cap = c;
    return 0;
}

typedef struct key_at { const char *key; size_t at; } key_at;

static int by_key_then_offset(const void *a, const void *b)
{
    const key_at *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* An object's keys are unique: of two values for one key a reader takes one (the first here,
 * the last in Python's json), and a safetensors header with "__metadata__" twice overran the
 * metadata arrays (a crash). The keys are sorted once (at[i]: key i's byte offset), not searched
 * per key: headers of 200000 tensors. The error is at the first key that repeats one before. */
static int unique_keys(parser *p, const hsi_jval *v, const size_t *at)
{
    if (v->n < 2)
        return 0;
    key_at *s = malloc(v->n * sizeof *s);
    if (!s)
        return fail(p, "out of memory");
    for (size_t i = 0; i < v->n; i++)
        s[i] = (key_at){v->keys[i], at[i]};
    qsort(s, v->n, sizeof *s, by_key_then_offset);
    const key_at *dup = NULL;
    for (size_t i = 1; i < v->n; i++)
        if (!strcmp(s[i].key, s[i - 1].key) && (!dup || s[i].at < dup->at))
            dup = &s[i];
    int rc = 0;
    if (dup) {
        p->pos = dup->at;
        rc = fail(p, "key '%.200s' appears twice", dup->key);
    }
    free(s);
    return rc;
}

/* "[" or "{" at p->pos; v->type already set. Elements are appended as they parse, so on
 * failure v->n counts exactly the elements to free. */
static int parse_container(parser *p, hsi_jval *v, int depth)
{
    int obj = v->type == HSI_JOBJECT;
    char close = obj ? '}' : ']';
    size_t cap = 0, *at = NULL;
    int rc = -1;
    p->pos++;
    skip_ws(p);
    if (peek(p) == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (grow(p, v, &cap, obj, &at))
            break;
        char *key = NULL;
        if (obj) {
            size_t klen;
            if (peek(p) != '"') {
                fail(p, "expected a string key");
                break;
            }
            at[v->n] = p->pos;
            if (parse_string(p, &key, &klen))
                break;
            skip_ws(p);
            if (peek(p) != ':') {
                free(key);
                fail(p, "expected ':'");
                break;
            }
            p->pos++;
        }
        hsi_jval *item = &v->items[v->n];
        memset(item, 0, sizeof *item);
        if (obj)
            v->keys[v->n] = key;
        v->n++;
        if (parse_value(p, item, depth + 1))
            break;
        skip_ws(p);
        if (peek(p) == ',') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        if (peek(p) == close) {
            p->pos++;
            rc = obj ? unique_keys(p, v, at) : 0;
        } else {
            fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
        break;
    }
    free(at);
    return rc;
}

static int parse_value(parser *p, hsi_jval *v, int depth)
{
    if (depth >= HSI_JSON_MAX_DEPTH)
        return fail(p, "nesting deeper than %d", HSI_JSON_MAX_DEPTH);
    skip_ws(p);
    switch (peek(p)) {
    case '{': v->type = HSI_JOBJECT; return parse_container(p, v, depth);
    case '[': v->type = HSI_JARRAY; return parse_container(p, v, depth);
    case '"': v->type = HSI_JSTRING; return parse_string(p, &v->str, &v->n);
    case 't': v->type = HSI_JBOOL; v->boolean = 1; return literal(p, "true");
    case 'f': v->type = HSI_JBOOL; return literal(p, "false");
    case 'n': v->type = HSI_JNULL; return literal(p, "null");
    case -1: return fail(p, "unexpected end of input");
    default: return parse_number(p, v);
    }
}

static void jval_clear(hsi_jval *v)
{
    if (v->type == HSI_JARRAY || v->type == HSI_JOBJECT) {
        for (size_t i = 0; i < v->n; i++) {
            jval_clear(&v->items[i]);
            if (v->keys)
                free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    } else if (v->type == HSI_JSTRING) {
        free(v->str);
    }
}

void hsi_jval_free(hsi_jval *v)
{
    if (!v)
        return;
    jval_clear(v);
    free(v);
}

hsi_jval *hsi_json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    parser p = { text, len, 0, err, errlen, 0 };
    hsi_jval *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (parse_value(&p, v, 0) == 0) {
        skip_ws(&p);
        if (p.pos == p.len)
            return v;
        fail(&p, "trailing characters after the JSON value");
    }
    hsi_jval_free(v);
    return NULL;
}

const hsi_jval *hsi_jval_get(const hsi_jval *v, const char *key)
{
    if (!v || v->type != HSI_JOBJECT)
        return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0)
            return &v->items[i];
    return NULL;
}
