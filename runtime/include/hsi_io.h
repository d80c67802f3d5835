/* hsi_io.h — output files of libhsirt: atomic writes, JSON, safetensors, PNG, CSV log, progress.
 *
 * Error convention: functions that can fail return 0 on success and -1 on failure, with one
 * message in err[errlen] that starts with the file it concerns ("run/weights.safetensors: ...").
 * Nothing here calls exit() or prints, except the progress reporter (its job).
 * The run-folder files written with these functions are described in runtime/io/OUTPUTS.md.
 */
#ifndef HSI_IO_H
#define HSI_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hsi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- infile.c: input files ------------------------------------------------------------------
 * Every file a user names for reading is opened through these: a FIFO, directory, device or
 * socket is refused at once ("PATH: is a directory", "PATH: is a FIFO (named pipe), not a
 * regular file"), never blocked on; an empty path is named "'' (empty path)" (here and in
 * hsi_check_output). */
FILE *hsi_open_input(const char *path, char *err, size_t errlen);   /* "rb"; NULL + message */
/* The same as a descriptor (blocking mode, close-on-exec) and the file's size: fd, or -1. */
int hsi_open_regular(const char *path, int64_t *size, char *err, size_t errlen);
/* 0 if path is a regular file that can be opened, for readers that open by name (matio). */
int hsi_check_input(const char *path, char *err, size_t errlen);
/* 0 if path (links followed) does not exist or is a regular file: what the atomic writers may
 * replace. A directory, FIFO or device (--out /dev/full, a FIFO) is refused with its kind: the
 * rename over it would put a regular file in its place. */
int hsi_check_output(const char *path, char *err, size_t errlen);
/* 0 unless out and in (links followed) are the same existing file: -1 with "OUT is the WHAT
 * (IN): writing it would replace the input; give another path". For every output a command
 * writes beside the inputs it read (-o MODEL.onnx naming the weights or the netdef). */
int hsi_check_not_input(const char *out, const char *in, const char *what, char *err,
                        size_t errlen);

/* ---- lock.c: a folder in use ------------------------------------------------------------------
 * An exclusive lock on DIR/NAME (created; DIR must exist) for as long as the returned descriptor
 * is open or the process lives: who ("trainer", "hsicc sweep") and the pid are written in it.
 * -1 with "DIR is in use by another process (trainer, pid 123): ..." when another holds it. */
int hsi_lock_dir(const char *dir, const char *name, const char *who, char *err, size_t errlen);
void hsi_unlock_dir(int fd);
/* A command's output folder given back when the command failed before writing in it: top =
 * the first folder hsi_mkdirs_made made for dir (NULL when dir existed), then
 * hsi_unlock_dir_unmade(fd, dir, NAME, top) removes NAME (the lock, still held), dir and its
 * parents down to top while each is empty, and unlocks. With top NULL it only unlocks: a
 * folder the user made stays. */
void hsi_unlock_dir_unmade(int fd, const char *dir, const char *name, const char *top);
/* fn (NULL: none) is called on a SIGINT, SIGTERM or SIGHUP taken by the signal thread
 * (hsi_signals_take(NULL)), after the temporaries go and before the process ends: a command
 * gives back the output folder it made (hsi_unlock_dir_unmade). Not called from a handler. */
void hsi_signal_cleanup(void (*fn)(void));

/* ---- cpus.c: CPUs and compute threads --------------------------------------------------------
 * hsi_cpus_usable: the CPUs this process may run on: the affinity mask's count (sched_getaffinity;
 * taskset, Slurm's task binding), fewer when a cgroup CPU quota of its cgroup or an ancestor
 * allows fewer (v2 cpu.max, v1 cpu.cfs_quota_us: quota / period rounded up); at least 1. why (or
 * NULL) gets how: "4 CPUs in the affinity mask, cgroup CPU quota 2".
 * hsi_threads_setup: chooses the compute threads (the first that is set wins: OMP_NUM_THREADS,
 * its first number; `configured` (train.threads) when > 0; SLURM_CPUS_PER_TASK; else
 * hsi_cpus_usable) and makes that the thread count of the OpenMP runtime oneDNN runs on (found at
 * run time; call it before the first kernel) and OMP_NUM_THREADS of the programs started later.
 * warn gets a warning or "" (more threads than usable CPUs; an OMP_NUM_THREADS that is not a
 * number, which is then ignored). Returns the count.
 * hsi_threads_note: "2 (2 CPUs in the affinity mask)": the count and why, for a log; NULL before
 * hsi_threads_setup.
 * hsi_threads_count: the threads the kernels run on (what OpenMP took; 1 without an OpenMP
 * runtime); 0 before hsi_threads_setup.
 * No source gets more than HSI_THREADS_MAX threads (train.threads refuses more; the others are
 * cut to it, with a warning): libgomp puts every thread's start data on the stack when a team
 * starts, so 100000 threads were a segfault in the first parallel region. */
