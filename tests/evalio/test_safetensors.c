/* test_safetensors.c — round trip of hsi_param arrays (with metadata and extra tensors), the
 * byte layout (little-endian length, space padding to 8), and every error case with its message:
 * not a safetensors file, header length beyond the file, truncated data, bad JSON, unknown and
 * non-F32 dtypes, size/offset mismatch, missing tensor, shape mismatch, failed write.
 * Also the C half of the Python interop test (modes "write" and "check", see st_interop.py).
 */
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"
#include "hsi_io.h"

static char dir[512];

static const char *at(const char *name)
{
    static char buf[4][640];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* A file made of a raw header (length prefixed, unpadded) and n data bytes of value 0x40. */
static void write_raw(const char *path, const char *header, uint64_t hlen, size_t data)
{
    FILE *f = fopen(path, "wb");
    for (int b = 0; b < 8; b++)
        fputc((int)(hlen >> (8 * b)) & 0xFF, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data; i++)
        fputc(0x40, f);
    fclose(f);
}

static const char *open_err(const char *path)
{
    static char err[512];
    err[0] = '\0';
    hsi_st_file *f = hsi_st_open(path, err, sizeof err);
    CHECK(f == NULL);
    hsi_st_close(f);
    return err;
}

/* Deterministic contents both this test and st_interop.py compute: exact in float32. */
static float value_of(int tensor, int64_t i)
{
    return tensor == 0 ? (float)(i * 0.25 - 3) : (float)(1.0 / (double)(i + 1));
}

static void make_params(hsi_param ps[2], float *w, float *b)
{
    memset(ps, 0, 2 * sizeof *ps);
    ps[0].name = "trunk.0.conv1.weight";
    ps[0].ndim = 4;
    ps[0].dims[0] = 4; ps[0].dims[1] = 3; ps[0].dims[2] = 1; ps[0].dims[3] = 2;
    ps[0].numel = 24;
    ps[0].value = w;
    ps[1].name = "head.bias";
    ps[1].ndim = 1;
    ps[1].dims[0] = 5;
    ps[1].numel = 5;
    ps[1].value = b;
    for (int i = 0; i < 24; i++) w[i] = value_of(0, i);
    for (int i = 0; i < 5; i++) b[i] = value_of(1, i);
}

static void test_roundtrip(void)
{
    char err[512];
    float w[24], b[5], m[5] = { 1, 2, 3, 4, 5 };
    hsi_param ps[2];
    make_params(ps, w, b);
    hsi_st_tensor extra = { "opt.m.head.bias", 1, { 5 }, m };
    hsi_st_meta meta[2] = { { "format", "pt" }, { "net", "ssrn \"quoted\"" } };
    const char *path = at("rt.safetensors");
    CHECK(hsi_st_save_params_extra(path, ps, 2, &extra, 1, meta, 2, err, sizeof err) == 0);

    /* Layout: u64 LE header length, multiple of 8, header starts with '{', padded with spaces. */
    FILE *fp = fopen(path, "rb");
    unsigned char raw[4096];
    size_t got = fp ? fread(raw, 1, sizeof raw, fp) : 0;
    if (fp)
        fclose(fp);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | raw[i];
    CHECK(hlen % 8 == 0 && raw[8] == '{' && raw[8 + hlen - 1] != '\0');
    CHECK(got == 8 + hlen + (24 + 5 + 5) * 4);

    hsi_st_file *f = hsi_st_open(path, err, sizeof err);
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(hsi_st_count(f) == 3);
    CHECK(strcmp(hsi_st_at(f, 0)->name, "trunk.0.conv1.weight") == 0);
    CHECK(strcmp(hsi_st_at(f, 2)->name, "opt.m.head.bias") == 0);
    CHECK(hsi_st_at(f, 3) == NULL);
    const hsi_st_info *wi = hsi_st_find(f, "trunk.0.conv1.weight");
    CHECK(wi && wi->ndim == 4 && wi->dims[3] == 2 && wi->numel == 24 && !strcmp(wi->dtype, "F32"));
    CHECK(strcmp(hsi_st_metadata(f, "net"), "ssrn \"quoted\"") == 0);
    CHECK(hsi_st_metadata(f, "nope") == NULL);

    float w2[24] = { 0 }, b2[5] = { 0 }, m2[5] = { 0 };
    hsi_param q[2];
    make_params(q, w2, b2);
    memset(w2, 0, sizeof w2);
    memset(b2, 0, sizeof b2);
    CHECK(hsi_st_read_param(f, &q[0], err, sizeof err) == 0);
    CHECK(hsi_st_read_param(f, &q[1], err, sizeof err) == 0);
    CHECK(hsi_st_read(f, "opt.m.head.bias", 1, extra.dims, m2, err, sizeof err) == 0);
    CHECK(memcmp(w, w2, sizeof w) == 0 && memcmp(b, b2, sizeof b) == 0 && !memcmp(m, m2, sizeof m));

    /* Missing tensor and shape mismatch: file, tensor and both shapes. */
    CHECK(hsi_st_read(f, "trunk.9.weight", 1, extra.dims, m2, err, sizeof err) == -1);
    CHECK_MSG(err, "rt.safetensors: no tensor 'trunk.9.weight' (the file has 3 tensors)");
    const int64_t want[4] = { 4, 2, 1, 2 };
    CHECK(hsi_st_read(f, "trunk.0.conv1.weight", 4, want, w2, err, sizeof err) == -1);
    CHECK_MSG(err, "rt.safetensors: tensor 'trunk.0.conv1.weight': checkpoint has [4,3,1,2], "
                   "the net expects [4,2,1,2]");
    CHECK(hsi_st_read(f, "head.bias", 2, want, w2, err, sizeof err) == -1);
    CHECK_MSG(err, "tensor 'head.bias': checkpoint has [5], the net expects [4,2]");
    hsi_st_close(f);

    /* Duplicate names and a write into a missing directory are refused; nothing is left. */
    hsi_st_tensor two[2] = { { "x", 1, { 5 }, m }, { "x", 1, { 5 }, m } };
    CHECK(hsi_st_save(at("dup.safetensors"), two, 2, NULL, 0, err, sizeof err) == -1);
    CHECK_MSG(err, "two tensors named 'x'");
    struct stat st;
    CHECK(stat(at("dup.safetensors"), &st) != 0);
    CHECK(hsi_st_save(at("no/such/dir/x.safetensors"), two, 1, NULL, 0, err, sizeof err) == -1);
    CHECK_MSG(err, "no/such/dir/x.safetensors: cannot create a temporary file");
    /* Scalars (rank 0) have one element. */
    hsi_st_tensor scalar = { "step", 0, { 0 }, m };
    CHECK(hsi_st_save(at("scalar.safetensors"), &scalar, 1, NULL, 0, err, sizeof err) == 0);
    f = hsi_st_open(at("scalar.safetensors"), err, sizeof err);
    CHECK(f && hsi_st_at(f, 0)->numel == 1 && hsi_st_read(f, "step", 0, NULL, m2, err, 512) == 0);
    CHECK(m2[0] == 1);
    hsi_st_close(f);
}

static void test_bad_files(void)
{
    const char *p = at("bad.safetensors");
    CHECK_MSG(open_err(at("missing.safetensors")), "missing.safetensors: cannot open");

    FILE *f = fopen(p, "wb");
    fputs("abc", f);
    fclose(f);
    CHECK_MSG(open_err(p), "bad.safetensors: not a safetensors file (3 bytes");

    /* Header length larger than the file (e.g. a PNG renamed). */
    write_raw(p, "{}", 1000, 0);
    CHECK_MSG(open_err(p), "truncated or not a safetensors file (header length 1000 but only 2");

    write_raw(p, "[1,2]", 5, 0);
    CHECK_MSG(open_err(p), "not a safetensors file (the header does not start with '{')");

    write_raw(p, "{\"a\": {\"dtype\": \"F32\",}}", 24, 0);
    CHECK_MSG(open_err(p), "bad.safetensors: bad header (JSON at byte 22: expected a string key)");

    /* Bad entries: header, data bytes present, expected message. */
    static const struct { const char *header; size_t data; const char *msg; } cases[] = {
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 10,
          "tensor 'w': data_offsets [0, 16] are outside the data (10 bytes; is the file "
          "truncated?)" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 16,
          "tensor 'w': data_offsets span 16 bytes, but 6 F32 values need 24" },
        { "{\"w\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
          "tensor 'w' has unknown dtype 'Q7'" },
        { "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
          "tensor 'w' needs \"dtype\" (string), \"shape\" (array)" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
          "tensor 'w' has a bad shape" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
          "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
          "bad header (JSON at byte 54: key 'w' appears twice)" },
        { "{\"__metadata__\":{\"k\":1}}", 0, "metadata 'k' is not a string" },
        /* 2^40 * 2^40 wrapped to 0 elements before the product was checked */
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],"
          "\"data_offsets\":[0,4]}}", 4, "tensor 'w' is impossibly large" },
        /* two tensors on the same bytes: b would silently read a's values */
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
          "bad header: tensors 'a' (data_offsets [0, 8]) and 'b' ([4, 8]) overlap" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_raw(p, cases[i].header, strlen(cases[i].header), cases[i].data);
        CHECK_MSG(open_err(p), cases[i].msg);
    }

    /* A non-F32 tensor (PyTorch's num_batches_tracked is I64) lists fine but does not load. */
    const char *i64 = "{\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],"
                      "\"data_offsets\":[0,8]},\"__metadata__\":{\"format\":\"pt\"}}";
    write_raw(p, i64, strlen(i64), 8);
    char err[512];
    hsi_st_file *st = hsi_st_open(p, err, sizeof err);
    CHECK(st != NULL);
    if (st) {
        float x[1];
        CHECK(hsi_st_count(st) == 1 && !strcmp(hsi_st_at(st, 0)->dtype, "I64"));
        CHECK(hsi_st_read(st, "bn.num_batches_tracked", 0, NULL, x, err, sizeof err) == -1);
        CHECK_MSG(err, "bad.safetensors: tensor 'bn.num_batches_tracked': dtype I64, only F32");
        hsi_st_close(st);
    }
}

