/* test_json.c — writer: escaping, exact round trip of floats/doubles, NaN -> null, layout;
 * reader: the same document back, rejections with byte offsets, depth limit, and a quick fuzz
 * (random bytes and random mutations of a valid header must give a value or an error, never a
 * crash; run under ASan/UBSan to make that strict).
 */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "hsi_io.h"

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static void test_escape_roundtrip(void)
{
    const char *nasty = "quote\" back\\slash\nnl\ttab\x01 ctl / slash \xc3\xa9";
    const double d = 0.1 + 0.2, tiny = 4.9406564584124654e-324;
    const float f = 1.0f / 3.0f;
    hsi_json j;
    hsi_json_init(&j);
    hsi_json_begin_object(&j);
    hsi_json_key(&j, "s"); hsi_json_string(&j, nasty);
    hsi_json_key(&j, "k\"ey"); hsi_json_int(&j, -9007199254740993LL);
    hsi_json_key(&j, "d"); hsi_json_double(&j, d);
    hsi_json_key(&j, "tiny"); hsi_json_double(&j, tiny);
    hsi_json_key(&j, "f"); hsi_json_float(&j, f);
    hsi_json_key(&j, "nan"); hsi_json_double(&j, NAN);
    hsi_json_key(&j, "inf"); hsi_json_float(&j, INFINITY);
    hsi_json_key(&j, "m");
    hsi_json_begin_array(&j);
    for (int r = 0; r < 2; r++) {
        hsi_json_begin_array(&j);
        hsi_json_int(&j, r);
        hsi_json_bool(&j, r);
        hsi_json_null(&j);
        hsi_json_end_array(&j);
    }
    hsi_json_end_array(&j);
    hsi_json_key(&j, "e"); hsi_json_begin_object(&j); hsi_json_end_object(&j);
    hsi_json_end_object(&j);
    CHECK(!j.oom && j.depth == 0);
    /* Layout: a matrix prints one row per line; the control character as \u0001. */
    CHECK_MSG(j.buf, "\"m\": [\n    [0, false, null],\n    [1, true, null]\n  ]");
    CHECK_MSG(j.buf, "\\u0001");
    CHECK_MSG(j.buf, "\"nan\": null");
    CHECK_MSG(j.buf, "\"e\": {}");

    char err[128];
    hsi_jval *v = hsi_json_parse(j.buf, j.len, err, sizeof err);
    CHECK(v != NULL);
    if (v) {
        CHECK(strcmp(hsi_jval_get(v, "s")->str, nasty) == 0);
        CHECK(hsi_jval_get(v, "k\"ey")->is_int && hsi_jval_get(v, "k\"ey")->i == -9007199254740993LL);
        CHECK(hsi_jval_get(v, "d")->num == d);
        CHECK(hsi_jval_get(v, "tiny")->num == tiny);
        CHECK((float)hsi_jval_get(v, "f")->num == f);
        CHECK(hsi_jval_get(v, "nan")->type == HSI_JNULL);
        CHECK(hsi_jval_get(v, "inf")->type == HSI_JNULL);
        CHECK(hsi_jval_get(v, "m")->items[1].items[1].boolean == 1);
        CHECK(hsi_jval_get(v, "e")->type == HSI_JOBJECT && hsi_jval_get(v, "e")->n == 0);
        CHECK(hsi_jval_get(v, "missing") == NULL);
        hsi_jval_free(v);
    }
    hsi_json_free(&j);
}

