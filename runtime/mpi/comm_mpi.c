/* comm_mpi.c — the trainer's hsi_comm over MPI_COMM_WORLD (Open MPI). Built only into
 * libhsirt_mpi (HSI_MPI), which `hsicc build --mpi` links with trainer_main.c compiled with
 * -DHSI_MPI; libhsirt itself never depends on MPI.
 * Counts above INT_MAX are sent in pieces (MPI counts are int).
 */
#ifndef HSI_MPI
#error "comm_mpi.c is built with -DHSI_MPI only (the MPI trainer library)"
#endif
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include <mpi.h>

#include "hsi_trainer.h"

#define CHUNK ((int64_t)1 << 30)

/* v[0..n) reduced in place over every rank, in pieces of at most CHUNK elements. */
static void allreduce(void *v, int64_t n, size_t elem, MPI_Datatype t, MPI_Op op)
{
    for (int64_t at = 0; at < n; at += CHUNK) {
        int k = (int)(n - at < CHUNK ? n - at : CHUNK);
        MPI_Allreduce(MPI_IN_PLACE, (char *)v + (size_t)at * elem, k, t, op, MPI_COMM_WORLD);
    }
}

static void sum_d(void *ctx, double *v, int64_t n)
{
    (void)ctx;
    allreduce(v, n, sizeof *v, MPI_DOUBLE, MPI_SUM);
}

static void sum_f(void *ctx, float *v, int64_t n)
{
    (void)ctx;
    allreduce(v, n, sizeof *v, MPI_FLOAT, MPI_SUM);
}

static void max_i32(void *ctx, int32_t *v, int64_t n)
{
    (void)ctx;
    allreduce(v, n, sizeof *v, MPI_INT32_T, MPI_MAX);
}

static void bcast(void *ctx, void *buf, size_t bytes)
{
    (void)ctx;
    for (size_t at = 0; at < bytes; at += (size_t)CHUNK) {
        int k = (int)(bytes - at < (size_t)CHUNK ? bytes - at : (size_t)CHUNK);
        MPI_Bcast((char *)buf + at, k, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
}

static void abort_all(void *ctx, int status)
{
    (void)ctx;
    MPI_Abort(MPI_COMM_WORLD, status);
    exit(status);
}

static hsi_comm g_comm;

hsi_comm *hsi_comm_mpi_init(int *argc, char ***argv)
{
    int provided;
    /* the batcher's prefetch thread and OpenMP never call MPI: FUNNELED is enough */
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_comm.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_comm.size);
    g_comm.sum_d = sum_d;
    g_comm.sum_f = sum_f;
    g_comm.max_i32 = max_i32;
    g_comm.bcast = bcast;
    g_comm.abort = abort_all;
    return &g_comm;
}

/* Every error of a data-parallel trainer is either met by every rank alike (they return
 * together) or ended every rank at once (hsi_comm.abort): the status needs no agreement here. */
int hsi_comm_mpi_end(hsi_comm *c, int status)
{
    (void)c;
    MPI_Finalize();
    return status;
}