#define HSI_THREADS_MAX 4096
int hsi_cpus_usable(char *why, size_t whylen);
int hsi_threads_setup(int configured, char *warn, size_t warnlen);
const char *hsi_threads_note(void);
int hsi_threads_count(void);

/* ---- memlimit.c: sizes that settings decide, against the memory there is ---------------------
 * hsi_mem_ceiling: the most memory this process can have, in bytes: RAM plus swap
 * (sysconf(_SC_PHYS_PAGES), SwapTotal), lowered by ulimit -v / -d and a cgroup v2 memory.max;
 * -1: unknown. why gets which of them it is ("RAM", "the address-space limit, ulimit -v").
 * hsi_mem_mul / hsi_mem_add: *acc times f / plus b, or -1 (in *acc too, and kept by the next
 * calls) when it would pass INT64_MAX or an operand is negative: a size computed with them is
 * either exact or -1.
 * hsi_mem_check: 0 when bytes fits under the ceiling; else 1 with err "WHAT: needs N bytes
 * (12.3 GB), more than this process can still take: M bytes (4.1 GB: RAM and swap, less the
 * 0.2 GB this process holds; F GB available now)": the ceiling less what the process holds
 * (VmSize against ulimit -v, else VmRSS). mapped: the part of bytes mapped already but not yet
 * touched (an arena), which VmSize holds and VmRSS does not.
 * (bytes -1: "WHAT: the size does not fit in 64 bits"). what names the setting and its value. */
int64_t hsi_mem_ceiling(char *why, size_t whylen);
int hsi_mem_mul(int64_t *acc, int64_t f);
int hsi_mem_add(int64_t *acc, int64_t b);
int hsi_mem_check(int64_t bytes, int64_t mapped, const char *what, char *err, size_t errlen);

/* ---- atomic.c: files appear whole or not at all ------------------------------------------- */

/* Makes a write past the file-size limit (ulimit -f) fail with EFBIG, reported like a full disk,
 * instead of killing the process with SIGXFSZ (no message, a temporary file left behind).
 * Called first thing by every trainer and by hsicc; inherited by the programs they run. */
void hsi_write_faults_as_errors(void);
/* strerror(e) for a failed write, with what to do for the limits: "File too large (the
 * file-size limit, ulimit -f, was reached)", "No space left on device". */
const char *hsi_write_strerror(int e);

/* Creates path and every missing parent directory (mode 0777 & umask). Existing dirs are fine. */
int hsi_mkdirs(const char *path, char *err, size_t errlen);
/* Same; *made = the first folder of the path this call created (malloc'd), NULL if none. */
int hsi_mkdirs_made(const char *path, char **made, char *err, size_t errlen);
/* -1 with "DIR: the filesystem's root is not a folder for outputs" when DIR is / (however
 * spelled: "//", "/tmp/..", a link to it): as root, `train --out /` wrote its run folders and
 * lock into /. hsi_mkdirs checks it; so does every command that makes an output folder. Also
 * -1 with "DIR: a symbolic link to T, which does not exist" for a dangling link. */
int hsi_check_out_dir(const char *dir, char *err, size_t errlen);

/* The file a write to path replaces: path, or, when path is a symbolic link, the end of its
 * chain of links (which may not exist yet; a relative link is taken from its own folder).
 * malloc'd; NULL with the reason in err (a loop of links, out of memory). */
char *hsi_output_target(const char *path, char *err, size_t errlen);
/* Writes n bytes to path atomically: temp file in the same directory, fflush, fsync, rename.
 * A symbolic link at path is written through (hsi_output_target): its target is replaced, the
 * temp file beside the target, and the link stays. On failure the temp file is removed and an
 * existing file at path is left untouched. */
