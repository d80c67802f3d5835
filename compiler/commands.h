/* commands.h — the hsicc subcommands (one cmd_<name>.c each). Each gets argv from the
 * subcommand name on and returns the exit status (driver.h: 0 ok, 1 input errors, 2 usage). */
#ifndef HSICC_COMMANDS_H
#define HSICC_COMMANDS_H

#include <stdio.h>

#include "ir.h"

int cmd_check(int argc, char **argv);
int cmd_emit(int argc, char **argv);    /* cmd_emit.c */
int cmd_build(int argc, char **argv);   /* cmd_build.c */
int cmd_sweep(int argc, char **argv);   /* cmd_sweep.c */
int cmd_onnx(int argc, char **argv);    /* cmd_onnx.c */

/* The `hsicc check` report: one row per layer of every graph, then the parameter totals. */
void check_print(FILE *f, const ir_program *p);

#endif
