/* create_fail.c — a net too large to allocate: create() returns NULL with a message that says
 * how many bytes it tried (it said "out of memory for parameters"). Built with -DNET=<stem>_net
 * and the substring the message must hold as argv[1]. */
#include <stdio.h>
#include <string.h>

#include "hsi.h"

extern const hsi_netdesc NET;

int main(int argc, char **argv)
{
    char err[512] = "";
    hsi_model_opts o = {1, HSI_BACKEND_REF, 1};
    hsi_model *m = NET.create(&o, err, sizeof err);
    printf("create: %s\n", m ? "succeeded" : err);
    if (m) NET.destroy(m);
    return !m && argc > 1 && strstr(err, argv[1]) ? 0 : 1;
}