int hsi_atomic_write(const char *path, const void *bytes, size_t n, char *err, size_t errlen);

/* Streaming variant: open, write through fp (any stdio call), then commit or abort.
 *   hsi_atomic_file af;
 *   if (hsi_atomic_open(&af, path, err, errlen)) return -1;
 *   fprintf(af.fp, ...);
 *   return hsi_atomic_commit(&af, err, errlen);   // checks ferror, fsyncs, renames; aborts on error
 * After commit (success or not) or abort, af holds nothing and needs no other call. */
typedef struct hsi_atomic_file {
    FILE *fp;      /* the temp file; write through it */
    char *path;    /* final name (owned): path, or the target of the link at path */
    char *tmp;     /* temp name "<path>.tmp.hsicc-PID-XXXXXX" in the same directory (owned) */
    int slot;      /* its hsi_temp_register slot */
} hsi_atomic_file;

int hsi_atomic_open(hsi_atomic_file *af, const char *path, char *err, size_t errlen);
int hsi_atomic_commit(hsi_atomic_file *af, char *err, size_t errlen);
void hsi_atomic_abort(hsi_atomic_file *af);   /* closes and removes the temp file */
/* Registers a temporary file or folder name (the string must stay valid until unregistered):
 * if SIGINT, SIGTERM or SIGHUP ends the process while it is registered, the name is removed
 * first (a folder with the files in it). The handler is installed on first use
 * for those signals still at their default action; a program's own handlers are left alone.
 * Returns the slot for hsi_temp_unregister, or -1 when all slots are taken. */
int hsi_temp_register(const char *path);
void hsi_temp_unregister(int slot);
/* A commit section (nestable, per thread): a terminating signal waits until it ends, so a
 * writer makes and registers a temporary, or renames its temporaries to their final names and
 * unregisters them, as one step. The signal then removes all of them or finds them all in
 * place: never a set of outputs half renamed, never a temporary made after its removal pass.
 * Keep the section to those calls (no long I/O): the signal waits for it. */
void hsi_temp_hold(void);
void hsi_temp_release(void);
/* SIGINT, SIGTERM and SIGHUP taken by a thread of their own, blocked in the calling thread and
 * so in every thread started after this call (call it first, before threads): no signal
 * handler ever runs on a thread that computes (oneDNN 2.6's AVX-512 GEMM kernels point the
 * stack pointer at the heap while they run; a handler's frame there corrupts the heap: see
 * atomic.c). on_signal NULL: a signal removes the registered temps and ends the process as it
 * would have; else on_signal(sig) is called on that thread (not a handler: any call is safe).
 * Once per process; -1 (nothing changed) when the thread cannot start. */
int hsi_signals_take(void (*on_signal)(int sig));
/* The name template of every temporary this project makes, for mkstemp / mkdtemp:
 * "<prefix>.tmp.hsicc-<pid>-XXXXXX" (malloc'd, NULL when out of memory). */
char *hsi_temp_template(const char *prefix);
/* Removes the temp files ("NAME.tmp.hsicc-PID-XXXXXX", of a process that no longer runs) a
 * killed writer left in dir and its folders up to depth levels down, and the map writer's
 * temporary folders (".STEM.tmp.hsicc-PID-XXXXXX", with the files in them); for a folder whose
 * lock is held (no other writer). No other name is touched. Returns how many. */
int hsi_remove_stale_temps(const char *dir, int depth);

/* ---- outset.c: a command's result files replaced as one set ------------------------------
 *   hsi_outset s;
 *   hsi_outset_init(&s, "predict");
 *   const char *t = hsi_outset_dir(&s, dir, err, errlen);   // write DIR's files into t instead
 *   ... hsi_npy_write(t/pred.npy) ...
 *   hsi_outset_commit(&s, err, errlen);   // or hsi_outset_abort(&s)
 * Each destination folder gets a registered temporary folder ".WHAT.tmp.hsicc-PID-XXXXXX" in
 * it (hsi_temp_template); the
 * commit renames every file into its folder in one commit section (hsi_temp_hold): a
 * terminating signal leaves the previous set or the new one, never the two mixed. After commit
 * (success or not) or abort, s holds nothing. */
