/* scene.c — the whole-scene inference program of a lowered graph.
 *
 * A patch classifier applied to every pixel of a scene reads p x p windows of the padded scene.
 * An op whose output at patch position (i, j) is, for every patch (r, c), the same function of
 * the scene around (r + i, c + j) can be computed once over the scene and cropped, instead of
 * once per patch. By induction from the input (patch[i] = padded_scene[r + i]), that holds for
 *  - spatially pointwise ops: 1x1 spatial kernels with stride 1 and no spatial padding (any
 *    spectral extent), BN, activations, prelu, lrn and softmax (across channels at one
 *    position), dropout (identity at inference), reshapes that keep the two spatial axes, adds
 *    and concats of such values (a crop is not: it runs per patch);
 *  - valid stride-1 convolutions and pools (output i reads input i .. i + k_eff - 1);
 *  - windows that cover their whole input (output 1x1, any stride): a dense layer on a map, a
 *    pool to 1x1; over the scene they become the same window at stride 1.
 * Every op marked here is PIXEL (pointwise from the input: spatial size still p, computed per
 * scene pixel without any halo), WINDOW (sliding, needs rows of halo) or PATCH (the rest: run per
 * pixel on crops of the scene tensors it reads). The graph is FCN when the logits are not PATCH.
 * It never changes the training graph; the emitter writes the result as a table.
 */
#include <stdio.h>
#include <string.h>

#include "passes/passes.h"

enum { R_PIXEL, R_WINDOW, R_PATCH };

/* Spatial extent (the last two axes) of a per-sample shape; [F] is 1 x 1. */
static void spatial_of(const ir_shape *s, int64_t *h, int64_t *w)
{
    if (s->ndim >= 3) {
        *h = s->d[s->ndim - 2];
        *w = s->d[s->ndim - 1];
    } else {
        *h = *w = 1;
    }
}

/* One spatial axis of a window op: its output extent over the scene in the patch net, or -1 if
 * the op does not slide (padding, a stride over a map it does not cover). */
static int64_t slide(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t plo, int64_t phi)
{
    int64_t keff = (k - 1) * (dil > 0 ? dil : 1) + 1;
    if (plo || phi || keff > in) return -1;
    if (stride == 1) return in - keff + 1;
    if (keff == in) return 1;   /* covers the whole map: the same window at stride 1 */
    return -1;
}

static double conv_flops(const be_op *o, const ir_shape *in)
{
    double per = (double)(in->d[0] / (o->conv.groups > 0 ? o->conv.groups : 1));
    for (int i = 0; i < o->conv.nsp; i++) per *= (double)o->conv.kernel[i];
    return 2.0 * per * (double)be_numel(&o->shape);
}

