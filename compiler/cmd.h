/* cmd.h — the hsicc subcommands beyond `check`, and what they share: compile-option parsing
 * (emit/build), building one trainer from an experiment (build/sweep), starting a child. */
#ifndef HSICC_CMD_H
#define HSICC_CMD_H

#include <sys/types.h>

#include "backend.h"
#include "driver.h"
#include "frontend.h"
#include "hsi_config.h"

typedef struct cmd_compile {
    const char *file, *net, *out_dir, *stem, *backend;
    int batch;
    int infer;                 /* emit --infer: the inference-only module */
    const char *weights;       /* emit --infer --weights W.safetensors: embedded */
    be_options opt;
    int n_domains;
    const fe_domain *domains;
} cmd_compile;

/* Parses the compile options shared by emit/build (see cmd_emit.c). 0 ok, else an exit status. */
int cmd_compile_args(int argc, char **argv, cmd_compile *c);

/* --domain NAME[:k=v,...] (emit, onnx): records one domain; 0, or 2 after a usage error on
 * stderr (a malformed k=v, too many domains). */
int cmd_domain_arg(const char *val);
/* The domains to compile: one per --domain so far, each with the global -D (com) first and its
 * own after them (the later wins), or one domain "" with the global -D when none was given. */
const fe_domain *cmd_domains(const drv_common *com, int *n);

/* s as a whole decimal number in lo..hi into *out: 0, or -1 ("4x", "", out of range). */
int cmd_int_arg(const char *s, long lo, long hi, int *out);
/* 1 (after "hsicc: error: OPT needs a value" on stderr) if a is one of the NULL-terminated
 * opts, i.e. an option given last without its value; else 0. */
int cmd_missing_value(const char *a, const char *const *opts);
/* "hsicc: error: unknown option 'a'" on stderr, and a hint with the closest of the
 * NULL-terminated known options when one is close. */
void cmd_unknown_option(const char *a, const char *const *known);
/* 1 if argv[1..] holds -h or --help (the command then prints its usage to stdout, exit 0). */
int cmd_wants_help(int argc, char **argv);

/* How far build_trainer goes: check the experiment and compile the net in memory (nothing
 * written); also emit OUT.src/; also run the C compiler into the executable OUT. */
typedef enum build_stage { BUILD_CHECK, BUILD_EMIT, BUILD_TRAINER } build_stage;

/* hsicc sweep's reuse of a trainer built before (cmd_trainerkey.c): set by build_trainer. */
typedef struct build_reuse {
    int reused;                /* 1: OUT was there, built from the same inputs, and is kept */
    char why[300];             /* else why it was built: "none yet", "its inputs changed", ... */
} build_reuse;

typedef struct build_opts {
    const char *const *sets;   /* --set overrides for the experiment */
    int n_sets;
    int sweep_point;           /* -1: none (every point is checked) */
    build_stage stage;
    be_options be;             /* fuse / rewrite; batch is taken from the experiment */
    const char *cc;            /* C compiler; NULL: $CC, else cc */
    int verbose;               /* print the compiler command */
    const char *infer_dir;     /* --infer DIR: write the inference module there, no trainer */
    const char *weights;       /* --weights W.safetensors: embedded in the inference module */
    int mpi;                   /* --mpi: an MPI data-parallel trainer (docs/MPI.md) */
    build_reuse *reuse;        /* non-NULL: keep OUT when OUT.key says it was built from the
                                * same inputs and it is unchanged since (hsicc sweep) */
} build_opts;

/* hsicc build's work (cmd_build.c): experiment -> trainer OUT (sources in OUT.src/), the
 * experiment file embedded as written. Diagnostics on stderr; returns 0 or 1. */
int build_trainer(const char *exp_path, const char *out, const build_opts *o);
/* 0 unless out, a file the command writes (named by flag: "-o", "--jobs-file"), is one of the
 * inputs of the experiment x loaded from exp_path: the experiment, its netdef, the dataset
 * registry of $HSICC_DATASETS, its init.checkpoint. Then one error on stderr and 1: the write
 * would replace the input. */
int cmd_out_not_input(const char *flag, const char *out, const char *exp_path,
                      const hsi_experiment *x);

/* The build key of a compiler command av (NULL-terminated, without its -o): a SHA-256 over this
 * hsicc, the compiler program, its search-path variables, every word of av and the content of
 * every file and -I folder it names, as 64 hex digits into key. 0, or -1 when a file it names
 * cannot be read (then nothing is reused). */
int trainer_key(char *const *av, char key[65]);
/* 1 when trainer and its record trainer.key show a finished build from key, with the trainer
 * file unchanged since (its SHA-256); else 0 and why it must be built into why. */
int trainer_reusable(const char *trainer, const char *key, char *why, size_t whylen);
/* Writes trainer.key (atomically; a warning when it cannot) after trainer was built from key;
 * drop removes it before a build. */
void trainer_record_write(const char *trainer, const char *key);
void trainer_record_drop(const char *trainer);
/* The value of the line "NAME VALUE" of text (a record: trainer.key, a sweep's notes) into v
 * (len bytes; "" when there is none). */
void cmd_line_field(const char *text, const char *name, char *v, size_t len);

/* fork + exec argv[0] (PATH searched). log_path: stdout and stderr appended there (NULL:
 * inherited); omp_threads: OMP_NUM_THREADS for the child (NULL: inherited). Returns the pid,
 * or -1 when fork fails. */
pid_t cmd_spawn(char *const argv[], const char *log_path, const char *omp_threads);
/* A waitpid status as an exit status: the code, 128 + signal, or -1. */
int cmd_status(int st);

#endif
