/* patches.c — an inference module's <net>_classify_patches on the samples of an .npy, logits out
 * (tests/onnx/run_tests.py compares them with the trainer's forward on the same samples):
 *
 *   patches WEIGHTS X.npy OUT.npy ONEDNN(0|1) DOMAIN
 * X: float32 [n, per-sample input dims] (C order, little-endian, as numpy saves it); OUT:
 * float32 [n, classes]. Exit 0, 1 on an error (its message on stderr), 2 usage.
 * Built with -DSTEM=<stem> -DHEADER='"<stem>_infer.h"'.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include HEADER

#define PASTE2(a, b) a##b
#define PASTE(a, b) PASTE2(a, b)
#define API(x) PASTE(STEM, x)

static int die(const char *what, const char *detail)
{
    fprintf(stderr, "patches: %s%s\n", what, detail);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: patches WEIGHTS X.npy OUT.npy ONEDNN DOMAIN\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    unsigned char pre[10];
    if (!f || fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) || pre[6] != 1)
        return die(argv[2], ": not a version 1 .npy file");
    size_t hl = pre[8] | (size_t)pre[9] << 8;
    char hdr[4096] = {0};
    char *s = hl < sizeof hdr && fread(hdr, 1, hl, f) == hl ? strstr(hdr, "'shape': (") : NULL;
    if (!s || !strstr(hdr, "'<f4'") || strstr(hdr, "True")) return die(argv[2], ": not float32 in C order");
    s += 10;
    int64_t n = strtoll(s, &s, 10), per = 1;
    while (*s == ',' || *s == ' ') s++;
    while (*s && *s != ')') {
        per *= strtoll(s, &s, 10);
        while (*s == ',' || *s == ' ') s++;
    }
    float *x = malloc(sizeof *x * (size_t)(n * per));
    if (!x || fread(x, sizeof *x, (size_t)(n * per), f) != (size_t)(n * per)) return die(argv[2], ": short");
    fclose(f);
    int domain = atoi(argv[5]), bands, classes, patch;
    API(_shape)(domain, &bands, &classes, &patch);
    char err[1024] = "";
    API(_model) *m = API(_create)(argv[1], atoi(argv[4]), err, sizeof err);
    float *z = malloc(sizeof *z * (size_t)(n * (classes ? classes : 1)));
    if (!m || !z || API(_classify_patches)(m, domain, x, n, z, err, sizeof err)) return die(err, "");
    FILE *o = fopen(argv[3], "wb");
    char head[128];
    int k = snprintf(head, sizeof head, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %d), }",
                     (long long)n, classes);
    while ((10 + k + 1) % 64) head[k++] = ' ';
    head[k++] = '\n';
    unsigned char len[2] = {(unsigned char)(k & 255), (unsigned char)(k >> 8)};
    if (!o || fwrite("\x93NUMPY\x01\x00", 1, 8, o) != 8 || fwrite(len, 1, 2, o) != 2
        || fwrite(head, 1, (size_t)k, o) != (size_t)k
        || fwrite(z, sizeof *z, (size_t)(n * classes), o) != (size_t)(n * classes) || fclose(o))
        return die(argv[3], ": cannot write");
    API(_destroy)(m);
    free(x), free(z);
    return 0;
}
