/* trainer_main.c — main() of every trainer: one compiled network (HSI_NETDESC, the emitted
 * <stem>_net) plus the embedded experiment, handed to the CLI in runtime/train/cli.c.
 * Build: cc -DHSI_NETDESC=<stem>_net trainer_main.c <stem>.c experiment.c -lhsirt ...
 * It holds no logic of its own, so every trainer behaves the same.
 */
#include "hsi_trainer.h"

#ifndef HSI_NETDESC
#define HSI_NETDESC hsi_net
#endif

extern const hsi_netdesc HSI_NETDESC;
extern const char hsi_embedded_experiment[];
extern const char hsi_embedded_experiment_path[];

int main(int argc, char **argv)
{
    return hsi_trainer_main(&HSI_NETDESC, hsi_embedded_experiment, hsi_embedded_experiment_path,
                            argc, argv);
}
