/* fuzz_readers.c — a libFuzzer target for the runtime's readers of files users hand the
 * trainers: .npy, .mat (matio), safetensors (weights and checkpoints), ENVI headers and data
 * (whole and by rows), dataset registries, experiment YAML, JSON (metrics, sweep records) and
 * ENVI georeferences. HSI_FUZZ_TARGET picks one (npy, mat, st, weights, envi, registry,
 * experiment, json, georef); fuzz.sh builds it with ASan + UBSan and runs it. A reader may
 * refuse any input; it must not crash, read or write out of bounds, leak its way to the
 * memory limit or hang.
 * Built with -DHSI_FUZZ_REPLAY (no libFuzzer; tests/fuzz_io/CMakeLists.txt), it runs given
 * files through the target named by each file's folder (crashers/npy/x: npy), once each: the
 * fixed crashers and the seeds as a regression test, under any build (ASan in
 * `./hsi test --sanitize`).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsi.h"
#include "hsi_config.h"
#include "hsi_data.h"
#include "hsi_geo.h"
#include "hsi_io.h"
#include "hsi_trainer.h"

static char dir[64];
static const char *target = "npy";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *t = getenv("HSI_FUZZ_TARGET");
    if (t && *t) target = t;
    snprintf(dir, sizeof dir, "/tmp/hsi-fuzz-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    return 0;
}

static const char *put(const char *name, const void *bytes, size_t n)
{
    static char path[2][128];
    static int k;
    char *p = path[k++ & 1];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || (n && fwrite(bytes, 1, n, f) != n) || fclose(f)) {
        perror(p);
        exit(1);
    }
    return p;
}

/* the input as a NUL-terminated string (texts; the readers get the length too) */
static char *text_of(const uint8_t *data, size_t size)
{
    char *t = malloc(size + 1);
    if (!t) exit(1);
    memcpy(t, data, size);
    t[size] = 0;
    return t;
}

static void fuzz_npy(const uint8_t *data, size_t size)
{
    const char *p = put("x.npy", data, size);
    char err[512];
    for (int want = HSI_DT_F32; want <= HSI_DT_I8; want++) {
        hsi_array a;
        memset(&a, 0, sizeof a);
        if (hsi_npy_read(p, (hsi_dtype)want, &a, err, sizeof err) == 0) hsi_array_free(&a);
    }
    hsi_cube c;
    hsi_labels l;
    if (hsi_cube_read(p, NULL, &c, err, sizeof err) == 0) hsi_cube_free(&c);
    if (hsi_labels_read(p, NULL, &l, err, sizeof err) == 0) hsi_labels_free(&l);
}

static void fuzz_mat(const uint8_t *data, size_t size)
{
    const char *p = put("x.mat", data, size);
    char err[512];
    hsi_cube c;
    hsi_labels l;
    if (hsi_cube_read(p, NULL, &c, err, sizeof err) == 0) hsi_cube_free(&c);
    if (hsi_labels_read(p, NULL, &l, err, sizeof err) == 0) hsi_labels_free(&l);
    if (hsi_labels_read(p, "gt", &l, err, sizeof err) == 0) hsi_labels_free(&l);
}

static void fuzz_st(const uint8_t *data, size_t size)
{
    const char *p = put("x.safetensors", data, size);
    char err[512];
    hsi_st_file *f = hsi_st_open(p, err, sizeof err);
    if (!f) return;
    (void)hsi_st_metadata(f, "format");
    for (int i = 0; i < hsi_st_count(f); i++) {
        const hsi_st_info *in = hsi_st_at(f, i);
        if (in->numel > (1 << 20) || in->ndim > HSI_ST_MAXDIM) continue;
        float *v = malloc((size_t)(in->numel ? in->numel : 1) * sizeof *v);
        if (!v) break;
        (void)hsi_st_read(f, in->name, in->ndim, in->dims, v, err, sizeof err);
        free(v);
        (void)hsi_st_find(f, in->name);
    }
    hsi_st_close(f);
}

/* a checkpoint's weights loaded into a small net's parameters (names, shapes, dtypes checked) */
static void fuzz_weights(const uint8_t *data, size_t size)
{
    const char *p = put("w.safetensors", data, size);
    char err[512];
    float w[12], b[4], rm[4];
    hsi_param ps[3];
    memset(ps, 0, sizeof ps);
    ps[0] = (hsi_param){.name = "conv.weight", .ndim = 2, .dims = {4, 3}, .numel = 12, .value = w};
    ps[1] = (hsi_param){.name = "conv.bias", .ndim = 1, .dims = {4}, .numel = 4, .value = b};
    ps[2] = (hsi_param){.name = "bn.running_mean", .ndim = 1, .dims = {4}, .numel = 4, .value = rm};
    (void)hsi_ckpt_load_weights(p, ps, 3, err, sizeof err);
}

