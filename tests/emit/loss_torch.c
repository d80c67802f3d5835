/* loss_torch.c — one training step of an emitted multi-loss net, written out for PyTorch.
 *
 * Built with -DNET=<stem>_net. `loss_torch BACKEND OUT.safetensors` (BACKEND ref or dnnl):
 * seeded parameters (uniform within +-1/sqrt(fan_in); BN gamma near 1), a normal input batch and
 * labels (a label window per sample for a per-pixel loss, with some -1, unlabelled), then
 * forward (training mode) and loss_backward; saves every parameter as "p.<name>", its gradient
 * as "g.<name>", the input "x", the labels "y" (as floats), the classification logits "logits",
 * and the loss in the metadata. tests/emit/loss_torch.py rebuilds the net in PyTorch and
 * compares the loss and every gradient.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsi.h"
#include "hsi_io.h"

extern const hsi_netdesc NET;

enum { N = 6 };

static uint64_t state = 0x9E3779B97F4A7C15ull;
static double uniform(void)   /* [0, 1) */
{
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(state >> 11) / 9007199254740992.0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: loss_torch ref|dnnl OUT.safetensors\n");
        return 2;
    }
    char err[512] = "";
    hsi_model_opts o = {N, strcmp(argv[1], "dnnl") ? HSI_BACKEND_REF : HSI_BACKEND_DNNL, 7};
    hsi_model *m = NET.create(&o, err, sizeof err);
    if (!m) {
        fprintf(stderr, "loss_torch: %s\n", err);
        return strstr(err, "not built in") ? 77 : 1;
    }
    hsi_param *p;
    int np = NET.params(m, &p);
    for (int i = 0; i < np; i++) {
        double a = 1.0 / sqrt(p[i].init.fan_in > 0 ? (double)p[i].init.fan_in : 1.0);
        for (int64_t k = 0; k < p[i].numel; k++) {
            double u = 2 * uniform() - 1;
            p[i].value[k] = (float)(p[i].role == HSI_ROLE_BN_GAMMA ? 1 + 0.2 * u
                                    : p[i].role == HSI_ROLE_BN_VAR ? 1 + 0.5 * fabs(u) : a * u);
        }
    }
    const hsi_domain *d = &NET.domains[0];
    int64_t per = 1, lp = d->label_patch ? (int64_t)d->label_patch * d->label_patch : 1;
    for (int k = 0; k < d->ndim; k++) per *= d->in_dims[k];
    float *x = malloc(sizeof *x * (size_t)(N * per)), *yf = malloc(sizeof *yf * (size_t)(N * lp));
    int32_t *y = malloc(sizeof *y * (size_t)(N * lp));
    float *logits = malloc(sizeof *logits * (size_t)(N * d->classes));
    hsi_st_tensor *ts = calloc((size_t)(2 * np + 3), sizeof *ts);
    if (!x || !yf || !y || !logits || !ts) return 1;
    for (int64_t k = 0; k < N * per; k++) {   /* Box-Muller */
        double u = uniform() + 1e-12, v = uniform();
        x[k] = (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
    }
    for (int64_t k = 0; k < N * lp; k++) {
        y[k] = lp > 1 && uniform() < 0.25 ? -1 : (int32_t)(uniform() * d->classes);
        yf[k] = (float)y[k];
    }
    NET.zero_grad(m);
    NET.forward(m, 0, x, N, 1, 3);
    memcpy(logits, NET.logits(m, 0), sizeof *logits * (size_t)(N * d->classes));
    float loss = NET.loss_backward(m, 0, y, N, 1.0f);
    int nt = 0;
    char (*names)[256] = calloc((size_t)(2 * np), sizeof *names);
    if (!names) return 1;
    for (int i = 0; i < np; i++)
        for (int g = 0; g < 2; g++) {
            if (g && !p[i].grad) continue;
            snprintf(names[nt], sizeof names[nt], "%s.%s", g ? "g" : "p", p[i].name);
            ts[nt] = (hsi_st_tensor){names[nt], p[i].ndim, {0}, g ? p[i].grad : p[i].value};
            memcpy(ts[nt].dims, p[i].dims, sizeof(int64_t) * (size_t)p[i].ndim);
            nt++;
        }
    ts[nt] = (hsi_st_tensor){"x", d->ndim + 1, {N}, x};
    memcpy(ts[nt++].dims + 1, d->in_dims, sizeof(int64_t) * (size_t)d->ndim);
    ts[nt++] = lp > 1 ? (hsi_st_tensor){"y", 3, {N, d->label_patch, d->label_patch}, yf}
                      : (hsi_st_tensor){"y", 1, {N}, yf};
    ts[nt++] = (hsi_st_tensor){"logits", 2, {N, d->classes}, logits};
    char lt[32];
    snprintf(lt, sizeof lt, "%.9g", loss);
    hsi_st_meta meta[1] = {{"loss", lt}};
    if (hsi_st_save(argv[2], ts, nt, meta, 1, err, sizeof err)) {
        fprintf(stderr, "loss_torch: %s\n", err);
        return 1;
    }
    printf("loss %s, %d tensors\n", lt, nt);
    NET.destroy(m);
    free(x), free(y), free(yf), free(logits), free(ts), free(names);
    return 0;
}
