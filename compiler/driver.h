/* driver.h — command-line pieces shared by the hsicc subcommands (check, emit, build,
 * sweep): -D name=value (repeatable) and --net NAME, and the exit-status convention:
 * 0 ok, 1 errors in the input, 2 usage errors.
 */
#ifndef HSICC_DRIVER_H
#define HSICC_DRIVER_H

#include "frontend.h"

enum { DRV_OK = 0, DRV_INPUT_ERROR = 1, DRV_USAGE = 2 };

typedef struct drv_common {
    const char *file;        /* the netdef (first positional argument) */
    const char *net;         /* --net NAME, or NULL (the last net of the file) */
    int n_defines, cap_defines;
    fe_define *defines;      /* -D name=value, in command-line order, each name once */
} drv_common;

/* Consumes argv[*i] (and its value) if it is -D k=v, -Dk=v, --define k=v, --net NAME or
 * --net=NAME, advancing *i past it. Returns 1 if consumed, 0 if not one of these, -1 after
 * printing a usage error to stderr (a malformed k=v, a name given twice, --net twice). Strings
 * point into argv. */
int drv_take_common(int argc, char **argv, int *i, drv_common *c);
/* Splits "name=value" (name a non-empty identifier); 0 ok, 1 malformed. */
int drv_parse_define(const char *arg, fe_define *out);
/* The first of defs[0..n) named `name`, or NULL. */
const fe_define *drv_find_define(const fe_define *defs, int n, const char *name);
/* An option that takes one value: *slot = val, or 1 after "OPT is given twice: 'a' and 'b'"
 * on stderr when *slot is already set (the later value silently won). */
int drv_once(const char *opt, const char **slot, const char *val);
/* 1 after "OPT -: WHAT, not a stream to standard output" on stderr when val is "-": an output
 * that cannot be a stream (a folder, a program) is refused rather than written to a file "-". */
int drv_not_stdout(const char *opt, const char *val, const char *what);
/* 1 when `stem` (the prefix of an emitted trainer's or inference module's files and symbols)
 * is the runtime's: hsi, hk, hsirt, or a name starting with hsi_, hk_ or hsirt_. Every header
 * and global symbol of libhsirt and of a module's hsirt/ is named so: <stem>.h would shadow
 * hsi.h (or hsi_model.h...) beside <stem>.c, <stem>_create would be hsi_model_create... */
int drv_stem_reserved(const char *stem);
/* What a message says after a reserved stem or net name: why, in one clause. */
#define DRV_STEM_RESERVED_WHY "names hsi, hk, hsirt and those starting with hsi_, hk_ or hsirt_ " \
    "are the runtime's (its headers and symbols: hsi.h, hsi_model_create...), and the C emitted " \
    "under one would not compile"
void drv_common_free(drv_common *c);
/* "364,168" */
const char *drv_thousands(long long v, char *buf, int n);

#endif
