/* test_npy.c — .npy: round trips of the writer (f32, i32, i8; header aligned to 64 bytes as
 * numpy writes it), files crafted byte by byte here (big-endian, Fortran order, uint8, uint64,
 * bool, float64, format 2.0), a cube and a gt through hsi_cube_read / hsi_labels_read, and the
 * error messages. */
#include "tdata.h"

#include "hsi_data.h"
#include "tread16.h"

/* Writes a .npy with the given header dict and raw data bytes (format major version ver). */
static void craft(const char *path, int ver, const char *dict, const void *data, size_t n)
{
    char hdr[256];
    size_t pre = ver == 1 ? 10 : 12;
    int m = snprintf(hdr, sizeof hdr, "%s", dict);
    size_t total = pre + (size_t)m + 1, pad = (16 - total % 16) % 16;
    memset(hdr + m, ' ', pad);
    hdr[m + pad] = '\n';
    size_t hlen = (size_t)m + pad + 1;
    FILE *f = fopen(path, "wb");
    fwrite("\x93NUMPY", 1, 6, f);
    fputc(ver, f);
    fputc(0, f);
    for (size_t k = 0; k < pre - 8; k++)
        fputc((int)((hlen >> (8 * k)) & 0xff), f);
    fwrite(hdr, 1, hlen, f);
    fwrite(data, 1, n, f);
    fclose(f);
}