#define HSI_OUTSET_MAX 64
typedef struct hsi_outset {
    char what[32];
    int n;
    struct { char *dir, *tmp; int slot; } f[HSI_OUTSET_MAX];
} hsi_outset;
void hsi_outset_init(hsi_outset *s, const char *what);
/* The temporary folder for dir (made on the first call for it), NULL with err on failure. */
const char *hsi_outset_dir(hsi_outset *s, const char *dir, char *err, size_t errlen);
int hsi_outset_commit(hsi_outset *s, char *err, size_t errlen);
void hsi_outset_abort(hsi_outset *s);
/* -1 with the reason if a file renamed into dir/name would fail there: a folder at the path
 * (or at a link's target), a link into a missing folder or onto another filesystem. */
int hsi_output_check(const char *dir, const char *name, char *err, size_t errlen);
/* Renames (final 1) every file of folder tmp onto dir/<same name> (a symbolic link there is
 * written through: renamed onto its target), or removes them (final 0); then removes tmp
 * when that went through. -1 with the first failure's reason. */
int hsi_move_files(const char *tmp, const char *dir, int final, char *err, size_t errlen);

/* ---- json.c: writer -------------------------------------------------------------------------
 * Builds a JSON text in memory. Objects put one member per line; arrays stay on one line unless
 * they hold containers (so a confusion matrix prints one row per line). Floats are written with
 * "%.9g" (float) or "%.17g" (double), which round-trip exactly; NaN and +-inf are written as null.
 * Misuse (a value without a key in an object, unbalanced end) is caught by assert in debug builds;
 * allocation failure is sticky and reported by hsi_json_write_file. */
typedef struct hsi_json {
    char *buf;            /* NUL-terminated text so far */
    size_t len, cap;
    int depth;            /* open containers */
    int oom;              /* 1 after an allocation failure */
    struct {
        char kind;        /* '{' or '[' */
        int count;        /* members/elements written so far */
        int multiline;    /* this array has put an element on its own line */
    } stack[32];
    int after_key;        /* a key was written; the next value completes the member */
} hsi_json;

void hsi_json_init(hsi_json *j);
void hsi_json_free(hsi_json *j);
void hsi_json_begin_object(hsi_json *j);
void hsi_json_end_object(hsi_json *j);
void hsi_json_begin_array(hsi_json *j);
void hsi_json_end_array(hsi_json *j);
void hsi_json_key(hsi_json *j, const char *key);     /* inside an object, before each value */
void hsi_json_string(hsi_json *j, const char *s);     /* NULL writes null */
void hsi_json_double(hsi_json *j, double v);          /* %.17g; null if not finite */
void hsi_json_float(hsi_json *j, float v);            /* %.9g; null if not finite */
void hsi_json_int(hsi_json *j, int64_t v);
void hsi_json_bool(hsi_json *j, int v);
void hsi_json_null(hsi_json *j);
/* Writes the text (plus a final newline) to path atomically. */
int hsi_json_write_file(const hsi_json *j, const char *path, char *err, size_t errlen);

/* ---- json.c: reader (a DOM for small documents such as a safetensors header) ----------------
 * Strict RFC 8259 grammar, nesting limited to HSI_JSON_MAX_DEPTH, any input length; never reads
 * past len; \u escapes decoded to UTF-8 (surrogate pairs joined). Object keys keep file order. */
#define HSI_JSON_MAX_DEPTH 64

typedef enum hsi_jtype {
    HSI_JNULL, HSI_JBOOL, HSI_JNUMBER, HSI_JSTRING, HSI_JARRAY, HSI_JOBJECT
} hsi_jtype;

typedef struct hsi_jval {
    hsi_jtype type;
    int boolean;             /* HSI_JBOOL */
    double num;              /* HSI_JNUMBER */
    int is_int;              /* HSI_JNUMBER written as an integer that fits int64: i holds it */
    int64_t i;
    char *str;               /* HSI_JSTRING: NUL-terminated UTF-8 (no \u0000: refused) */
    size_t n;                /* HSI_JSTRING: bytes; HSI_JARRAY/HSI_JOBJECT: count */
    struct hsi_jval *items;  /* HSI_JARRAY/HSI_JOBJECT: n values */
    char **keys;             /* HSI_JOBJECT: n keys */
} hsi_jval;

