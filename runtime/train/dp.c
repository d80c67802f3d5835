/* dp.c — data-parallel training over an hsi_comm (MPI ranks; docs/MPI.md): each rank's shard of
 * the global batch, the gradient sum, the kernels' hook for synchronized BN and dropout, the
 * parameter broadcast, and the agreements that keep ranks in step when one of them fails.
 * With no comm (or one rank) every function is a no-op or the identity.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "trainer_internal.h"

static void kernel_sum(double *v, int n, void *ctx)
{
    const hsi_comm *c = ctx;
    c->sum_d(c->ctx, v, n);
}

int tr_dp_init(tr_dp *dp, const hsi_comm *comm, int batch, int bn_sync, char *err, size_t errlen)
{
    memset(dp, 0, sizeof *dp);
    dp->comm = comm && comm->size > 1 ? comm : NULL;
    dp->rank = dp->comm ? comm->rank : 0;
    dp->size = dp->comm ? comm->size : 1;
    dp->batch = batch;
    if (dp->size > batch)
        return tr_fail(err, errlen, "train.batch is %d but the trainer runs as %d MPI ranks: every "
                       "rank needs at least one sample of each batch (raise train.batch or run "
                       "fewer ranks)", batch, dp->size);
    /* rank r: samples [r B / N, (r + 1) B / N) of every global batch */
    dp->lo = (int)((int64_t)batch * dp->rank / dp->size);
    dp->n = (int)((int64_t)batch * (dp->rank + 1) / dp->size) - dp->lo;
    if (dp->comm) {
        dp->kdp = (hsi_dp){kernel_sum, (void *)dp->comm, dp->lo, bn_sync};
        hsi_kernels_set_dp(&dp->kdp);
    }
    return 0;
}

void tr_dp_done(tr_dp *dp)
{
    if (dp->comm) hsi_kernels_set_dp(NULL);
}

double tr_dp_sum1(const tr_dp *dp, double v)
{
    if (dp->comm) dp->comm->sum_d(dp->comm->ctx, &v, 1);
    return v;
}

void tr_dp_sum(const tr_dp *dp, double *v, int n)
{
    if (dp->comm) dp->comm->sum_d(dp->comm->ctx, v, n);
}

void tr_dp_grads(const tr_dp *dp, hsi_param *ps, int np)
{
    if (!dp->comm) return;
    /* emitted nets keep every gradient in one block, in parameter order: one allreduce */
    float *first = NULL, *next = NULL;
    int64_t total = 0;
    int contiguous = 1;
    for (int i = 0; i < np; i++) {
        if (!ps[i].grad) continue;
        if (!first) first = ps[i].grad;
        else if (ps[i].grad != next) contiguous = 0;
        next = ps[i].grad + ps[i].numel;
        total += ps[i].numel;
    }
    if (contiguous) {
        if (first) dp->comm->sum_f(dp->comm->ctx, first, total);
        return;
    }
    for (int i = 0; i < np; i++)
        if (ps[i].grad) dp->comm->sum_f(dp->comm->ctx, ps[i].grad, ps[i].numel);
}

void tr_dp_bcast_values(const tr_dp *dp, hsi_param *ps, int np)
{
    if (!dp->comm) return;
    for (int i = 0; i < np; i++)
        dp->comm->bcast(dp->comm->ctx, ps[i].value, sizeof(float) * (size_t)ps[i].numel);
}

int tr_dp_agree(const tr_dp *dp, int rc, char *err, size_t errlen)
{
    return tr_comm_agree(dp->comm, rc, err, errlen);
}

int tr_comm_agree(const hsi_comm *comm, int rc, char *err, size_t errlen)
{
    if (!comm || comm->size < 2) return rc;
    double f[2] = {rc != 0, comm->rank == 0 && rc != 0};
    comm->sum_d(comm->ctx, f, 2);
    if (f[0] == 0) return 0;
    /* rank 0 says its own error; another rank's is said by that rank (prefixed "rank r") */
    if (errlen && (!rc || (comm->rank > 0 && f[1] > 0))) err[0] = 0;
    return rc ? rc : -1;
}

int tr_dp_rank0(const tr_dp *dp, int rc, const char *err)
{
    return tr_comm_rank0(dp->comm, rc, err);
}

int tr_comm_rank0(const hsi_comm *comm, int rc, const char *err)
{
    if (rc && comm && comm->size > 1) {
        /* only rank 0 wrote: the other ranks are already on their way to the next collective */
        fprintf(stderr, "error: %s\n", err);
        fflush(stderr);
        comm->abort(comm->ctx, 1);
    }
    return rc;
}