/* Random byte flips and truncations of a valid file: open either fails with a message naming
 * the file or gives entries whose reads stay within their declared sizes (ASan makes it strict). */
static void test_fuzz(void)
{
    const char *src = at("rt.safetensors"), *dst = at("fuzz.safetensors");
    static unsigned char orig[4096], buf[4096];
    FILE *fp = fopen(src, "rb");
    size_t n = fp ? fread(orig, 1, sizeof orig, fp) : 0;
    if (fp)
        fclose(fp);
    CHECK(n > 100);
    uint32_t r = 12345;
    int opened = 0;
    for (int it = 0; it < 1500 && n > 100; it++) {
        memcpy(buf, orig, n);
        size_t len = n;
        for (int m = 0; m < 3; m++) {
            r = r * 1664525u + 1013904223u;
            size_t pos = (r >> 8) % (it % 3 == 0 ? 8 : 200);   /* length bytes or header */
            buf[pos] = (unsigned char)(r >> 24);
        }
        if (it % 5 == 0)
            len = (r >> 4) % n;
        fp = fopen(dst, "wb");
        fwrite(buf, 1, len, fp);
        fclose(fp);
        char err[512] = "";
        hsi_st_file *f = hsi_st_open(dst, err, sizeof err);
        if (!f) {
            CHECK_MSG(err, "fuzz.safetensors: ");
            continue;
        }
        opened++;
        for (int i = 0; i < hsi_st_count(f); i++) {
            const hsi_st_info *t = hsi_st_at(f, i);
            float *out = malloc((size_t)t->numel * 4 + 4);
            hsi_st_read(f, t->name, t->ndim, t->dims, out, err, sizeof err);
            free(out);
        }
        hsi_st_close(f);
    }
    CHECK(opened > 0);
}