int main(void)
{
    char dir[64], cmd[128], path[256], err[1024];
    t_tmpdir(dir, sizeof dir);

    /* Round trips. */
    float fv[24];
    int32_t iv[6] = {-2147483647 - 1, -1, 0, 1, 7, 2147483647};
    int8_t bv[5] = {-128, -1, 0, 3, 127};
    for (int i = 0; i < 24; i++)
        fv[i] = (float)i * 0.5f - 3.25f;
    hsi_array a = {.ndim = 3, .dims = {2, 3, 4}, .dtype = HSI_DT_F32, .data = fv}, b;
    snprintf(path, sizeof path, "%s/f.npy", dir);
    CHECK(hsi_npy_write(path, &a, err, sizeof err) == 0);
    FILE *f = fopen(path, "rb");
    unsigned char h[10];
    CHECK(fread(h, 1, 10, f) == 10);
    fclose(f);
    CHECK_EQ((10 + (h[8] | h[9] << 8)) % 64, 0);
    CHECK(hsi_npy_read(path, HSI_DT_F32, &b, err, sizeof err) == 0);
    CHECK(b.ndim == 3 && b.dims[0] == 2 && b.dims[1] == 3 && b.dims[2] == 4 && b.dtype == HSI_DT_F32);
    CHECK(memcmp(b.data, fv, sizeof fv) == 0);
    hsi_array_free(&b);
    a = (hsi_array){.ndim = 1, .dims = {6}, .dtype = HSI_DT_I32, .data = iv};
    snprintf(path, sizeof path, "%s/i.npy", dir);
    CHECK(hsi_npy_write(path, &a, err, sizeof err) == 0);
    CHECK(hsi_npy_read(path, HSI_DT_I32, &b, err, sizeof err) == 0);
    CHECK(b.ndim == 1 && b.dims[0] == 6 && memcmp(b.data, iv, sizeof iv) == 0);
    hsi_array_free(&b);
    CHECK(hsi_npy_read(path, HSI_DT_I8, &b, err, sizeof err) == -1);   /* out of int8 range */
    CHECK_HAS(err, "not an integer in [-128, 127]");
    a = (hsi_array){.ndim = 2, .dims = {1, 5}, .dtype = HSI_DT_I8, .data = bv};
    snprintf(path, sizeof path, "%s/b.npy", dir);
    CHECK(hsi_npy_write(path, &a, err, sizeof err) == 0);
    CHECK(hsi_npy_read(path, HSI_DT_I32, &b, err, sizeof err) == 0);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(((int32_t *)b.data)[i], bv[i]);
    hsi_array_free(&b);

    /* Big-endian int16, Fortran order, shape (3, 4): element (r, c) = 10 r + c - 5 is stored
     * at position r + 3 c, high byte first. */
    unsigned char be[24];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) {
            int16_t v = (int16_t)(10 * r + c - 5);
            uint16_t u = (uint16_t)v;
            be[2 * (r + 3 * c)] = (unsigned char)(u >> 8);
            be[2 * (r + 3 * c) + 1] = (unsigned char)(u & 0xff);
        }
    snprintf(path, sizeof path, "%s/be.npy", dir);
    craft(path, 1, "{'descr': '>i2', 'fortran_order': True, 'shape': (3, 4), }", be, sizeof be);
    hsi_labels l;
    CHECK(hsi_labels_read(path, NULL, &l, err, sizeof err) == 0);
    CHECK(l.h == 3 && l.w == 4);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            CHECK_EQ(l.gt[r * 4 + c], 10 * r + c - 5);
    hsi_labels_free(&l);

    /* Format 2.0, little-endian float64 cube (h 2, w 3, bands 2), C order: (r, c, b) at
     * (r * 3 + c) * 2 + b, value r + 0.1 c + 0.01 b. */
    double dv[12];
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 2; k++)
                dv[(r * 3 + c) * 2 + k] = r + 0.1 * c + 0.01 * k;
    snprintf(path, sizeof path, "%s/cube.npy", dir);
    craft(path, 2, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 2), }", dv, sizeof dv);
    hsi_cube cb;
    CHECK(hsi_cube_read(path, NULL, &cb, err, sizeof err) == 0);
    CHECK(cb.h == 2 && cb.w == 3 && cb.bands == 2);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 2; k++)
                CHECK(cb.data[(k * 2 + r) * 3 + c] == (float)(r + 0.1 * c + 0.01 * k));
    hsi_cube_free(&cb);

    /* 16- and 8-bit cubes in C and Fortran order, either endianness (13 x 7 x 3), read16. */
    static const struct { const char *descr; int es; } c16[] = {
        {"<i2", 2}, {">i2", 2}, {"<u2", 2}, {">u2", 2}, {"|u1", 1}, {"|i1", 1}, {"<i4", 4}};
    for (size_t k = 0; k < sizeof c16 / sizeof *c16; k++)
        for (int fo = 0; fo < 2; fo++) {
            unsigned char raw[13 * 7 * 3 * 4];
            for (int i = 0; i < 13 * 7 * 3; i++) {   /* any bytes: every value is valid */
                for (int j = 0; j < c16[k].es; j++)
                    raw[i * c16[k].es + j] = (unsigned char)(i * 37 + j * 101 + 7 * (int)k);
            }
            char dict[128];
            snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': (13, 7, "
                     "3), }", c16[k].descr, fo ? "True" : "False");
            snprintf(path, sizeof path, "%s/c16_%zu_%d.npy", dir, k, fo);
            craft(path, 1, dict, raw, (size_t)13 * 7 * 3 * c16[k].es);
            t_failures += t_read16(path, NULL, 0);
        }

    /* uint8, uint64 and bool. */
    uint8_t u8[4] = {0, 1, 200, 255};
    snprintf(path, sizeof path, "%s/u8.npy", dir);
    craft(path, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }", u8, 4);
    CHECK(hsi_labels_read(path, NULL, &l, err, sizeof err) == 0);
    CHECK(l.gt[2] == 200 && l.gt[3] == 255);
    hsi_labels_free(&l);
    uint64_t u64[2] = {3, 18446744073709551615ull};
    snprintf(path, sizeof path, "%s/u64.npy", dir);
    craft(path, 1, "{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }", u64, sizeof u64);
    CHECK(hsi_npy_read(path, HSI_DT_F32, &b, err, sizeof err) == 0);
    CHECK(b.ndim == 1 && ((float *)b.data)[0] == 3.0f && ((float *)b.data)[1] == 18446744073709551615.0f);
    hsi_array_free(&b);
    CHECK(hsi_npy_read(path, HSI_DT_I32, &b, err, sizeof err) == -1);
    CHECK_HAS(err, "element 1");
    uint8_t bo[3] = {1, 0, 1};
    snprintf(path, sizeof path, "%s/bool.npy", dir);
    craft(path, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", bo, 3);
    CHECK(hsi_npy_read(path, HSI_DT_I8, &b, err, sizeof err) == 0);
    CHECK(((int8_t *)b.data)[0] == 1 && ((int8_t *)b.data)[1] == 0);
    hsi_array_free(&b);

    /* Errors. */
    snprintf(path, sizeof path, "%s/c8.npy", dir);
    craft(path, 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", fv, 8);
    CHECK(hsi_npy_read(path, HSI_DT_F32, &b, err, sizeof err) == -1);
    CHECK_HAS(err, "c8.npy");
    CHECK_HAS(err, "numeric dtype");
    snprintf(path, sizeof path, "%s/short.npy", dir);
    craft(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 10), }", fv, sizeof fv);
    CHECK(hsi_npy_read(path, HSI_DT_F32, &b, err, sizeof err) == -1);
    CHECK_HAS(err, "too short");
    CHECK_HAS(err, "10 x 10");
    snprintf(path, sizeof path, "%s/magic.npy", dir);
    t_write(path, "w", "PK\003\004 not npy at all");
    CHECK(hsi_npy_read(path, HSI_DT_F32, &b, err, sizeof err) == -1);
    CHECK_HAS(err, "bad magic");
    snprintf(path, sizeof path, "%s/half.npy", dir);
    craft(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", (float[]){1.5f, 2}, 8);
    CHECK(hsi_npy_read(path, HSI_DT_I32, &b, err, sizeof err) == -1);
    CHECK_HAS(err, "1.5");
    CHECK(hsi_cube_read(path, NULL, &cb, err, sizeof err) == -1);
    CHECK_HAS(err, "3-D");

    /* 2^62 x 2^62 x 4 wrapped to 0 elements (and passed for an empty array) before the product
     * was checked; the message quotes the dict without its padding. */
    snprintf(path, sizeof path, "%s/huge.npy", dir);
    craft(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, "
                   "4611686018427387904, 4), }", fv, 8);
    CHECK(hsi_npy_read(path, HSI_DT_F32, &b, err, sizeof err) == -1);
    CHECK_HAS(err, "impossibly large: {'descr'");
    CHECK(err[strlen(err) - 1] == '}');

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return t_done("data.npy");
}