/* the header up to the first NUL byte, the data file after it */
static void fuzz_envi(const uint8_t *data, size_t size)
{
    const uint8_t *z = memchr(data, 0, size);
    size_t nh = z ? (size_t)(z - data) : size;
    const char *hdr = put("x.hdr", data, nh);
    put("x.img", z ? z + 1 : data, z ? size - nh - 1 : 0);
    char err[512];
    hsi_cube c;
    if (hsi_cube_read(hdr, NULL, &c, err, sizeof err) == 0) hsi_cube_free(&c);
    hsi_envi_stream *s = hsi_envi_open(hdr, err, sizeof err);
    if (!s) return;
    int h, w, nb;
    hsi_envi_dims(s, &h, &w, &nb);
    (void)hsi_envi_warning(s);
    (void)hsi_envi_georef(s);
    if ((int64_t)w * nb <= (1 << 16) && (int64_t)h * w * nb <= (1 << 20)) {
        float *rows = malloc((size_t)w * (size_t)nb * 2 * sizeof *rows);
        uint8_t *nd = malloc((size_t)w * 2);
        double *mean = malloc((size_t)nb * sizeof *mean), *sd = malloc((size_t)nb * sizeof *sd);
        for (int r = 0; rows && nd && r < h; r += 2)
            if (hsi_envi_read_rows(s, r, h - r < 2 ? h - r : 2, rows, nd, err, sizeof err)) break;
        if (mean && sd) (void)hsi_envi_band_stats(s, mean, sd, NULL, NULL, err, sizeof err);
        free(rows);
        free(nd);
        free(mean);
        free(sd);
    }
    hsi_envi_close(s);
}

static void fuzz_registry(const uint8_t *data, size_t size)
{
    char err[512];
    hsi_registry *reg = hsi_registry_load(NULL, err, sizeof err);
    if (!reg) {
        fprintf(stderr, "built-in registry: %s\n", err);
        abort();
    }
    char *t = text_of(data, size);
    if (hsi_registry_add_yaml(reg, t, size, "fuzz.yaml", err, sizeof err) == 0) {
        (void)hsi_registry_find(reg, "SalinasA");
        (void)hsi_registry_find(reg, "x");
    }
    free(t);
    hsi_registry_free(reg);
}

static void fuzz_experiment(const uint8_t *data, size_t size)
{
    static hsi_registry *reg;
    char err[512];
    if (!reg && !(reg = hsi_registry_load(NULL, err, sizeof err))) abort();
    char *t = text_of(data, size);
    hsi_experiment_opts o = {put("x.yaml", data, size), NULL, 0, -1, reg};
    hsi_experiment *x = hsi_experiment_load_text(t, size, o.path, &o, err, sizeof err);
    if (x) {
        char *y = hsi_experiment_to_yaml(x, err, sizeof err);
        if (y) {   /* what the trainer saves must load again */
            hsi_experiment *x2 = hsi_experiment_load_text(y, strlen(y), o.path, &o, err, sizeof err);
            if (!x2) {
                fprintf(stderr, "the saved experiment does not load again: %s\n%s\n", err, y);
                abort();
            }
            hsi_experiment_free(x2);
            free(y);
        }
        (void)hsi_experiment_run_seed(x, 0);
        hsi_experiment_free(x);
    }
    free(t);
}

static void fuzz_json(const uint8_t *data, size_t size)
{
    char err[512];
    char *t = text_of(data, size);
    hsi_jval *v = hsi_json_parse(t, size, err, sizeof err);
    if (v) {
        (void)hsi_jval_get(v, "OA");
        hsi_jval_free(v);
    }
    free(t);
}

/* 'map info' up to the first NUL byte, 'coordinate system string' after it */
static void fuzz_georef(const uint8_t *data, size_t size)
{
    char *t = text_of(data, size);
    char *cs = memchr(t, 0, size);
    hsi_georef g;
    char warn[512];
    memset(&g, 0, sizeof g);
    hsi_georef_from_envi(t, cs && cs < t + size ? cs + 1 : NULL, &g, warn, sizeof warn);
    hsi_georef g2;
    char err[256];
    if (hsi_georef_copy(&g2, &g, err, sizeof err) == 0) hsi_georef_free(&g2);
    hsi_georef_free(&g);
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        const char *name;
        void (*fn)(const uint8_t *, size_t);
    } targets[] = {{"npy", fuzz_npy},           {"mat", fuzz_mat},
                   {"st", fuzz_st},             {"weights", fuzz_weights},
                   {"envi", fuzz_envi},         {"registry", fuzz_registry},
                   {"experiment", fuzz_experiment}, {"json", fuzz_json},
                   {"georef", fuzz_georef}};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (!strcmp(target, targets[i].name)) {
            targets[i].fn(data, size);
            return 0;
        }
    fprintf(stderr, "HSI_FUZZ_TARGET=%s: no such target\n", target);
    abort();
}

#ifdef HSI_FUZZ_REPLAY
#include <libgen.h>

int main(int argc, char **argv)
{
    char *copy = NULL;
    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        size_t cap = 1 << 16, n = 0;
        uint8_t *b = malloc(cap);
        for (size_t got; b && (got = fread(b + n, 1, cap - n, f)) > 0;)
            if ((n += got) == cap) b = realloc(b, cap *= 2);
        fclose(f);
        if (!b) return 1;
        free(copy);
        if (!(copy = strdup(argv[i]))) return 1;
        target = basename(dirname(copy));   /* the folder's name, in copy */
        LLVMFuzzerTestOneInput(b, n);
        printf("ok %s (%s, %zu bytes)\n", argv[i], target, n);
        free(b);
    }
    char cmd[128];
    free(copy);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) != 0;
}
#endif
