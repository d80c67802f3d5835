/* misuse.c — the inference module's C API (hsicc emit --infer) given what its header documents
 * as errors: NULL model / cube / outputs, h or w < 1 (or too large to pad, or a cube or patch count
 * whose size overflows 64 bits), a negative count, an unknown domain, a
 * too-small or absent error buffer, a NaN / Inf in the input, an empty weights path. Each call must return -1 (or NULL) with a message, never
 * crash, and the model must still work afterwards. Built against the bad corpus's tiny net
 * (tests/bad/cases/commands.cases, infer-module-misuse):
 *   misuse WEIGHTS [NAN_WEIGHTS]   exit 0 and "all misuses refused", else 1 (NAN_WEIGHTS:
 *   weights whose bn0.weight holds a NaN, which create must refuse naming the tensor) */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tiny_infer.h"

static int bad;

static void expect(const char *what, int rc, const char *err)
{
    printf("%-34s rc %d: %s\n", what, rc, err);
    if (rc != -1 || !err[0]) bad = 1;
}

int main(int argc, char **argv)
{
    char err[512] = "";
    if (tiny_create("/nonexistent.safetensors", 0, NULL, 0) || tiny_create(NULL, 0, err, 8)) {
        printf("create: a missing weights file was accepted\n");   /* (no weights embedded) */
        return 1;
    }
    printf("%-34s '%s'\n", "create: no weights, 8-byte buffer", err);
    /* an empty path was not shown: ": cannot open: No such file or directory" */
    if (tiny_create("", 0, err, sizeof err) || !strstr(err, "'' (empty path)")) {
        printf("create(\"\"): '%s', not named as an empty path\n", err);
        return 1;
    }
    printf("%-34s '%s'\n", "create: empty path", err);
    /* weights with a NaN: refused at create, naming the file and the tensor */
    if (argc > 2) {
        if (tiny_create(argv[2], 0, err, sizeof err) || !strstr(err, "tensor 'bn0.weight'")) {
            printf("create(NaN weights): '%s', the tensor not named\n", err);
            return 1;
        }
        printf("%-34s '%s'\n", "create: a NaN in the weights", err);
    }
    tiny_model *m = tiny_create(argc > 1 ? argv[1] : NULL, 0, err, sizeof err);
    if (!m) return printf("create: %s\n", err), 1;
    int bands, classes, patch;
    tiny_shape(0, &bands, &classes, &patch);
    float cube[6 * 4 * 5] = {0}, x[6 * 3 * 3] = {0}, z[3];
    int32_t cls[4 * 5];
    err[0] = 0;
    expect("scene: model NULL", tiny_classify_scene(NULL, 0, cube, 4, 5, 0, cls, NULL, err, sizeof err), err);
    err[0] = 0;
    expect("scene: cube NULL", tiny_classify_scene(m, 0, NULL, 4, 5, 0, cls, NULL, err, sizeof err), err);
    err[0] = 0;
    expect("scene: classes and logits NULL", tiny_classify_scene(m, 0, cube, 4, 5, 0, NULL, NULL, err, sizeof err), err);
    err[0] = 0;
    expect("scene: h 0", tiny_classify_scene(m, 0, cube, 0, 5, 0, cls, NULL, err, sizeof err), err);
    err[0] = 0;
    expect("scene: w -1", tiny_classify_scene(m, 0, cube, 4, -1, 0, cls, NULL, err, sizeof err), err);
    err[0] = 0;   /* padded for the patch, 2^31 - 2 columns overflowed int (checked before the cube is read) */
    expect("scene: w 2^31 - 2", tiny_classify_scene(m, 0, cube, 1, 2147483646, 0, cls, NULL, err, sizeof err), err);
    if (!strstr(err, "rows or columns")) bad = 1;
    err[0] = 0;   /* 6 bands x h x w floats past 64 bits: bands * h * w overflowed (UB) in the
                   * NaN scan, or the buffers past memory were allocated (the kernel overcommits) */
    expect("scene: h, w 2^31 - 10", tiny_classify_scene(m, 0, cube, 2147483637, 2147483637, 0, cls, NULL, err, sizeof err), err);
    if (!strstr(err, "a 2147483637 x 2147483637 cube of 6 bands: its size overflows 64 bits")) bad = 1;
    err[0] = 0;
    expect("scene: domain 1", tiny_classify_scene(m, 1, cube, 4, 5, 0, cls, NULL, err, sizeof err), err);
    err[0] = 0;
    expect("patches: model NULL", tiny_classify_patches(NULL, 0, x, 1, z, err, sizeof err), err);
    err[0] = 0;
    expect("patches: x NULL", tiny_classify_patches(m, 0, NULL, 1, z, err, sizeof err), err);
    err[0] = 0;
    expect("patches: logits NULL", tiny_classify_patches(m, 0, x, 1, NULL, err, sizeof err), err);
    err[0] = 0;
    expect("patches: n -1", tiny_classify_patches(m, 0, x, -1, z, err, sizeof err), err);
    err[0] = 0;   /* n * 54 floats overflowed int64 (UB), then the reads ran off x */
    expect("patches: n 2^61", tiny_classify_patches(m, 0, x, (int64_t)1 << 61, z, err, sizeof err), err);
    if (!strstr(err, "2305843009213693952 patches of 54 floats: their size overflows 64 bits")) bad = 1;
    char tiny_err[4] = "";   /* a too-small buffer: truncated, terminated */
    int rc = tiny_classify_patches(m, 0, NULL, 1, z, tiny_err, sizeof tiny_err);
    printf("%-34s rc %d: '%s'\n", "patches: 4-byte error buffer", rc, tiny_err);
    if (rc != -1 || strlen(tiny_err) != 3) bad = 1;
    rc = tiny_classify_patches(m, 0, NULL, 1, z, NULL, 0);   /* no buffer at all */
    printf("%-34s rc %d\n", "patches: err NULL, errlen 0", rc);
    if (rc != -1) bad = 1;
    int b2 = 7, k2 = 7, p2 = 7;
    tiny_shape(5, &b2, &k2, &p2);   /* a domain it does not have: 0s, not domain 0's */
    printf("%-34s %d %d %d\n", "shape of domain 5", b2, k2, p2);
    if (b2 || k2 || p2) bad = 1;
    /* a NaN in the input was classified silently (relu turned it into 0, or its NaN logits argmax
     * said class 0) */
    cube[2 * 20 + 7] = 0.0f / 0.0f;
    err[0] = 0;
    expect("scene: a NaN in the cube", tiny_classify_scene(m, 0, cube, 4, 5, 0, cls, NULL, err, sizeof err), err);
    if (!strstr(err, "cube band 2 (element 7 of it) is NaN")) bad = 1;
    cube[2 * 20 + 7] = 0.0f;
    x[4] = 1.0f / 0.0f;
    err[0] = 0;
    expect("patches: an Inf in the patch", tiny_classify_patches(m, 0, x, 1, z, err, sizeof err), err);
    if (!strstr(err, "patch 0 (element 4 of it) is Inf")) bad = 1;
    x[4] = 0.0f;
    /* and the API still works after all that */
    rc = tiny_classify_scene(m, 0, cube, 4, 5, 0, cls, NULL, err, sizeof err);
    printf("%-34s rc %d\n", "scene: a good call", rc);
    if (rc != 0 || bands != 6 || classes != 3 || patch != 3) bad = 1;
    tiny_destroy(m);
    tiny_destroy(NULL);
    printf(bad ? "FAILED\n" : "all misuses refused\n");
    return bad;
}