/* Parses text[0..len). NULL on failure with "byte <offset>: <what>" in err; a key given twice in
 * one object and a \u0000 in a string are failures too. */
hsi_jval *hsi_json_parse(const char *text, size_t len, char *err, size_t errlen);
void hsi_jval_free(hsi_jval *v);
/* Member of an object by key (keys are unique), or NULL (also when v is not an object). */
const hsi_jval *hsi_jval_get(const hsi_jval *v, const char *key);

/* ---- safetensors.c --------------------------------------------------------------------------
 * File layout: u64 little-endian N, N bytes of JSON header (padded with spaces to a multiple of
 * 8), then the data buffer. Header: {"__metadata__": {str: str}, "<name>": {"dtype": "F32",
 * "shape": [..], "data_offsets": [begin, end]}, ...}, offsets relative to the data buffer.
 * We write F32 only, tensors in the order given, little-endian, atomically. We read any dtype's
 * entry (listing) but load only F32. */
#define HSI_ST_MAXDIM 8

typedef struct hsi_st_meta { const char *key, *value; } hsi_st_meta;

/* A tensor to write. */
typedef struct hsi_st_tensor {
    const char *name;
    int ndim;                       /* 0..HSI_ST_MAXDIM (0 = scalar, 1 element) */
    int64_t dims[HSI_ST_MAXDIM];
    const float *data;              /* prod(dims) floats */
} hsi_st_tensor;

int hsi_st_save(const char *path, const hsi_st_tensor *ts, int n,
                const hsi_st_meta *meta, int n_meta, char *err, size_t errlen);
/* Saves p.value under p.name for every param (state included). */
int hsi_st_save_params(const char *path, const hsi_param *ps, int n,
                       const hsi_st_meta *meta, int n_meta, char *err, size_t errlen);
/* Same, followed by extra tensors (e.g. optimizer moments "opt.m.<name>") for a training state. */
int hsi_st_save_params_extra(const char *path, const hsi_param *ps, int n,
                             const hsi_st_tensor *extra, int n_extra,
                             const hsi_st_meta *meta, int n_meta, char *err, size_t errlen);

/* One entry of an opened file's header. */
typedef struct hsi_st_info {
    const char *name;
    char dtype[8];                  /* "F32", "F16", "I64", ... as in the file */
    int ndim;
    int64_t dims[HSI_ST_MAXDIM];
    int64_t numel;
    uint64_t begin, end;            /* byte offsets in the data buffer */
} hsi_st_info;

typedef struct hsi_st_file hsi_st_file;

/* Opens and validates a file: magic/length, header JSON, every entry's dtype, shape and
 * offsets (inside the file, size = numel * dtype size). NULL with a message on failure. */
hsi_st_file *hsi_st_open(const char *path, char *err, size_t errlen);
void hsi_st_close(hsi_st_file *f);
int hsi_st_count(const hsi_st_file *f);                              /* tensors, metadata excluded */
const hsi_st_info *hsi_st_at(const hsi_st_file *f, int i);           /* header order */
const hsi_st_info *hsi_st_find(const hsi_st_file *f, const char *name); /* NULL if absent */
const char *hsi_st_metadata(const hsi_st_file *f, const char *key);  /* NULL if absent */
/* Reads tensor `name` into out[numel], checking it is F32 and has shape dims[ndim]. Errors:
 * "<file>: no tensor 'x' (the file has 12 tensors)",
 * "<file>: tensor 'x': checkpoint has [128,128,1,1], the net expects [128,64,1,1]",
 * "<file>: tensor 'x': dtype I64, only F32 can be loaded",
 * "<file>: tensor 'x' holds 3 non-finite values (NaN or Inf; ...)" (weights, init, state). */
int hsi_st_read(hsi_st_file *f, const char *name, int ndim, const int64_t *dims, float *out,
                char *err, size_t errlen);
/* hsi_st_read(f, p->name, p->ndim, p->dims, p->value), and for a BN's running variance
 * hsi_st_check_variance. */