static void test_reader(void)
{
    char err[128];
    const char *ok = " {\"a\\u00e9\\ud83d\\ude00\": [1.5e2, -0, 7], \"b\": \"x\\/y\"} ";
    hsi_jval *v = hsi_json_parse(ok, strlen(ok), err, sizeof err);
    CHECK(v != NULL);
    if (v) {
        CHECK(strcmp(v->keys[0], "a\xc3\xa9\xf0\x9f\x98\x80") == 0);
        CHECK(v->items[0].items[0].num == 150 && !v->items[0].items[0].is_int);
        CHECK(v->items[0].items[2].is_int && v->items[0].items[2].i == 7);
        CHECK(strcmp(hsi_jval_get(v, "b")->str, "x/y") == 0);
        hsi_jval_free(v);
    }
    static const struct { const char *text, *msg; } bad[] = {
        { "{\"a\": 1,}", "byte 8: expected a string key" },
        { "[1 2]", "byte 3: expected ',' or ']'" },
        { "\"abc", "unterminated string" },
        { "01", "trailing characters" },
        { "-", "bad number" },
        { "1.", "bad number" },
        { "tru", "unexpected character" },
        { "\"\\x\"", "bad escape" },
        { "\"\\u12g4\"", "bad \\u escape" },
        { "\"a\tb\"", "control character" },
        { "", "unexpected end of input" },
        { "{\"a\" 1}", "expected ':'" },
        /* a key twice, at any depth (the first repeat is named, where it stands) */
        { "{\"a\": 1, \"b\": 2, \"a\": 3}", "byte 17: key 'a' appears twice" },
        { "{\"m\": {\"x\": 1, \"y\": {}, \"y\": 2, \"x\": 0}}", "byte 24: key 'y' appears twice" },
        { "[{}, {\"k\": [], \"k\": []}]", "byte 15: key 'k' appears twice" },
        /* C strings: a \u0000 would end a key or a value early */
        { "{\"a\\u0000b\": 1}", "byte 3: a NUL character (\\u0000) in a string" },
        { "[\"\\u0000\"]", "byte 2: a NUL character" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        v = hsi_json_parse(bad[i].text, strlen(bad[i].text), err, sizeof err);
        CHECK(v == NULL);
        hsi_jval_free(v);
        CHECK_MSG(err, bad[i].msg);
    }
    /* Depth: 64 nested arrays parse, 65 do not. */
    char deep[200];
    for (int n = 64; n <= 65; n++) {
        memset(deep, '[', (size_t)n);
        memset(deep + n, ']', (size_t)n);
        v = hsi_json_parse(deep, 2 * (size_t)n, err, sizeof err);
        CHECK((v != NULL) == (n == 64));
        hsi_jval_free(v);
    }
    CHECK_MSG(err, "nesting deeper than 64");
    /* The reader must not look past len: a valid prefix of a longer buffer. */
    v = hsi_json_parse("[1]GARBAGE", 3, err, sizeof err);
    CHECK(v != NULL);
    hsi_jval_free(v);
}

static void test_fuzz(void)
{
    const char *seed = "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\","
                       "\"shape\":[2,3],\"data_offsets\":[0,24]},\"s\":\"\\u00e9\\n\"}";
    size_t n = strlen(seed);
    char buf[256], err[128];
    int parsed = 0;
    for (int it = 0; it < 20000; it++) {
        size_t len;
        if (it % 2) {
            len = next() % sizeof buf;
            for (size_t i = 0; i < len; i++)
                buf[i] = (char)(next() % 8 ? "{}[]\":,0123456789.-eE tfnul\\ax"[next() % 30]
                                           : (char)next());
        } else {
            memcpy(buf, seed, n);
            len = n;
            for (int m = 1 + (int)(next() % 4); m > 0; m--) {
                size_t at = next() % len;
                switch (next() % 3) {
                case 0: buf[at] = (char)next(); break;
                case 1: len = at; break;
                default: buf[at] = "{}[]\":,"[next() % 7]; break;
                }
                if (len == 0)
                    break;
            }
        }
        /* The buffer is not NUL-terminated on purpose: heap copy of exactly len bytes. */
        char *exact = malloc(len ? len : 1);
        memcpy(exact, buf, len);
        hsi_jval *v = hsi_json_parse(exact, len, err, sizeof err);
        parsed += v != NULL;
        CHECK(v != NULL || strncmp(err, "byte ", 5) == 0);
        hsi_jval_free(v);
        free(exact);
    }
    CHECK(parsed > 0);
}

int main(void)
{
    test_escape_roundtrip();
    test_reader();
    test_fuzz();
    CHECK_DONE();
}