/* Interop halves: "write" makes the file st_interop.py checks; "check" verifies the file
 * st_interop.py wrote: tensors a [2,3] = i*0.25-3 and b [4] = 1/(i+1), metadata from="torch". */
static int interop(const char *mode, const char *path)
{
    char err[512];
    if (!strcmp(mode, "write")) {
        float w[24], b[5];
        hsi_param ps[2];
        make_params(ps, w, b);
        hsi_st_meta meta = { "from", "hsicc" };
        if (hsi_st_save_params(path, ps, 2, &meta, 1, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        return 0;
    }
    hsi_st_file *f = hsi_st_open(path, err, sizeof err);
    if (!f) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const int64_t da[2] = { 2, 3 }, db[1] = { 4 };
    float a[6], b[4];
    CHECK(hsi_st_read(f, "a", 2, da, a, err, sizeof err) == 0);
    CHECK(hsi_st_read(f, "b", 1, db, b, err, sizeof err) == 0);
    for (int i = 0; i < 6; i++) CHECK(a[i] == value_of(0, i));
    for (int i = 0; i < 4; i++) CHECK(b[i] == value_of(1, i));
    CHECK(hsi_st_metadata(f, "from") && !strcmp(hsi_st_metadata(f, "from"), "torch"));
    hsi_st_close(f);
    CHECK_DONE();
}

int main(int argc, char **argv)
{
    if (argc == 3)
        return interop(argv[1], argv[2]);
    snprintf(dir, sizeof dir, "%s", argc > 1 ? argv[1] : "tmp_safetensors");
    char err[512];
    if (hsi_mkdirs(dir, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    test_roundtrip();
    test_bad_files();
    test_fuzz();
    CHECK_DONE();
}