void scene_mark(be_graph *g)
{
    int64_t p = 1, pw = 1;
    g->flops_patch = g->flops_scene = 0;
    for (int i = 0; i < g->n_ops; i++) {
        be_op *o = &g->ops[i];
        o->region = R_PATCH;
        o->sh = o->sw = 0;
        o->flops = 0;
        if (o->kind == BE_XENT || i > g->logits) continue;   /* losses, other heads */
        const ir_shape *in = o->n_in ? &g->ops[o->in[0]].shape : NULL;
        if (o->kind == BE_CONV) o->flops = conv_flops(o, in);
        if (o->kind == BE_DENSE) o->flops = 2.0 * (double)be_numel(in) * (double)o->dense_out;
        g->flops_patch += o->flops;
        if (o->kind == BE_INPUT) {
            spatial_of(&o->shape, &p, &pw);
            o->region = R_PIXEL;
            o->sh = (int)p;
            o->sw = (int)pw;
            continue;
        }
        int all_pixel = 1, scene = o->n_in > 0;
        for (int j = 0; j < o->n_in; j++) {
            const be_op *q = &g->ops[o->in[j]];
            if (q->region == R_PATCH) scene = 0;
            if (q->region != R_PIXEL) all_pixel = 0;
            if (j && (q->sh != g->ops[o->in[0]].sh || q->sw != g->ops[o->in[0]].sw)) scene = 0;
        }
        int64_t ih = scene ? g->ops[o->in[0]].sh : 0, iw = scene ? g->ops[o->in[0]].sw : 0;
        int64_t oh = ih, ow = iw;
        int64_t sh_, sw_;
        spatial_of(&o->shape, &sh_, &sw_);
        if (scene) switch (o->kind) {
        case BE_CONV:
        case BE_POOL: {
            int nsp;
            const int64_t *k, *st, *pl, *ph, *dl;
            static const int64_t one[3] = {1, 1, 1};
            if (o->kind == BE_CONV) {
                nsp = o->conv.nsp;
                k = o->conv.kernel, st = o->conv.stride, pl = o->conv.pad_lo, ph = o->conv.pad_hi;
                dl = o->conv.dilation;
            } else {
                const ir_pool *q = &o->ir->a.pool;
                if (q->ceil_extra[0] || q->ceil_extra[1] || q->ceil_extra[2]) {   /* past the padding */
                    scene = 0;
                    break;
                }
                nsp = q->nsp;
                k = q->kernel, st = q->stride, pl = q->pad_lo, ph = q->pad_hi, dl = one;
            }
            if (nsp < 2 || in->ndim < 3) {
                scene = 0;
                break;
            }
            int a = nsp - 2;   /* index of the first spatial axis in the call's kernel */
            oh = slide(ih, k[a], st[a], dl[a], pl[a], ph[a]);
            ow = slide(iw, k[a + 1], st[a + 1], dl[a + 1], pl[a + 1], ph[a + 1]);
            break;
        }
        case BE_DENSE:
            if ((ih != 1 || iw != 1) && in->ndim < 3) scene = 0;
            oh = ow = 1;   /* a window over the whole remaining map */
            break;
        case BE_RESHAPE:
            if (o->shape.ndim < 3 ? (ih != 1 || iw != 1) : (sh_ != ih || sw_ != iw)) scene = 0;
            break;
        case BE_BN:
        case BE_ACT:
        case BE_DROPOUT:
        case BE_ADD:
        case BE_CONCAT:
        case BE_LRN:        /* across channels, at each position */
        case BE_PRELU:
        case BE_SOFTMAX:    /* over the channels */
            break;
        default:
            scene = 0;
        }
        /* a [C, L] sequence (conv1d, BN over C, gru...) is not a per-pixel channel vector: the
         * scene maps are [1, channels, rows, cols], so it runs per patch */
        if (o->shape.ndim == 2) scene = 0;
        if (!scene || oh < 1 || ow < 1 || oh != sh_ || ow != sw_) continue;
        o->sh = (int)oh;
        o->sw = (int)ow;
        o->region = all_pixel && oh == p && ow == pw ? R_PIXEL : R_WINDOW;
    }
    int hoisted = 0;
    for (int i = 0; i < g->n_ops; i++) {
        be_op *o = &g->ops[i];
        if (o->region == R_PATCH) {
            g->flops_scene += o->flops;
        } else if (o->kind != BE_INPUT) {
            g->flops_scene += o->flops / ((double)o->sh * (double)o->sw);
            hoisted += o->flops > 0;
        }
    }
    g->patch = (int)p;
    g->scene_kind = g->ops[g->logits].region != R_PATCH ? 0 : hoisted ? 1 : 2;
}

/* One line per region: how many ops, the first and the last layer. */
static void print_region(FILE *f, const be_graph *g, int r, const char *what)
{
    int n = 0, first = -1, last = -1;
    for (int i = 0; i <= g->logits; i++) {   /* the inference net */
        const be_op *o = &g->ops[i];
        if (o->region != r || o->kind == BE_XENT || o->kind == BE_INPUT) continue;
        if (first < 0) first = i;
        last = i;
        n++;
    }
    if (!n) return;
    const char *a = g->ops[first].cname, *b = g->ops[last].cname;
    fprintf(f, "  %-8s %3d ops  %s%s%s  %s\n", r == R_PIXEL ? "pixel" : r == R_WINDOW ? "window" : "patch",
            n, a, n > 1 ? " .. " : "", n > 1 ? b : "", what);
}

void be_print_scene(FILE *f, const be_program *bp)
{
    static const char *kinds[] = {"fully convolutional (the whole net slides over the scene)",
                                  "hoisted (a prefix runs once per scene pixel, the rest per patch)",
                                  "patch by patch (nothing to hoist)"};
    for (int d = 0; d < bp->n_graphs; d++) {
        const be_graph *g = &bp->graphs[d];
        fprintf(f, "scene inference%s%s: %s\n", g->ir->domain[0] ? ", domain " : "", g->ir->domain,
                kinds[g->scene_kind]);
        print_region(f, g, R_PIXEL, "once per pixel of the padded scene");
        print_region(f, g, R_WINDOW, "sliding over the scene (row tiles with a halo)");
        print_region(f, g, R_PATCH, "per pixel, on crops of the scene maps");
        fprintf(f, "  FLOPs per pixel (conv and dense): patch net %.3f M, scene program %.3f M (%.1fx fewer)\n",
                g->flops_patch / 1e6, g->flops_scene / 1e6,
                g->flops_scene > 0 ? g->flops_patch / g->flops_scene : 0.0);
    }
}