int hsi_st_read_param(hsi_st_file *f, const hsi_param *p, char *err, size_t errlen);
/* -1 with "<file>: tensor 'x' holds 2 negative values (the first at index 5, -3.1): a running
 * variance is never negative..." if one of v[0..n) is below 0 (a BN would scale by NaN, and a
 * ReLU after it hide that as 0s); else 0. */
int hsi_st_check_variance(const hsi_st_file *f, const char *name, const float *v, int64_t n,
                          char *err, size_t errlen);
/* Formats dims as "[a,b,c]" into buf; returns buf. */
const char *hsi_st_shape_str(int ndim, const int64_t *dims, char *buf, size_t buflen);

/* ---- png.c ----------------------------------------------------------------------------------- */

/* An RGB raster: pixel (x, y) is rgb[3 * (y * w + x) + 0..2]. */
typedef struct hsi_image {
    int w, h;
    uint8_t *rgb;
} hsi_image;

int hsi_image_alloc(hsi_image *im, int w, int h, uint8_t r, uint8_t g, uint8_t b);  /* filled */
void hsi_image_free(hsi_image *im);
/* 8-bit RGB PNG, written atomically. */
int hsi_png_write(const char *path, const hsi_image *im, char *err, size_t errlen);

/* ---- csv.c: log.csv -------------------------------------------------------------------------
 * One row per call, flushed at once, so a killed run keeps every finished row. The header is
 * written once: when the file is new or empty. Appending to a file whose header differs is an
 * error (a resumed run must log the same columns). */
typedef struct hsi_csv {
    FILE *fp;
    int ncols;
    char *path;
} hsi_csv;

int hsi_csv_open(hsi_csv *c, const char *path, const char *const *cols, int ncols,
                 char *err, size_t errlen);
/* Numbers with "%.9g"; NaN is an empty field; integral values print without exponent up to 2^53. */
int hsi_csv_row(hsi_csv *c, const double *vals, char *err, size_t errlen);
/* Text fields, quoted (RFC 4180) when they hold a comma, quote or newline; NULL is empty. */
int hsi_csv_row_text(hsi_csv *c, const char *const *fields, char *err, size_t errlen);
/* One field as the rows above write it: quoted when it holds a comma, quote or line break
 * (RFC 4180), for the other CSV files (confusion.csv's class names). */
void hsi_csv_field(FILE *fp, const char *s);
void hsi_csv_close(hsi_csv *c);

/* ---- progress.c ------------------------------------------------------------------------------
 * On a terminal: one status line redrawn with '\r' at most every 0.2 s:
 *   epoch 3/200 step 412/27400 [####......] loss 0.4132 812 samples/s ETA 31m12s val OA 93.41%
 * Otherwise: a plain line every `every` steps, and one per validation. */
typedef struct hsi_progress {
    FILE *out;                 /* stderr usually */
    int tty;                   /* redraw mode (isatty at init; tests may set it) */
    int64_t total_steps;       /* for the bar and ETA; 0 = unknown */
    int epochs;                /* total epochs (display only) */
    int batch;                 /* samples per step, for samples/s */
    int every;                 /* plain mode: a line every `every` steps */
    double (*clock)(void);     /* seconds, monotonic; tests may replace it */
    double t0, last_draw, rate_t;
    int64_t rate_step;
    double rate;               /* samples/s, smoothed */
    double val_oa;             /* last validation OA (fraction), NaN if none yet */
    int line_open;             /* tty: a status line is on screen without '\n' */
} hsi_progress;

void hsi_progress_init(hsi_progress *p, FILE *out, int64_t total_steps, int epochs, int batch,
                       int every);
/* A run resumed at step: its samples/s counts the steps after it (not those before the resume). */
void hsi_progress_resume(hsi_progress *p, int64_t step);
/* After each training step (step counts from 1). */
void hsi_progress_step(hsi_progress *p, int64_t step, int epoch, double loss);
/* After each validation: always prints (a full line in both modes). */
void hsi_progress_val(hsi_progress *p, int64_t step, int epoch, double val_loss, double val_oa);
/* A free-form line that does not garble the status line. */
void hsi_progress_note(hsi_progress *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Ends the status line. */
void hsi_progress_done(hsi_progress *p);

#ifdef __cplusplus
}
#endif
#endif /* HSI_IO_H */
