/* main.c — the hsicc command: dispatches to a subcommand (commands.h). Each subcommand lives
 * in its own cmd_<name>.c; add a row to the table below for a new one. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "diag.h"
#include "driver.h"
#include "hsi_io.h"

#ifndef HSICC_VERSION
#define HSICC_VERSION "dev"
#endif

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"check", cmd_check, "check a netdef: layers, shapes, parameter counts"},
    {"emit", cmd_emit, "emit C (oneDNN or reference kernels) for a netdef"},
    {"build", cmd_build, "build a standalone trainer for an experiment (YAML)"},
    {"sweep", cmd_sweep, "build and run one trainer per point of an experiment's sweep"},
    {"onnx", cmd_onnx, "export a net with trained weights as an ONNX model (inference)"},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: hsicc COMMAND [options]\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nhsicc COMMAND --help for its options; hsicc --version\n");
}

int main(int argc, char **argv)
{
    hsi_write_faults_as_errors();
    if (argc < 2) {
        usage(stderr);
        return DRV_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return DRV_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("hsicc %s\n", HSICC_VERSION);
        return DRV_OK;
    }
    /* No option value or file of any command is the empty string; taken as a path, "" made
     * `build -o ""` write ".src" into the current folder and hand the C compiler an empty
     * output name */
    for (int i = 2; i < argc; i++)
        if (!argv[i][0]) {
            fprintf(stderr, "hsicc: error: argument %d is empty%s%s%s\n", i - 1,
                    argv[i - 1][0] == '-' ? " (the value of '" : "",
                    argv[i - 1][0] == '-' ? argv[i - 1] : "", argv[i - 1][0] == '-' ? "')" : "");
            return DRV_USAGE;
        }
    const char *names[N_COMMANDS];
    for (int i = 0; i < N_COMMANDS; i++) {
        if (!strcmp(cmd, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
        names[i] = commands[i].name;
    }
    fprintf(stderr, "hsicc: error: unknown command '%s'\n", cmd);
    const char *s = diag_suggest(cmd, names, N_COMMANDS);
    if (s) fprintf(stderr, "hint: did you mean '%s'?\n", s);
    usage(stderr);
    return DRV_USAGE;
}
