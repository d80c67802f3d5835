/* cmd_slurm.c — `hsicc sweep EXPERIMENT.yaml --slurm [sbatch options]` and
 * `hsicc sweep --status DIR`.
 *
 * Submitting: the points that have no results yet become one job array (task i = point i of
 * sweep.json) running DIR/slurm/train.sh, which trains its point, or resumes it when a training
 * is there, and asks Slurm to requeue it when the time limit comes near (the trainer saves its
 * state on SIGTERM). A point whose init.checkpoint lies in the folder of a point of another sweep
 * submitted the same way waits for exactly that point's job (afterok). A collect job after the
 * array writes sweep.csv and sweep.png. The job ids go to DIR/slurm/jobs.json.
 * Status: every point's state from its folder (metrics.json: done) and from Slurm (squeue, then
 * sacct for jobs squeue has forgotten).
 * It talks to Slurm only through its commands (sbatch, scontrol, squeue, sacct, sinfo), and
 * builds nothing itself: cmd_sweep.c has built every point's trainer before.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "hsi_io.h"
#include "sweep.h"

#define JOBS "slurm/jobs.json"

/* ---- running Slurm's commands ---------------------------------------------------------------- */

/* 1 if prog is an executable file in a folder of $PATH. */
static int on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[4200];
    for (const char *d = path ? path : "/usr/bin:/bin"; *d;) {
        size_t n = strcspn(d, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, n ? d : ".", prog);
        if (access(buf, X_OK) == 0) return 1;
        d += n + (d[n] == ':');
    }
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Runs argv, its stdout into *out and stderr into *errs (malloc'd, NUL-terminated). Returns its
 * exit status (cmd_status), -1 when it cannot be started, -2 when it was killed after
 * timeout_s seconds (0: no limit). */
static int run_capture_limit(char *const argv[], char **out, char **errs, int timeout_s)
{
    int po[2], pe[2];
    *out = *errs = NULL;
    if (pipe(po)) return -1;
    if (pipe(pe)) {
        close(po[0]);
        close(po[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        close(po[1]);
        close(pe[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        return -1;
    }
    char *buf[2] = {NULL, NULL};
    size_t len[2] = {0, 0}, cap[2] = {0, 0};
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2, late = 0;
    double end = now() + timeout_s;
    while (open_fds) {
        int wait_ms = timeout_s ? (int)((end - now()) * 1000) : -1;
        if (timeout_s && wait_ms <= 0) {
            kill(pid, SIGKILL);
            late = 1;
            break;
        }
        if (poll(fds, 2, wait_ms) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int k = 0; k < 2; k++) {
            if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            if (len[k] + 4097 > cap[k]) buf[k] = realloc(buf[k], cap[k] = 2 * cap[k] + 8192);
            ssize_t got = read(fds[k].fd, buf[k] + len[k], 4096);
            if (got > 0) {
                len[k] += (size_t)got;
            } else if (got == 0 || errno != EINTR) {
                close(fds[k].fd);
                fds[k].fd = -1;
                open_fds--;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        if (fds[k].fd >= 0) close(fds[k].fd);
        if (!buf[k]) buf[k] = malloc(1);
        buf[k][len[k]] = 0;
    }
    *out = buf[0];
    *errs = buf[1];
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return late ? -2 : cmd_status(st);
}

static int run_capture(char *const argv[], char **out, char **errs)
{
    return run_capture_limit(argv, out, errs, 0);
}

/* The first line of s (at most n - 1 characters) into line. */
static void first_line(const char *s, char *line, size_t n)
{
    snprintf(line, n, "%.*s", (int)strcspn(s, "\n"), s);
}

int sw_slurm_check(void)
{
    if (!on_path("sbatch") || !on_path("squeue") || !on_path("sinfo") || !on_path("scontrol")) {
        fprintf(stderr, "hsicc: error: --slurm: Slurm's commands (sbatch, squeue, scontrol, sinfo) "
                        "are not installed here; run hsicc sweep --slurm where sbatch works (a "
                        "cluster's login node), or run the sweep here without --slurm\n");
        return -1;
    }
    const char *conf = getenv("SLURM_CONF");
    if (conf && *conf && !sw_exists(conf)) {   /* sinfo would retry for a minute */
        fprintf(stderr, "hsicc: error: --slurm: SLURM_CONF=%s: no such file\n", conf);
        return -1;
    }
    char *out, *errs, line[300];
    int st = run_capture_limit((char *[]){"sinfo", "-h", "-o", "%P", NULL}, &out, &errs, 30);
    first_line(errs && errs[0] ? errs : "no answer", line, sizeof line);
    if (st != 0)
        fprintf(stderr, "hsicc: error: --slurm: Slurm does not answer (%s%s%s); is slurmctld "
                        "running, and is this machine configured as its client (SLURM_CONF, "
                        "/etc/slurm/slurm.conf)?\n", strncmp(line, "sinfo", 5) ? "sinfo: " : "",
                line, st == -2 ? "; no answer after 30 s" : "");
    free(out);
    free(errs);
    return st == 0 ? 0 : -1;
}

/* ---- job states ------------------------------------------------------------------------------ */

typedef struct sl_job {
    char id[64];               /* "12_3" (array task) or "14" */
    char state[32];            /* PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ... */
    char reason[96];           /* why it is pending ("Dependency", "BeginTime"), or "" */
} sl_job;

typedef struct sl_jobs {
    sl_job *j;
    int n, cap;
    char err[300];             /* why Slurm gave no answer (squeue failed), or "" */
} sl_jobs;

/* Adds the rows "id|state|reason" of text (squeue -o "%i|%T|%r", sacct -P -o JobID,State). */
static void add_rows(sl_jobs *js, char *text)
{
    for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
        char *bar = strchr(l, '|');
        if (!bar) continue;
        *bar = 0;
        char *state = bar + 1, *bar2 = strchr(state, '|');
        if (bar2) *bar2 = 0;
        if (js->n == js->cap) js->j = realloc(js->j, sizeof *js->j * (size_t)(js->cap = 2 * js->cap + 16));
        sl_job *j = &js->j[js->n++];
        snprintf(j->id, sizeof j->id, "%s", l);
        /* sacct: "CANCELLED by 0" */
        snprintf(j->state, sizeof j->state, "%.*s", (int)strcspn(state, " "), state);
        snprintf(j->reason, sizeof j->reason, "%s", bar2 && strcmp(bar2 + 1, "None") ? bar2 + 1 : "");
    }
}

/* Every task of job `id` (an array or a single job) that Slurm knows: squeue first (the jobs
 * slurmctld holds, finished ones for a few minutes), else sacct (accounting, when the cluster
 * keeps it). Returns how many were found. */
static int query_job(sl_jobs *js, const char *id)
{
    char *out, *errs, ids[80];
    snprintf(ids, sizeof ids, "--jobs=%s", id);
    int before = js->n;
    int st = run_capture_limit((char *[]){"squeue", "-h", "-r", "-t", "all", ids, "-o", "%i|%T|%r",
                                          NULL}, &out, &errs, 60);
    if (st == 0) {
        add_rows(js, out);
    } else if (!js->err[0]) {   /* no answer is not "no such job": say it, do not guess */
        char line[250];
        first_line(st == -2 ? "no answer after 60 s" : errs && errs[0] ? errs : "no message",
                   line, sizeof line);
        snprintf(js->err, sizeof js->err, "squeue: %s", line);
    }
    free(out);
    free(errs);
    if (js->n == before && on_path("sacct")) {
        if (run_capture_limit((char *[]){"sacct", "-n", "-X", "-P", ids, "-o", "JobID,State",
                                         NULL}, &out, &errs, 60) == 0)
            add_rows(js, out);
        free(out);
        free(errs);
    }
    return js->n - before;
}

static const sl_job *find_job(const sl_jobs *js, const char *id)
{
    for (int i = 0; id && i < js->n; i++)
        if (!strcmp(js->j[i].id, id)) return &js->j[i];
    return NULL;
}

/* "pending", "running" or "ended" for a Slurm job state. */
static const char *state_class(const char *state)
{
    static const char *const pending[] = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                                          "RESV_DEL_HOLD", "SPECIAL_EXIT", NULL};
    static const char *const running[] = {"RUNNING", "COMPLETING", "CONFIGURING", "SIGNALING",
                                          "STAGE_OUT", "SUSPENDED", "STOPPED", "RESIZING", NULL};
    for (int i = 0; pending[i]; i++)
        if (!strcmp(state, pending[i])) return "pending";
    for (int i = 0; running[i]; i++)
        if (!strcmp(state, running[i])) return "running";
    return "ended";
}

/* ---- jobs.json --------------------------------------------------------------------------------- */

/* What a submission recorded: the array and collect job ids, and every point's job ("A_i") or
 * NULL (not submitted: done before, or failed to build). */
typedef struct sl_record {
    char *array, *collect;
    int n;
    char **label, **job;
} sl_record;

static void record_free(sl_record *r)
{
    for (int i = 0; i < r->n; i++) {
        free(r->label[i]);
        free(r->job[i]);
    }
    free(r->label);
    free(r->job);
    free(r->array);
    free(r->collect);
    memset(r, 0, sizeof *r);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* Reads DIR/slurm/jobs.json: 1 when read, 0 when there is none, -1 (message) when unreadable. */
static int record_read(sl_record *r, const char *dir, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    char *path = sw_path(dir, JOBS);
    if (!sw_exists(path)) {
        free(path);
        return 0;
    }
    hsi_jval *v = sw_json_load(path, err, errlen);
    const hsi_jval *pts = v ? hsi_jval_get(v, "points") : NULL;
    int rc = -1;
    if (v && (!pts || pts->type != HSI_JARRAY)) snprintf(err, errlen, "%s: no list 'points'", path);
    if (v && pts && pts->type == HSI_JARRAY) {
        r->array = dup_or_null(sw_jstr(hsi_jval_get(v, "array")));
        r->collect = dup_or_null(sw_jstr(hsi_jval_get(v, "collect")));
        r->label = calloc(pts->n + 1, sizeof *r->label);
        r->job = calloc(pts->n + 1, sizeof *r->job);
        for (size_t i = 0; i < pts->n; i++) {
            const char *l = sw_jstr(hsi_jval_get(&pts->items[i], "label"));
            if (!l) continue;
            r->label[r->n] = strdup(l);
            r->job[r->n++] = dup_or_null(sw_jstr(hsi_jval_get(&pts->items[i], "job")));
        }
        rc = 1;
    }
    hsi_jval_free(v);
    free(path);
    return rc;
}

/* The Slurm state of every job of a record (array tasks and collect job). */
static void record_states(const sl_record *r, sl_jobs *js)
{
    if (r->array) query_job(js, r->array);
    if (r->collect && !js->err[0]) query_job(js, r->collect);   /* once is enough to not answer */
}

int sw_slurm_busy(const sweep *w)
{
    sl_record r;
    char err[1024];
    int k = record_read(&r, w->out, err, sizeof err);
    if (k <= 0) {
        if (k < 0) fprintf(stderr, "hsicc: warning: %s (an earlier submission is not checked)\n", err);
        return 0;
    }
    sl_jobs js = {0};
    record_states(&r, &js);
    if (js.err[0]) {   /* they may still run: a second array would train their points again */
        fprintf(stderr, "hsicc: error: %s: cannot tell whether the jobs of an earlier submission "
                "(array %s) still wait or run: Slurm does not answer (%s)\n", w->out,
                r.array ? r.array : "-", js.err);
        free(js.j);
        record_free(&r);
        return -1;
    }
    char busy[512] = "";
    size_t n = 0;
    for (int i = 0; i < js.n && n < sizeof busy - 80; i++)
        if (strcmp(state_class(js.j[i].state), "ended"))
            n += (size_t)snprintf(busy + n, sizeof busy - n, "%s%s %s", n ? ", " : "", js.j[i].id,
                                  js.j[i].state);
    if (n)
        fprintf(stderr, "hsicc: error: %s: jobs of an earlier submission still wait or run (%s); "
                        "wait for them (hsicc sweep --status %s) or cancel them (scancel %s%s%s) "
                        "before submitting again\n", w->out, busy, w->out,
                r.array ? r.array : "", r.array && r.collect ? " " : "", r.collect ? r.collect : "");
    free(js.j);
    record_free(&r);
    return n ? -1 : 0;
}

/* ---- chains ------------------------------------------------------------------------------------ */

/* The job that trains the point of another --slurm sweep whose folder holds path (a checkpoint):
 * walks up from path to a folder with sweep.json; the name below it is the point, looked up in
 * that folder's slurm/jobs.json. The job id ("A_i") into job; 0 if there is one. */
static int producer(const char *path, char *job, size_t n)
{
    char buf[4200], cwd[4096];
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd)) snprintf(buf, sizeof buf, "%s", path);
    else snprintf(buf, sizeof buf, "%s/%s", cwd, path);
    int rc = -1;
    for (char *slash = strrchr(buf, '/'); rc && slash && slash > buf; slash = strrchr(buf, '/')) {
        char label[1024];
        snprintf(label, sizeof label, "%s", slash + 1);
        *slash = 0;
        char *manifest = sw_path(buf, MANIFEST);
        int is_sweep = sw_exists(manifest);
        free(manifest);
        if (!is_sweep) continue;
        sl_record r;
        char err[512];
        if (record_read(&r, buf, err, sizeof err) > 0)
            for (int i = 0; i < r.n; i++)
                if (!strcmp(r.label[i], label) && r.job[i]) {
                    snprintf(job, n, "%s", r.job[i]);
                    rc = 0;
                }
        record_free(&r);
        break;
    }
    return rc;
}

/* NULL while job id waits or runs; else its final state ("FAILED", ...), or "(forgotten by
 * Slurm)" when neither squeue nor sacct knows it. */
static const char *job_ended(const char *id)
{
    static char state[64];
    sl_jobs js = {0};
    query_job(&js, id);
    const sl_job *j = find_job(&js, id);
    const char *rc = NULL;
    if (!j && !js.err[0]) rc = "(forgotten by Slurm)";   /* no answer: Slurm judges the afterok */
    else if (!strcmp(state_class(j->state), "ended")) rc = strcpy(state, j->state);
    free(js.j);
    return rc;
}

/* ---- submitting ------------------------------------------------------------------------------ */

/* Writes the script text b[0..n) (and frees it) to path, executable. */
static int write_script(const char *path, char *b, size_t n, char *err, size_t errlen)
{
    int rc = hsi_atomic_write(path, b, n, err, errlen);
    free(b);
    if (!rc && chmod(path, 0755)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* DIR/slurm/train.sh: the array's job script. Task i trains point i into its folder (resuming
 * a training that is there), its output appended to the point's train.log; SIGUSR1 (sent by
 * Slurm before the time limit, --signal) or SIGTERM (preemption, scancel, scontrol requeue)
 * make the trainer save its state and stop; after SIGUSR1 the task requeues itself so that it
 * resumes. --cpus-per-task gives the trainer its threads. */
static int write_train_script(const sweep *w, const char *path, char *err, size_t errlen)
{
    char *b = NULL;
    size_t n = 0, cap = 0;
    sw_buf_add(&b, &n, &cap,
               "#!/bin/sh\n"
               "# generated by hsicc sweep --slurm: one array task per sweep point (task i = point i\n"
               "# of sweep.json); submitted with sbatch --array=... --requeue --signal=B:USR1@120\n"
               "case \"${SLURM_ARRAY_TASK_ID:-}\" in\n");
    for (int i = 0; i < w->n; i++) {
        char num[32];
        snprintf(num, sizeof num, "  %d) p=", i);
        sw_buf_add(&b, &n, &cap, num);
        char *dir = sw_path(w->out, w->p[i].label);
        sw_sh_quote(&b, &n, &cap, dir);
        free(dir);
        sw_buf_add(&b, &n, &cap, " ;;\n");
    }
    sw_buf_add(&b, &n, &cap,
               "  *) echo \"$0: no sweep point ${SLURM_ARRAY_TASK_ID:-} (run it as a job array task)\" >&2; exit 1 ;;\n"
               "esac\n"
               "if [ -f \"$p/metrics.json\" ]; then echo \"$p: done already\"; exit 0; fi\n"
               "rm -f \"$p/" SW_FAILED_NOTE "\"   # the point runs again\n"
               "# --cpus-per-task: the trainer runs that many threads (SLURM_CPUS_PER_TASK), not an\n"
               "# OMP_NUM_THREADS exported from where the sweep was submitted\n"
               "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then unset OMP_NUM_THREADS; fi\n"
               "if [ -f \"$p/experiment.yaml\" ]; then mode=--resume; else mode=--out; fi\n"
               "echo \"== job ${SLURM_JOB_ID:-} (array task ${SLURM_ARRAY_JOB_ID:-}_${SLURM_ARRAY_TASK_ID}, "
               "restart ${SLURM_RESTART_COUNT:-0}) on $(hostname): train $mode\" >> \"$p/train.log\"\n"
               "pid= requeue=0\n"
               "trap 'requeue=1; [ -n \"$pid\" ] && kill -TERM \"$pid\" 2>/dev/null' USR1\n"
               "trap '[ -n \"$pid\" ] && kill -TERM \"$pid\" 2>/dev/null' TERM INT\n"
               "\"$p/build/trainer\" train $mode \"$p\" >> \"$p/train.log\" 2>&1 &\n"
               "pid=$!\n"
               "# wait returns early (128 + the signal) when a signal is trapped: wait again until\n"
               "# the trainer has ended, then once more for its own status (it may have ended\n"
               "# between the interrupted wait and the check)\n"
               "while :; do wait \"$pid\"; kill -0 \"$pid\" 2>/dev/null || break; done\n"
               "wait \"$pid\"; rc=$?\n"
               "# a failure is kept in the point's folder, as a local run keeps it (--collect, and\n"
               "# --status once Slurm has forgotten the job)\n");
    sw_sh_failure_note(&b, &n, &cap, "\"$p/" SW_FAILED_NOTE "\"", "\"$p/train.log\"",
                       "Slurm job ${SLURM_JOB_ID:-}");
    sw_buf_add(&b, &n, &cap,
               "\n"
               "if [ \"$rc\" -eq 130 ] && [ \"$requeue\" -eq 1 ]; then\n"
               "  echo \"== time limit near: state saved, requeueing job $SLURM_JOB_ID\" >> \"$p/train.log\"\n"
               "  scontrol requeue \"$SLURM_JOB_ID\"\n"
               "fi\n"
               "exit \"$rc\"\n");
    return write_script(path, b, n, err, errlen);
}

/* DIR/slurm/collect.sh: hsicc sweep --collect DIR, run by the job after the array. */
static int write_collect_script(const sweep *w, const char *path, char *err, size_t errlen)
{
    char self[4096];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0) {
        snprintf(err, errlen, "cannot find the hsicc program (/proc/self/exe): %s", strerror(errno));
        return -1;
    }
    self[k] = 0;
    char *b = NULL;
    size_t n = 0, cap = 0;
    sw_buf_add(&b, &n, &cap, "#!/bin/sh\n# generated by hsicc sweep --slurm: the table and plot "
                             "once the array has ended\nexec ");
    sw_sh_quote(&b, &n, &cap, self);
    sw_buf_add(&b, &n, &cap, " sweep --collect ");
    sw_sh_quote(&b, &n, &cap, w->out);
    sw_buf_add(&b, &n, &cap, "\n");
    return write_script(path, b, n, err, errlen);
}

/* Runs sbatch --parsable with our options, the user's, then the script; the job id into id. */
static int sbatch(const char *const *ours, int n_ours, char *const *opts, int n_opts,
                  const char *script, char *id, size_t idlen)
{
    char **av = calloc((size_t)(n_ours + n_opts + 4), sizeof *av);
    int n = 0;
    av[n++] = "sbatch";
    av[n++] = "--parsable";
    for (int i = 0; i < n_ours; i++) av[n++] = (char *)ours[i];
    for (int i = 0; i < n_opts; i++) av[n++] = opts[i];
    av[n++] = (char *)script;
    char *out, *errs;
    int st = run_capture(av, &out, &errs);
    size_t len = strspn(out ? out : "", "0123456789");
    int rc = 0;
    if (st != 0 || len == 0 || len >= idlen) {
        fprintf(stderr, "hsicc: error: sbatch failed (exit status %d) for %s:\n%s", st, script,
                errs && errs[0] ? errs : "(no message)\n");
        rc = -1;
    } else {
        snprintf(id, idlen, "%.*s", (int)len, out);
    }
    free(out);
    free(errs);
    free(av);
    return rc;
}

/* "0-3,5,7-8" for the sorted indices idx[0..n). */
static void ranges(const int *idx, int n, char *s, size_t len)
{
    size_t k = 0;
    s[0] = 0;
    for (int i = 0; i < n && k < len;) {
        int j = i;
        while (j + 1 < n && idx[j + 1] == idx[j] + 1) j++;
        if (j > i) k += (size_t)snprintf(s + k, len - k, "%s%d-%d", k ? "," : "", idx[i], idx[j]);
        else k += (size_t)snprintf(s + k, len - k, "%s%d", k ? "," : "", idx[i]);
        i = j + 1;
    }
}

/* "afterok:A_1:B_2" for deps[0..n) (one string per dependency), "" for none. */
static void afterok(char *const *deps, int n, char *s, size_t len)
{
    size_t k = 0;
    s[0] = 0;
    for (int i = 0; i < n && k < len; i++)
        k += (size_t)snprintf(s + k, len - k, "%s%s", i ? ":" : "afterok:", deps[i]);
}

static int record_write(const sweep *w, const char *array, const char *collect, char **job,
                        char ***after, const int *n_after, char *err, size_t errlen)
{
    hsi_json j;
    hsi_json_init(&j);
    hsi_json_begin_object(&j);
    hsi_json_key(&j, "array");
    hsi_json_string(&j, array);
    hsi_json_key(&j, "collect");
    hsi_json_string(&j, collect);
    hsi_json_key(&j, "points");
    hsi_json_begin_array(&j);
    for (int i = 0; i < w->n; i++) {
        hsi_json_begin_object(&j);
        hsi_json_key(&j, "label");
        hsi_json_string(&j, w->p[i].label);
        hsi_json_key(&j, "job");
        hsi_json_string(&j, job[i]);
        hsi_json_key(&j, "after");
        hsi_json_begin_array(&j);
        for (int d = 0; d < n_after[i]; d++) hsi_json_string(&j, after[i][d]);
        hsi_json_end_array(&j);
        hsi_json_end_object(&j);
    }
    return sw_json_finish(&j, w->out, JOBS, err, errlen);
}

/* A string list with no repeats: adds s unless it is there. */
static void add_unique(char ***list, int *n, const char *s)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp((*list)[i], s)) return;
    *list = realloc(*list, sizeof **list * (size_t)(*n + 1));
    (*list)[(*n)++] = strdup(s);
}

int sw_slurm_submit(sweep *w, char *const *opts, int n_opts)
{
    for (int i = 0; i < n_opts; i++)
        if (!strncmp(opts[i], "--array", 7) || !strncmp(opts[i], "--dependency", 12) ||
            !strcmp(opts[i], "-a") || !strcmp(opts[i], "-d") || !strncmp(opts[i], "--wrap", 6)) {
            fprintf(stderr, "hsicc: error: --slurm: sbatch option %s is hsicc's to set (one array "
                            "task per point, dependencies from the checkpoints)\n", opts[i]);
            return 1;
        }
    char err[4096], *sdir = sw_path(w->out, "slurm");
    char *train = sw_path(sdir, "train.sh"), *collect = sw_path(sdir, "collect.sh");
    char *outs = sw_path(sdir, "%A_%a.out"), *couts = sw_path(sdir, "collect_%j.out");
    int *idx = calloc((size_t)w->n + 1, sizeof *idx), n_idx = 0, rc = 1, failed = 0;
    char **job = calloc((size_t)w->n + 1, sizeof *job), **all = NULL;
    char ***after = calloc((size_t)w->n + 1, sizeof *after);
    int *n_after = calloc((size_t)w->n + 1, sizeof *n_after), n_all = 0;
    char array[64] = "", coll[64] = "";
    /* which points run, and the jobs each waits for */
    for (int i = 0; i < w->n; i++) {
        sw_point *p = &w->p[i];
        char *dir = sw_path(w->out, p->label), *metrics = sw_path(dir, "metrics.json"), dep[128];
        const char *ended = NULL;   /* the state of a producer job that can no longer write */
        int results = p->state == SW_FAILED ? 1 : sw_point_results(w, p);
        if (p->state == SW_FAILED) {
            failed++;
        } else if (results == 0) {
            printf("%s: done already\n", p->label);
        } else if (results < 0) {
            fprintf(stderr, "%s: FAILED: %s\n", p->label, p->why);
            p->state = SW_FAILED;
            failed++;
        } else if (p->checkpoint && !sw_exists(p->checkpoint) &&
                   producer(p->checkpoint, dep, sizeof dep)) {
            fprintf(stderr, "%s: FAILED: init.checkpoint %s does not exist, and no Slurm job of "
                            "another sweep writes it (submit the pre-training first)\n",
                    p->label, p->checkpoint);
            p->state = SW_FAILED;
            failed++;
        } else if (p->checkpoint && !sw_exists(p->checkpoint) && (ended = job_ended(dep))) {
            fprintf(stderr, "%s: FAILED: init.checkpoint %s does not exist, and job %s, which was "
                            "to write it, ended %s (see its point's train.log; submit that sweep "
                            "again)\n", p->label, p->checkpoint, dep, ended);
            p->state = SW_FAILED;
            failed++;
        } else {
            if (p->checkpoint && !sw_exists(p->checkpoint)) {
                add_unique(&after[i], &n_after[i], dep);
                add_unique(&all, &n_all, dep);
            }
            sw_failed_clear(w, p);   /* a failure of a local run: the job runs it again */
            idx[n_idx++] = i;
        }
        free(dir);
        free(metrics);
    }
    if (hsi_mkdirs(sdir, err, sizeof err) || write_train_script(w, train, err, sizeof err) ||
        write_collect_script(w, collect, err, sizeof err)) {
        fprintf(stderr, "hsicc: error: %s\n", err);
        goto done;
    }
    if (n_idx) {
        char spec[4096], deps[4096], name[300];
        ranges(idx, n_idx, spec, sizeof spec);
        afterok(all, n_all, deps, sizeof deps);
        const char *base = strrchr(w->out, '/');
        snprintf(name, sizeof name, "--job-name=hsicc:%s", base ? base + 1 : w->out);
        char arr[4200], out[4300], dopt[4200];
        snprintf(arr, sizeof arr, "--array=%s", spec);
        snprintf(out, sizeof out, "--output=%s", outs);
        snprintf(dopt, sizeof dopt, "--dependency=%s", deps);
        const char *ours[] = {arr, name, out, "--open-mode=append", "--requeue",
                              "--signal=B:USR1@120", "--kill-on-invalid-dep=yes", dopt};
        if (sbatch(ours, n_all ? 8 : 7, opts, n_opts, train, array, sizeof array)) goto done;
        for (int k = 0; k < n_idx; k++) {
            int i = idx[k];
            char id[128];
            snprintf(id, sizeof id, "%s_%d", array, i);
            job[i] = strdup(id);
            /* the array waits for every job any point needs; a point that needs fewer waits
             * for exactly its own (never earlier than it should: a subset is a weaker wait) */
            if (n_after[i] == n_all) continue;
            char jo[200], d[4200];
            afterok(after[i], n_after[i], deps, sizeof deps);
            snprintf(jo, sizeof jo, "JobId=%s", id);
            snprintf(d, sizeof d, "Dependency=%s", deps);
            char *out2, *errs;
            int st = run_capture((char *[]){"scontrol", "update", jo, d, NULL}, &out2, &errs);
            if (st != 0)
                fprintf(stderr, "hsicc: warning: scontrol update %s %s failed (%s): the point "
                                "waits for all of %s\n", jo, d, errs ? errs : "", dopt + 13);
            free(out2);
            free(errs);
        }
        char cdep[128];
        snprintf(cdep, sizeof cdep, "--dependency=afterany:%s", array);
        snprintf(name, sizeof name, "--job-name=hsicc:%s:collect", base ? base + 1 : w->out);
        snprintf(out, sizeof out, "--output=%s", couts);
        const char *cours[] = {cdep, name, out, "--open-mode=append"};
        /* the array is in the queue whatever happens now: it is recorded below, so that
         * --status follows it and a second submission does not train its points again */
        if (sbatch(cours, 4, opts, n_opts, collect, coll, sizeof coll)) coll[0] = 0;
    }
    if (record_write(w, n_idx ? array : NULL, n_idx && coll[0] ? coll : NULL, job, after,
                     n_after, err, sizeof err)) {
        fprintf(stderr, "hsicc: error: %s%s%s%s\n", err, n_idx ? " (job array " : "",
                n_idx ? array : "", n_idx ? " is submitted: cancel it with scancel)" : "");
        goto done;
    }
    if (n_idx && !coll[0]) {
        fprintf(stderr, "hsicc: error: the collect job was not submitted (above), but job array %s "
                "is (recorded in %s/%s): cancel it (scancel %s) and submit again, or run hsicc "
                "sweep --collect %s once it has ended\n", array, w->out, JOBS, array, w->out);
        goto done;
    }
    if (n_idx) {
        printf("submitted %d point(s) as Slurm job array %s (tasks ", n_idx, array);
        char spec[4096];
        ranges(idx, n_idx, spec, sizeof spec);
        printf("%s), then the collect job %s; job ids in %s/%s\n", spec, coll, w->out, JOBS);
        for (int k = 0; k < n_idx; k++)
            if (n_after[idx[k]]) {
                afterok(after[idx[k]], n_after[idx[k]], spec, sizeof spec);
                printf("  %s waits for %s\n", w->p[idx[k]].label, spec + 8);
            }
        printf("follow it with: hsicc sweep --status %s\n", w->out);
    } else {
        printf("nothing to submit: every point is done%s (the table: hsicc sweep --collect %s)\n",
               failed ? " or failed" : "", w->out);
    }
    rc = failed ? 1 : 0;
done:
    for (int i = 0; i < w->n; i++) {
        free(job[i]);
        for (int d = 0; d < n_after[i]; d++) free(after[i][d]);
        free(after[i]);
    }
    for (int d = 0; d < n_all; d++) free(all[d]);
    free(all);
    free(job);
    free(after);
    free(n_after);
    free(idx);
    free(sdir);
    free(train);
    free(collect);
    free(outs);
    free(couts);
    return rc;
}

/* ---- status ------------------------------------------------------------------------------------ */

int sw_status(const char *dir)
{
    sweep w = {0};
    char err[1024];
    if (sw_manifest_read(&w, dir, err, sizeof err)) {
        fprintf(stderr, "hsicc: error: %s\n", err);
        sw_free(&w);
        return 1;
    }
    sl_record r;
    int have = record_read(&r, dir, err, sizeof err);
    if (have < 0) fprintf(stderr, "hsicc: warning: %s\n", err);
    sl_jobs js = {0};
    if (have > 0 && on_path("squeue")) record_states(&r, &js);
    printf("sweep %s: %d point(s)", dir, w.n);
    if (have > 0 && r.array) printf("; Slurm job array %s, collect job %s", r.array, r.collect ? r.collect : "-");
    printf("\n");
    int count[6] = {0};
    static const char *const names[6] = {"done", "running", "pending", "failed", "started", "not started"};
    size_t width = 10;
    for (int i = 0; i < w.n; i++)
        if (strlen(w.p[i].label) > width) width = strlen(w.p[i].label);
    for (int i = 0; i < w.n; i++) {
        const char *label = w.p[i].label, *id = NULL;
        for (int k = 0; have > 0 && k < r.n && !id; k++)
            if (!strcmp(r.label[k], label)) id = r.job[k] ? r.job[k] : "";
        const sl_job *sj = id && id[0] ? find_job(&js, id) : NULL;
        char *pdir = sw_path(dir, label), *metrics = sw_path(pdir, "metrics.json");
        char *ey = sw_path(pdir, "experiment.yaml");
        int s, results = sw_point_results(&w, &w.p[i]), here = -1;
        char ran[400] = "";   /* the trainer a local sweep started, when it recorded one */
        if (results == 0) s = 0;
        else if (results < 0) s = 3;   /* a metrics.json that holds no results */
        else if (sj && !strcmp(state_class(sj->state), "running")) s = 1;
        else if (sj && !strcmp(state_class(sj->state), "pending")) s = 2;
        else if (sj) s = 3;
        else if ((here = sw_running_read(&w, &w.p[i], ran, sizeof ran)) == 1) s = 1;
        else if (sw_failed_read(&w, &w.p[i])) s = 3;   /* its last local run failed */
        else s = sw_exists(ey) ? 4 : 5;
        count[s]++;
        char more[1200] = "", *log = sw_path(pdir, "train.log");
        size_t m = 0;
        if (id && id[0])
            m += (size_t)snprintf(more, sizeof more, "  job %s %s%s%s%s", id,
                                  sj ? sj->state : js.err[0] ? "(Slurm does not answer)"
                                                             : "(not known to Slurm any more)",
                                  sj && sj->reason[0] ? " (" : "", sj ? sj->reason : "",
                                  sj && sj->reason[0] ? ")" : "");
        if ((results < 0 || (s == 3 && !sj)) && m < sizeof more)
            snprintf(more + m, sizeof more - m, "  %s", w.p[i].why);
        else if (s == 3 && sw_exists(log) && m < sizeof more)
            snprintf(more + m, sizeof more - m, "  log %s", log);
        if (s == 1 && here == 1)
            snprintf(more, sizeof more, "  %s", ran);
        else if (s == 4 && here == 0)
            snprintf(more, sizeof more, "  (stopped: its trainer, %s, has ended; hsicc sweep "
                     "resumes it)", ran);
        else if (s == 4 && here == 2)
            snprintf(more, sizeof more, "  (its trainer was started as %s: whether it still runs "
                     "cannot be seen from here; hsicc sweep resumes it once stopped)", ran);
        else if (s == 4 && !(sj == NULL && id && id[0] && js.err[0]))
            snprintf(more, sizeof more, "  (running here, or stopped: hsicc sweep resumes it)");
        free(log);
        if (more[0]) printf("  %-*s  %-11s%s\n", (int)width, label, names[s], more);
        else printf("  %-*s  %s\n", (int)width, label, names[s]);
        free(pdir);
        free(metrics);
        free(ey);
    }
    if (have > 0 && r.collect) {
        const sl_job *sj = find_job(&js, r.collect);
        printf("  %-*s  %-11s  job %s %s%s%s%s\n", (int)width, "(collect)",
               sj ? (strcmp(state_class(sj->state), "ended") ? state_class(sj->state) :
                     !strcmp(sj->state, "COMPLETED") ? "done" : "failed") : "",
               r.collect, sj ? sj->state : js.err[0] ? "(Slurm does not answer)"
                                                     : "(not known to Slurm any more)",
               sj && sj->reason[0] ? " (" : "", sj ? sj->reason : "", sj && sj->reason[0] ? ")" : "");
    }
    printf("%d done, %d running, %d pending, %d failed, %d started, %d not started\n", count[0],
           count[1], count[2], count[3], count[4], count[5]);
    int rc = 0;
    if (js.err[0]) {   /* the states of the points with jobs are the folders' alone */
        fprintf(stderr, "hsicc: error: Slurm does not answer (%s): the states of the points "
                "without results are not known (is slurmctld running?)\n", js.err);
        rc = 1;
    }
    free(js.j);
    if (have > 0) record_free(&r);
    sw_free(&w);
    return rc;
}
