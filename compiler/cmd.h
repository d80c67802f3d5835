/* cmd.h — the hsicc subcommands beyond `check`, and their shared argument parsing. */
#ifndef HSICC_CMD_H
#define HSICC_CMD_H

#include "backend.h"
#include "frontend.h"

typedef struct cmd_compile {
    const char *file, *net, *out_dir, *stem, *backend;
    int batch;
    be_options opt;
    int n_domains;
    const fe_domain *domains;
} cmd_compile;

/* Parses the compile options shared by emit/build (see cmd_emit.c). 0 ok, else an exit status. */
int cmd_compile_args(int argc, char **argv, cmd_compile *c);

#endif
