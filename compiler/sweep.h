/* sweep.h — what the two halves of `hsicc sweep` share: cmd_sweep.c (points, local runs,
 * job files, collection) and cmd_slurm.c (Slurm job arrays, chains, --status). A sweep's
 * folder holds sweep.json (the manifest: experiment, keys, points in order), one folder per
 * point named by its label, and with --slurm the folder slurm/ (job scripts, jobs.json).
 */
#ifndef HSICC_SWEEP_H
#define HSICC_SWEEP_H

#include <stddef.h>

#include "hsi_io.h"

#define MANIFEST "sweep.json"

typedef enum sw_state { SW_PENDING, SW_OK, SW_FAILED, SW_MISSING } sw_state;

/* One point: its folder, the value of every key (short form), and its results. */
typedef struct sw_point {
    char *label;               /* folder name: key=value,... (values in short form) */
    char **vals;               /* [n_keys] short values */
    char *checkpoint;          /* init.checkpoint after filling placeholders, or NULL */
    sw_state state;
    int exit_code;             /* of the trainer (or of the build), when failed */
    char why[600];             /* failure text */
    double mean[3], std[3];    /* oa, aa, kappa */
    int runs;
    double wall;
    int lock;                  /* descriptor of the point's lock (another sweep keeps out), or -1 */
} sw_point;

typedef struct sweep {
    char *exp;                 /* experiment file */
    char *out;                 /* output folder (absolute when made by a sweep) */
    int n_keys;
    char **keys;
    int n;
    sw_point *p;               /* [n], in manifest order: point i is array task i */
    int built, reused;         /* trainers built, and kept from an earlier run (inputs unchanged) */
} sweep;

/* ---- cmd_sweep.c ---- */
int sw_exists(const char *path);
char *sw_path(const char *dir, const char *name);               /* "dir/name", malloc'd */
void sw_free(sweep *s);
hsi_jval *sw_json_load(const char *path, char *err, size_t errlen);
/* Ends j's open array and top object, writes it atomically to dir/name, frees j. 0 or 1. */
int sw_json_finish(hsi_json *j, const char *dir, const char *name, char *err, size_t errlen);
const char *sw_jstr(const hsi_jval *v);                          /* a string value, or NULL */
/* Reads DIR/sweep.json into w (points without results). 0, or -1 with a message. */
int sw_manifest_read(sweep *w, const char *dir, char *err, size_t errlen);
/* The results in OUT/<label>/metrics.json into p (mean, std, runs, wall): 0 when they are a
 * trainer's summary, 1 when there is no such file, -1 when it is there but unreadable or not a
 * summary of finished runs (p->why names the file and what is wrong). */
int sw_point_results(const sweep *w, sw_point *p);
/* A point's failure in a local run (trainer exit status, missing checkpoint, no trainer) is kept
 * in OUT/<label>/sweep-failed.txt until the point is started again, so that --collect and
 * --status report it as failed, not as missing or started. */
#define SW_FAILED_NOTE "sweep-failed.txt"
void sw_failed_note(const sweep *w, const sw_point *p);    /* writes p->why (atomically) */
void sw_failed_clear(const sweep *w, const sw_point *p);   /* the point runs again */
/* 1 and p->why = the note when the point's last local run failed, else 0. */
int sw_failed_read(const sweep *w, sw_point *p);
/* A trainer the sweep started here is recorded in OUT/<label>/sweep-running.txt (pid, host,
 * boot, the process's start time) until the sweep sees it end, so that --status tells a point
 * that trains from one whose trainer is gone (the sweep killed, the machine rebooted). */
#define SW_RUNNING_NOTE "sweep-running.txt"
void sw_running_note(const sweep *w, const sw_point *p, long pid);
void sw_running_clear(const sweep *w, const sw_point *p);
/* -1: no record; 1: that very process runs on this host (text: "pid N on this host, since T");
 * 0: it has ended (text: "pid N on this host"); 2: it was started on another host (text:
 * "pid N on host H, since T"), which cannot be checked from here. */
int sw_running_read(const sweep *w, const sw_point *p, char *text, size_t len);
void sw_buf_add(char **b, size_t *n, size_t *cap, const char *s);   /* appends to a growing buffer */
void sw_sh_quote(char **b, size_t *n, size_t *cap, const char *s);  /* appends 's', quoted for sh */
/* Appends shell text that, after rc=$? of a trainer, keeps its failure (an exit status other
 * than 0 and 130, the stop with its state saved; a signal by number and name) in the note, as
 * "trainer exit status 1 (WHERE, on HOST); log LOG" (a temporary file, then mv): note and log
 * are shell words ('quoted' or "$p/..."), where text for inside double quotes. A --jobs-file
 * line and the Slurm job script keep failures as a local run does. */
void sw_sh_failure_note(char **b, size_t *n, size_t *cap, const char *note, const char *log,
                        const char *where);

/* ---- cmd_slurm.c ---- */
/* 0 when sbatch is installed and the controller answers; else one error on stderr and -1. */
int sw_slurm_check(void);
/* Refuses (-1, message) when jobs of an earlier submission into w->out still wait or run. */
int sw_slurm_busy(const sweep *w);
/* Submits the points of w that are neither done nor failed as one job array (a job script
 * w->out/slurm/train.sh), with afterok dependencies on the jobs of other sweeps whose points
 * write their checkpoints, and a collect job after the array; writes w->out/slurm/jobs.json.
 * opts: sbatch options for every job. Returns the exit status of hsicc sweep. */
int sw_slurm_submit(sweep *w, char *const *opts, int n_opts);
/* hsicc sweep --status DIR: every point's state (done, running, pending, failed, ...), with
 * its Slurm job and state when it was submitted. Returns the exit status. */
int sw_status(const char *dir);

#endif
