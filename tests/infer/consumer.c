/* consumer.c — a program a user would write against an inference module (hsicc build --infer),
 * compiled out of the tree with the module's own hsirt/ only. It classifies the cube that
 * `TRAINER predict --save-cube` wrote and compares with that predict's pred.npy:
 *
 *   consumer WEIGHTS|- cube.npy pred.npy onednn(0|1) scene|patches PAD
 * scene: every pixel through <net>_classify_scene; patches: 97 pixels spread over the scene,
 * their patches cut here (padding PAD: 0 zero, 1 reflect, 2 replicate) through
 * <net>_classify_patches. Prints the number of pixels that differ; exit 1 if any.
 * Built with -DSTEM=<net> -DHEADER='"<net>_infer.h"'.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include HEADER

#define PASTE2(a, b) a##b
#define PASTE(a, b) PASTE2(a, b)
#define API(x) PASTE(STEM, x)

/* A little-endian .npy of float32 or int32 (C order): its data and up to 3 dims. */
static void *read_npy(const char *path, int64_t *dims, int *nd)
{
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    if (!f || fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        fprintf(stderr, "consumer: %s: not a .npy file\n", path);
        exit(1);
    }
    size_t hl = pre[8] | (size_t)pre[9] << 8;
    char hdr[4096] = {0};
    if (pre[6] != 1 || hl >= sizeof hdr || fread(hdr, 1, hl, f) != hl) exit(1);
    char *s = strstr(hdr, "'shape': (");
    if (!s || strstr(hdr, "True")) exit(1);   /* fortran order: not written by hsicc */
    s += 10;
    int64_t n = 1;
    for (*nd = 0; *s && *s != ')'; (*nd)++) {
        dims[*nd] = strtoll(s, &s, 10);
        n *= dims[*nd];
        while (*s == ',' || *s == ' ') s++;
    }
    void *data = malloc((size_t)n * 4);
    if (!data || fread(data, 4, (size_t)n, f) != (size_t)n) exit(1);
    fclose(f);
    return data;
}

static int pad_index(int i, int n, int pad)
{
    if (i >= 0 && i < n) return i;
    if (pad == 0) return -1;
    if (pad == 2) return i < 0 ? 0 : n - 1;
    if (n == 1) return 0;
    int period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: consumer WEIGHTS|- cube.npy pred.npy onednn scene|patches PAD\n");
        return 2;
    }
    char err[1024] = "";
    int64_t cd[3], pd[3];
    int cn, pn;
    float *cube = read_npy(argv[2], cd, &cn);
    int32_t *pred = read_npy(argv[3], pd, &pn);
    int bands, classes, patch, pad = atoi(argv[6]);
    API(_shape)(0, &bands, &classes, &patch);
    int h = (int)cd[1], w = (int)cd[2];
    if (cn != 3 || cd[0] != bands || pn != 2 || pd[0] != h || pd[1] != w) {
        fprintf(stderr, "consumer: cube [%lld,%lld,%lld] / pred do not fit the model (%d bands)\n",
                (long long)cd[0], (long long)cd[1], (long long)cd[2], bands);
        return 1;
    }
    API(_model) *m = API(_create)(strcmp(argv[1], "-") ? argv[1] : NULL, atoi(argv[4]), err, sizeof err);
    if (!m) {
        fprintf(stderr, "consumer: %s\n", err);
        return 1;
    }
    int64_t differ = 0, n = 0;
    if (!strcmp(argv[5], "scene")) {
        int32_t *cls = malloc(sizeof *cls * (size_t)h * w);
        if (API(_classify_scene)(m, 0, cube, h, w, pad, cls, NULL, err, sizeof err)) {
            fprintf(stderr, "consumer: %s\n", err);
            return 1;
        }
        for (n = 0; n < (int64_t)h * w; n++) differ += cls[n] != pred[n];
        free(cls);
    } else {
        int np = 97, p = patch, half = p / 2;
        float *x = calloc((size_t)np * bands * p * p, sizeof *x), *z = malloc(sizeof *z * (size_t)np * classes);
        int64_t *px = malloc(sizeof *px * (size_t)np);
        for (int k = 0; k < np; k++) {
            px[k] = (int64_t)k * ((int64_t)h * w - 1) / (np - 1);
            int r = (int)(px[k] / w), c = (int)(px[k] % w);
            for (int b = 0; b < bands; b++)
                for (int i = 0; i < p; i++)
                    for (int j = 0; j < p; j++) {
                        int rr = pad_index(r - half + i, h, pad), cc = pad_index(c - half + j, w, pad);
                        x[(((size_t)k * bands + b) * p + i) * p + j] =
                            rr < 0 || cc < 0 ? 0.0f : cube[((size_t)b * h + rr) * w + cc];
                    }
        }
        if (API(_classify_patches)(m, 0, x, np, z, err, sizeof err)) {
            fprintf(stderr, "consumer: %s\n", err);
            return 1;
        }
        for (n = 0; n < np; n++) {
            int best = 0;
            for (int j = 1; j < classes; j++)
                if (z[n * classes + j] > z[n * classes + best]) best = j;
            differ += best != pred[px[n]];
        }
        free(x), free(z), free(px);
    }
    printf("consumer (%s, %s): %lld of %lld pixels differ from predict\n", argv[5],
           atoi(argv[4]) ? "oneDNN" : "reference kernels", (long long)differ, (long long)n);
    API(_destroy)(m);
    free(cube), free(pred);
    return differ ? 1 : 0;
}
