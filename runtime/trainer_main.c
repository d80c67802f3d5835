/* trainer_main.c — main() of every trainer: one compiled network (HSI_NETDESC, the emitted
 * <stem>_net) plus the embedded experiment, handed to the CLI in runtime/train/cli.c.
 * Build: cc -DHSI_NETDESC=<stem>_net trainer_main.c <stem>.c experiment.c -lhsirt ...
 * With -DHSI_MPI (hsicc build --mpi) it runs as one rank of MPI_COMM_WORLD: linked with
 * libhsirt_mpi (runtime/mpi/comm_mpi.c) and Open MPI, see docs/MPI.md.
 * It holds no logic of its own, so every trainer behaves the same.
 */
#include "hsi_trainer.h"

#ifndef HSI_NETDESC
#define HSI_NETDESC hsi_net
#endif

extern const hsi_netdesc HSI_NETDESC;
extern const char hsi_embedded_experiment[];
extern const char hsi_embedded_experiment_path[];

#ifdef HSI_MPI
hsi_comm *hsi_comm_mpi_init(int *argc, char ***argv);
int hsi_comm_mpi_end(hsi_comm *c, int status);
#endif

int main(int argc, char **argv)
{
#ifdef HSI_MPI
    hsi_comm *comm = hsi_comm_mpi_init(&argc, &argv);
    int rc = hsi_trainer_main_comm(&HSI_NETDESC, hsi_embedded_experiment,
                                   hsi_embedded_experiment_path, argc, argv, comm);
    return hsi_comm_mpi_end(comm, rc);
#else
    return hsi_trainer_main(&HSI_NETDESC, hsi_embedded_experiment, hsi_embedded_experiment_path,
                            argc, argv);
#endif
}
