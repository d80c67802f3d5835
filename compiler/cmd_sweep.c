/* cmd_sweep.c — `hsicc sweep EXPERIMENT.yaml`: one trainer per point of the experiment's
 * `sweep:` (the crossed product of its values), run N at a time or listed as shell lines for a
 * job array, then every point's metrics.json gathered into sweep.csv and an accuracy plot
 * sweep.png. Per point it writes the resolved experiment (point and --set applied, `{key}`
 * placeholders of init.checkpoint filled in) and builds it with build_trainer (cmd_build.c).
 * Submitting to Slurm (--slurm) and --status are cmd_slurm.c. It does not retry failed points
 * or read the per-run files.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "commands.h"
#include "hsi_config.h"
#include "hsi_data.h"
#include "hsi_eval.h"
#include "hsi_io.h"
#include "sweep.h"

#define MAX_SETS 128
static const char *const METRIC[3] = {"oa", "aa", "kappa"};

static int print_usage(FILE *f)
{
    fprintf(f,
            "usage: hsicc sweep EXPERIMENT.yaml [-j N] [--out DIR] [--jobs-file FILE]\n"
            "                   [--set key=value ...] [--dry-run] [--cc COMPILER] [--verbose]\n"
            "                   [--slurm [sbatch options ...]]\n"
            "       hsicc sweep --collect DIR\n"
            "       hsicc sweep --status DIR\n");
    return 2;
}

static int usage(void)
{
    return print_usage(stderr);
}

int sw_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

char *sw_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    snprintf(s, n, "%s/%s", dir, name);
    return s;
}

/* n points, none locked */
static sw_point *new_points(size_t n)
{
    sw_point *p = calloc(n + 1, sizeof *p);
    for (size_t i = 0; p && i < n; i++) p[i].lock = -1;
    return p;
}

void sw_free(sweep *s)
{
    for (int i = 0; i < s->n; i++) {
        for (int k = 0; s->p[i].vals && k < s->n_keys; k++) free(s->p[i].vals[k]);   /* a point not prepared has none */
        free(s->p[i].vals);
        free(s->p[i].label);
        free(s->p[i].checkpoint);
        hsi_unlock_dir(s->p[i].lock);
    }
    for (int k = 0; k < s->n_keys; k++) free(s->keys[k]);
    free(s->keys);
    free(s->p);
    free(s->exp);
    free(s->out);
}

/* ---- point labels and placeholders -------------------------------------------------------- */

/* A character of a value in a folder name: '/', ',', blanks, control characters and the
 * backslash of an escape (the flow text of "c\nd" is c\nd) become '_'. */
static char name_char(char c)
{
    return c == '/' || c == ',' || c == '\\' || isspace((unsigned char)c) ||
                   iscntrl((unsigned char)c) ? '_' : c;
}

/* A value as it appears in folder names, the CSV and the plot legend: a scalar as written
 * (quotes dropped, other characters as name_char makes them); a list or map by the `name:` of
 * its maps joined with '+' (a `phases` or `domains` value: "step1+step2"); an `init` map with a
 * checkpoint "pretrained"; another list or map "<last key part>#<index>". */
static char *short_value(const char *key, const char *v, int j)
{
    char buf[256];
    size_t n = 0;
    if (v[0] == '{' || v[0] == '[') {
        const char *last = strrchr(key, '.');
        last = last ? last + 1 : key;
        for (const char *c = strstr(v, "{name: "); c && n < sizeof buf - 2; c = strstr(c, "{name: ")) {
            c += 7;
            if (n) buf[n++] = '+';
            while (*c && *c != ',' && *c != '}' && n < sizeof buf - 1)
                if (*c != '"' && *c != '\'') buf[n++] = name_char(*c++);
                else c++;
        }
        buf[n] = 0;
        if (n) return strdup(buf);
        if (!strcmp(last, "init") && v[0] == '{' && strstr(v, "checkpoint"))
            snprintf(buf, sizeof buf, "pretrained");
        else snprintf(buf, sizeof buf, "%s#%d", last, j);
        return strdup(buf);
    }
    for (const char *c = v; *c && n < sizeof buf - 1; c++) {
        if (*c == '"' || *c == '\'') continue;
        buf[n++] = name_char(*c);
    }
    buf[n] = 0;
    return strdup(buf);
}

/* The short value of value j of sweep key k, made unique among the key's values by "#j". */
static char *unique_value(const hsi_exp_sweep_key *k, int j)
{
    char *s = short_value(k->key, k->values[j], j);
    int dup = 0;
    for (int i = 0; i < k->n_values && !dup; i++) {
        char *o = i == j ? NULL : short_value(k->key, k->values[i], i);
        dup = o && !strcmp(o, s);
        free(o);
    }
    if (!dup) return s;
    char *u = malloc(strlen(s) + 16);
    sprintf(u, "%s#%d", s, j);
    free(s);
    return u;
}

/* init.checkpoint with every {key} replaced by the point's short value of that sweep key (full
 * path, or its last part: {defines.depth} or {depth}). NULL with a message on an unknown name. */
static char *fill_placeholders(const char *s, const sweep *w, const sw_point *p, char *err,
                               size_t errlen)
{
    size_t cap = strlen(s) + 1, n = 0;
    for (int k = 0; k < w->n_keys; k++) cap += strlen(p->vals[k]) * (strlen(s) / 2 + 1);
    char *out = malloc(cap);
    for (const char *c = s; *c;) {
        const char *e = *c == '{' ? strchr(c, '}') : NULL;
        if (!e) {
            out[n++] = *c++;
            continue;
        }
        int found = -1, by_last = -1, n_last = 0;
        size_t len = (size_t)(e - c - 1);
        for (int k = 0; k < w->n_keys; k++) {
            const char *key = w->keys[k], *last = strrchr(key, '.');
            last = last ? last + 1 : key;
            if (found < 0 && strlen(key) == len && !strncmp(c + 1, key, len)) found = k;
            if (strlen(last) == len && !strncmp(c + 1, last, len)) by_last = k, n_last++;
        }
        if (found < 0 && n_last > 1) {   /* {depth} with a.depth and b.depth swept */
            int m = snprintf(err, errlen, "init.checkpoint %s: placeholder %.*s names %d sweep "
                             "keys; write the whole key path:", s, (int)(e - c + 1), c, n_last);
            for (int k = 0; k < w->n_keys && m > 0 && (size_t)m < errlen; k++) {
                const char *last = strrchr(w->keys[k], '.');
                last = last ? last + 1 : w->keys[k];
                if (strlen(last) == len && !strncmp(c + 1, last, len))
                    m += snprintf(err + m, errlen - (size_t)m, " {%s}", w->keys[k]);
            }
            free(out);
            return NULL;
        }
        if (found < 0) found = by_last;
        if (found < 0) {
            int m = snprintf(err, errlen, "init.checkpoint %s: unknown placeholder %.*s; the "
                             "sweep keys are:", s, (int)(e - c + 1), c);
            for (int k = 0; k < w->n_keys && m > 0 && (size_t)m < errlen; k++)
                m += snprintf(err + m, errlen - (size_t)m, " {%s}", w->keys[k]);
            free(out);
            return NULL;
        }
        size_t vlen = strlen(p->vals[found]);
        memcpy(out + n, p->vals[found], vlen);
        n += vlen;
        c = e + 1;
    }
    out[n] = 0;
    return out;
}

/* ---- the manifest: what --collect needs to find the points again --------------------------- */

static int manifest_write(const sweep *w, char *err, size_t errlen)
{
    hsi_json j;
    hsi_json_init(&j);
    hsi_json_begin_object(&j);
    hsi_json_key(&j, "experiment");
    hsi_json_string(&j, w->exp);
    hsi_json_key(&j, "keys");
    hsi_json_begin_array(&j);
    for (int k = 0; k < w->n_keys; k++) hsi_json_string(&j, w->keys[k]);
    hsi_json_end_array(&j);
    hsi_json_key(&j, "points");
    hsi_json_begin_array(&j);
    for (int i = 0; i < w->n; i++) {
        hsi_json_begin_object(&j);
        hsi_json_key(&j, "label");
        hsi_json_string(&j, w->p[i].label);
        hsi_json_key(&j, "values");
        hsi_json_begin_array(&j);
        for (int k = 0; k < w->n_keys; k++) hsi_json_string(&j, w->p[i].vals[k]);
        hsi_json_end_array(&j);
        hsi_json_end_object(&j);
    }
    return sw_json_finish(&j, w->out, MANIFEST, err, errlen);
}

int sw_json_finish(hsi_json *j, const char *dir, const char *name, char *err, size_t errlen)
{
    hsi_json_end_array(j);
    hsi_json_end_object(j);
    char *path = sw_path(dir, name);
    int rc = hsi_json_write_file(j, path, err, errlen);
    free(path);
    hsi_json_free(j);
    return rc;
}

hsi_jval *sw_json_load(const char *path, char *err, size_t errlen)
{
    FILE *f = hsi_open_input(path, err, errlen);
    if (!f) return NULL;
    char *text = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len + 65536 > cap) text = realloc(text, cap = 2 * cap + 65536);
        got = fread(text + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    char e2[256];
    hsi_jval *v = hsi_json_parse(text, len, e2, sizeof e2);
    if (!v) snprintf(err, errlen, "%s: %s", path, e2);
    free(text);
    return v;
}

const char *sw_jstr(const hsi_jval *v) { return v && v->type == HSI_JSTRING ? v->str : NULL; }

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int sw_manifest_read(sweep *w, const char *dir, char *err, size_t errlen)
{
    char *path = sw_path(dir, MANIFEST);
    hsi_jval *m = sw_json_load(path, err, errlen);
    int rc = -1;
    const hsi_jval *keys = m ? hsi_jval_get(m, "keys") : NULL,
                   *pts = m ? hsi_jval_get(m, "points") : NULL;
    if (!m) {
        snprintf(err + strlen(err), errlen - strlen(err), " (is %s the folder of a sweep?)", dir);
        goto done;
    }
    if (!keys || keys->type != HSI_JARRAY || !pts || pts->type != HSI_JARRAY || pts->n < 1 ||
        !sw_jstr(hsi_jval_get(m, "experiment"))) {
        snprintf(err, errlen, "%s: not a sweep manifest (keys, points, experiment)%s", path,
                 pts && pts->type == HSI_JARRAY && !pts->n ? ": no points" : "");
        goto done;
    }
    w->exp = strdup(sw_jstr(hsi_jval_get(m, "experiment")));
    w->out = strdup(dir);
    for (size_t k = 0; k < keys->n; k++)
        if (!sw_jstr(&keys->items[k])) {   /* a null key crashed the CSV writer */
            snprintf(err, errlen, "%s: key %zu is not a string", path, k);
            goto done;
        }
    w->n_keys = (int)keys->n;
    w->keys = calloc(keys->n + 1, sizeof *w->keys);
    for (size_t k = 0; k < keys->n; k++) w->keys[k] = xstrdup(sw_jstr(&keys->items[k]));
    w->p = new_points(pts->n);
    for (size_t i = 0; i < pts->n; i++) {
        const hsi_jval *vals = hsi_jval_get(&pts->items[i], "values");
        const char *label = sw_jstr(hsi_jval_get(&pts->items[i], "label"));
        int strings = vals && vals->type == HSI_JARRAY;
        for (size_t k = 0; strings && k < vals->n; k++) strings = sw_jstr(&vals->items[k]) != NULL;
        if (!label || !strings || vals->n != keys->n) {
            snprintf(err, errlen, "%s: point %zu: expected a label and %zu values (strings)", path,
                     i, keys->n);
            goto done;
        }
        /* a label is a folder of DIR (an edited "../x" was read, and with --collect
         * reported, another folder's results as this point's) */
        if (!label[0] || strchr(label, '/') || !strcmp(label, ".") || !strcmp(label, "..")) {
            snprintf(err, errlen, "%s: point %zu: label '%.200s' is not a folder name (one name, "
                     "not . or ..)", path, i, label);
            goto done;
        }
        sw_point *p = &w->p[w->n++];
        p->label = strdup(label);
        p->vals = calloc(keys->n + 1, sizeof *p->vals);
        for (size_t k = 0; k < keys->n; k++) p->vals[k] = xstrdup(sw_jstr(&vals->items[k]));
    }
    /* and each point's own folder: two points of one label were one folder's results twice */
    const char **sorted = malloc(sizeof *sorted * (size_t)(w->n + 1));
    for (int i = 0; sorted && i < w->n; i++) sorted[i] = w->p[i].label;
    if (sorted) qsort(sorted, (size_t)w->n, sizeof *sorted, cmp_str);
    for (int i = 1; sorted && i < w->n; i++)
        if (!strcmp(sorted[i - 1], sorted[i])) {
            snprintf(err, errlen, "%s: label '%.200s' is the label of two points", path, sorted[i]);
            free(sorted);
            goto done;
        }
    free(sorted);
    rc = 0;
done:
    free(path);
    hsi_jval_free(m);
    return rc;
}

/* ---- collecting ----------------------------------------------------------------------------- */

static double jnum(const hsi_jval *v) { return v && v->type == HSI_JNUMBER ? v->num : NAN; }

/* A number of a trainer's metrics.json: NaN when absent or not a number. */
static int jfinite(const hsi_jval *v, double lo, double hi, double *out)
{
    *out = jnum(v);
    return isfinite(*out) && *out >= lo && *out <= hi;
}

int sw_point_results(const sweep *w, sw_point *p)
{
    char *dir = sw_path(w->out, p->label), *path = sw_path(dir, "metrics.json");
    char err[512];
    int rc = -1;
    if (!sw_exists(path)) {
        free(path);
        free(dir);
        return 1;
    }
    /* a trainer writes it atomically and whole: anything else was edited or made by hand, and
     * a row "ok" without numbers (or a point "already done") would claim a run that is not
     * there */
    hsi_jval *m = sw_json_load(path, err, sizeof err);
    const hsi_jval *mean = m ? hsi_jval_get(m, "mean") : NULL, *sd = m ? hsi_jval_get(m, "std") : NULL;
    const hsi_jval *runs = m ? hsi_jval_get(m, "runs") : NULL;
    const char *bad = NULL;
    char what[64];
    if (!m) {
        snprintf(p->why, sizeof p->why, "%.500s", err);
        goto done;
    }
    if (!runs || runs->type != HSI_JARRAY || runs->n < 1)
        bad = "'runs' is not a list of runs";
    for (int k = 0; k < 3 && !bad; k++) {
        double lo = k == 2 ? -1 : 0;   /* kappa may be below 0 */
        if (!jfinite(hsi_jval_get(mean, METRIC[k]), lo, 1, &p->mean[k])) {
            snprintf(what, sizeof what, "'mean.%s' is not a number in [%g, 1]", METRIC[k], lo);
            bad = what;
            break;
        }
        const hsi_jval *s = hsi_jval_get(sd, METRIC[k]);
        p->std[k] = jnum(s);   /* null with one run */
        if (!s || (s->type != HSI_JNULL && !jfinite(s, 0, 2, &p->std[k]))) {
            snprintf(what, sizeof what, "'std.%s' is neither a number nor null", METRIC[k]);
            bad = what;
        }
    }
    if (!bad && !jfinite(hsi_jval_get(m, "wall_seconds"), 0, INFINITY, &p->wall))
        bad = "'wall_seconds' is not a number";
    if (bad && !mean && runs == NULL && jnum(hsi_jval_get(m, "n_runs")) >= 1) {
        snprintf(p->why, sizeof p->why, "%.400s: the training has no test metrics (the split "
                 "left the target domain no test pixel)", path);
        goto done;
    }
    if (bad) {
        snprintf(p->why, sizeof p->why, "%.400s: not the results of a training (%s); remove it "
                 "and run the sweep again to recompute it", path, bad);
        goto done;
    }
    p->runs = (int)runs->n;
    rc = 0;
done:
    hsi_jval_free(m);
    free(path);
    free(dir);
    return rc;
}

void sw_failed_note(const sweep *w, const sw_point *p)
{
    char *dir = sw_path(w->out, p->label), *path = sw_path(dir, SW_FAILED_NOTE), err[1024];
    char line[sizeof p->why + 1];
    int n = snprintf(line, sizeof line, "%s\n", p->why);
    /* no folder: the point failed before it had one (it does not load), nothing to keep */
    if (sw_exists(dir) && hsi_atomic_write(path, line, (size_t)n, err, sizeof err))
        fprintf(stderr, "hsicc: warning: %s (--collect and --status will not know that %s "
                        "failed)\n", err, p->label);
    free(path);
    free(dir);
}

/* Removes the note OUT/<label>/name (a warning when it is there and cannot go). */
static void note_remove(const sweep *w, const sw_point *p, const char *name)
{
    char *dir = sw_path(w->out, p->label), *path = sw_path(dir, name);
    if (unlink(path) && errno != ENOENT)
        fprintf(stderr, "hsicc: warning: %s: cannot remove: %s\n", path, strerror(errno));
    free(path);
    free(dir);
}

void sw_failed_clear(const sweep *w, const sw_point *p) { note_remove(w, p, SW_FAILED_NOTE); }

int sw_failed_read(const sweep *w, sw_point *p)
{
    char *dir = sw_path(w->out, p->label), *path = sw_path(dir, SW_FAILED_NOTE);
    FILE *f = fopen(path, "rb");
    int rc = 0;
    if (f) {
        char line[sizeof p->why] = "";
        size_t n = fread(line, 1, sizeof line - 1, f);
        line[n] = 0;
        line[strcspn(line, "\n")] = 0;
        fclose(f);
        snprintf(p->why, sizeof p->why, "%s (%s)", line[0] ? line : "failed", path);
        rc = 1;
    }
    free(path);
    free(dir);
    return rc;
}

/* The start time of process pid (clock ticks after boot, /proc/PID/stat field 22) into ticks,
 * and whether it is alive (not a zombie): 0, or -1 when there is no such process. */
static int proc_start(long pid, unsigned long long *ticks, int *alive)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *c = strrchr(text, ')');   /* the name may hold blanks and parentheses */
    if (!c || c[1] != ' ') return -1;
    char state = c[2];
    c += 3;
    for (int field = 4; field < 22 && c; field++) c = strchr(c + 1, ' ');   /* to field 22 */
    if (!c || sscanf(c, " %llu", ticks) != 1) return -1;
    *alive = state != 'Z' && state != 'X';
    return 0;
}

/* This boot's id (another boot reuses pids and start times) into id. */
static void boot_id(char *id, size_t len)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "rb");
    id[0] = 0;
    if (f) {
        if (fgets(id, (int)len, f)) id[strcspn(id, "\n")] = 0;
        fclose(f);
    }
}

void sw_running_note(const sweep *w, const sw_point *p, long pid)
{
    char host[256] = "", boot[64], since[64] = "", text[1024], err[1024];
    unsigned long long ticks = 0;
    int alive;
    if (gethostname(host, sizeof host)) snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = 0;
    boot_id(boot, sizeof boot);
    time_t t = time(NULL);
    struct tm tm;
    if (localtime_r(&t, &tm)) strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S", &tm);
    if (proc_start(pid, &ticks, &alive)) return;   /* it is gone already: nothing runs */
    int n = snprintf(text, sizeof text, "pid %ld\nhost %s\nboot %s\nstart %llu\nsince %s\n", pid,
                     host, boot, ticks, since);
    char *dir = sw_path(w->out, p->label), *path = sw_path(dir, SW_RUNNING_NOTE);
    if (hsi_atomic_write(path, text, (size_t)n, err, sizeof err))
        fprintf(stderr, "hsicc: warning: %s (--status will not know that %s runs)\n", err, p->label);
    free(path);
    free(dir);
}

void sw_running_clear(const sweep *w, const sw_point *p) { note_remove(w, p, SW_RUNNING_NOTE); }

int sw_running_read(const sweep *w, const sw_point *p, char *text, size_t len)
{
    char *dir = sw_path(w->out, p->label), *path = sw_path(dir, SW_RUNNING_NOTE);
    char note[1024] = "", spid[32], host[256], boot[64], start[32], since[64], me[256] = "", now[64];
    FILE *f = fopen(path, "rb");
    free(path);
    free(dir);
    if (!f) return -1;
    note[fread(note, 1, sizeof note - 1, f)] = 0;
    fclose(f);
    cmd_line_field(note, "pid", spid, sizeof spid);
    cmd_line_field(note, "host", host, sizeof host);
    cmd_line_field(note, "boot", boot, sizeof boot);
    cmd_line_field(note, "start", start, sizeof start);
    cmd_line_field(note, "since", since, sizeof since);
    long pid = strtol(spid, NULL, 10);
    if (pid <= 0) return -1;   /* not a record of a start */
    if (gethostname(me, sizeof me)) me[0] = 0;
    me[sizeof me - 1] = 0;
    if (strcmp(host, me)) {
        snprintf(text, len, "pid %ld on host %s, since %s", pid, host, since);
        return 2;
    }
    unsigned long long ticks;
    int alive = 0;
    boot_id(now, sizeof now);
    /* that pid, and the very process: started at the recorded tick of this boot (a pid is
     * reused by later processes) */
    int same = !strcmp(boot, now) && !proc_start(pid, &ticks, &alive) &&
               ticks == strtoull(start, NULL, 10) && alive;
    if (same) snprintf(text, len, "pid %ld on this host, since %s", pid, since);
    else snprintf(text, len, "pid %ld on this host", pid);
    return same;
}

/* Reads OUT/label/metrics.json into p (state OK), or leaves p failed / missing. */
static void collect_point(const sweep *w, sw_point *p)
{
    int k = sw_point_results(w, p);
    if (k == 0) {
        p->state = SW_OK;
    } else if (k < 0) {
        p->state = SW_FAILED;
    } else if (p->state != SW_FAILED && sw_failed_read(w, p)) {
        p->state = SW_FAILED;   /* its last run failed (a run of the sweep or an earlier one) */
    } else if (p->state != SW_FAILED) {
        char *dir = sw_path(w->out, p->label);
        p->state = SW_MISSING;
        snprintf(p->why, sizeof p->why, "no %.250s/metrics.json (not run yet, or stopped: see "
                 "%.250s/train.log)", dir, dir);
        free(dir);
    }
}

void sw_buf_add(char **b, size_t *n, size_t *cap, const char *s)
{
    size_t len = strlen(s);
    if (*n + len + 1 > *cap) *b = realloc(*b, *cap = 2 * (*n + len + 1));
    memcpy(*b + *n, s, len + 1);
    *n += len;
}

/* A CSV field, quoted (RFC 4180) when it holds a comma, quote or newline. */
static void csv_field(char **b, size_t *n, size_t *cap, const char *s, int first)
{
    if (!first) sw_buf_add(b, n, cap, ",");
    if (!strpbrk(s, ",\"\n")) {
        sw_buf_add(b, n, cap, s);
        return;
    }
    sw_buf_add(b, n, cap, "\"");
    for (const char *c = s; *c; c++) {
        char t[3] = {*c, *c == '"' ? '"' : 0, 0};
        sw_buf_add(b, n, cap, t);
    }
    sw_buf_add(b, n, cap, "\"");
}

static int write_csv(const sweep *w, char *err, size_t errlen)
{
    char *b = NULL, num[64];
    size_t n = 0, cap = 0;
    csv_field(&b, &n, &cap, "point", 1);
    for (int k = 0; k < w->n_keys; k++) csv_field(&b, &n, &cap, w->keys[k], 0);
    sw_buf_add(&b, &n, &cap, ",status,oa_mean,oa_std,aa_mean,aa_std,kappa_mean,kappa_std,runs,"
                          "wall_seconds,folder\n");
    for (int i = 0; i < w->n; i++) {
        const sw_point *p = &w->p[i];
        snprintf(num, sizeof num, "%d", i);
        csv_field(&b, &n, &cap, num, 1);
        for (int k = 0; k < w->n_keys; k++) csv_field(&b, &n, &cap, p->vals[k], 0);
        csv_field(&b, &n, &cap, p->state == SW_OK ? "ok" : p->state == SW_FAILED ? "failed"
                                                                                  : "missing", 0);
        for (int k = 0; k < 3; k++)
            for (int s = 0; s < 2; s++) {
                double v = s ? p->std[k] : p->mean[k];
                if (p->state == SW_OK && isfinite(v)) snprintf(num, sizeof num, "%.6f", v);
                else num[0] = 0;
                csv_field(&b, &n, &cap, num, 0);
            }
        snprintf(num, sizeof num, "%d", p->state == SW_OK ? p->runs : 0);
        csv_field(&b, &n, &cap, num, 0);
        if (p->state == SW_OK && isfinite(p->wall)) snprintf(num, sizeof num, "%.1f", p->wall);
        else num[0] = 0;
        csv_field(&b, &n, &cap, num, 0);
        csv_field(&b, &n, &cap, p->label, 0);
        sw_buf_add(&b, &n, &cap, "\n");
    }
    char *path = sw_path(w->out, "sweep.csv");
    int rc = hsi_atomic_write(path, b, n, err, errlen);
    free(path);
    free(b);
    return rc;
}

static int is_number(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return end != s && !*end && isfinite(*v);
}

/* Accuracy (percent) against the first key whose values are all numbers (else the point's
 * position along the first key), one line per combination of the other keys' values: one
 * panel for OA, one for kappa. Failed points leave a gap. */
static int write_plot(const sweep *w, char *err, size_t errlen)
{
    int xk = -1;
    double v;
    for (int k = 0; k < w->n_keys && xk < 0; k++) {
        int all = 1;
        for (int i = 0; i < w->n && all; i++) all = is_number(w->p[i].vals[k], &v);
        if (all) xk = k;
    }
    int xkey = xk >= 0 ? xk : 0;
    /* lines: points with equal values on every key but xkey */
    int *line = malloc(sizeof *line * (size_t)w->n), n_lines = 0;
    int *first = malloc(sizeof *first * (size_t)w->n);
    for (int i = 0; i < w->n; i++) {
        line[i] = xk < 0 ? i : -1;   /* no numeric key: one marker per point, named */
        if (xk < 0) first[n_lines++] = i;
        for (int l = 0; l < n_lines && line[i] < 0; l++) {
            int same = 1;
            for (int k = 0; k < w->n_keys && same; k++)
                if (k != xkey) same = !strcmp(w->p[i].vals[k], w->p[first[l]].vals[k]);
            if (same) line[i] = l;
        }
        if (line[i] < 0) {
            first[n_lines] = i;
            line[i] = n_lines++;
        }
    }
    hsi_series *ser = calloc((size_t)(2 * n_lines), sizeof *ser);
    double *xs = malloc(sizeof *xs * (size_t)w->n), *ys = malloc(sizeof *ys * (size_t)(2 * w->n));
    char **names = calloc((size_t)n_lines, sizeof *names);
    int pos = 0;
    for (int l = 0; l < n_lines; l++) {
        char name[512] = "";   /* the other keys' values; "key=value" when several */
        size_t m = 0;
        for (int k = 0; k < w->n_keys; k++)
            if (k != xkey && m < sizeof name)
                m += (size_t)snprintf(name + m, sizeof name - m, "%s%s%s%s", m ? ", " : "",
                                      w->n_keys > 2 ? w->keys[k] : "", w->n_keys > 2 ? "=" : "",
                                      w->p[first[l]].vals[k]);
        names[l] = strdup(xk < 0 ? w->p[first[l]].label : w->n_keys == 1 ? "mean over runs" : name);
        int start = pos;
        for (int i = 0; i < w->n; i++) {
            if (line[i] != l) continue;
            xs[pos] = xk >= 0 ? strtod(w->p[i].vals[xkey], NULL) : i + 1;
            int ok = w->p[i].state == SW_OK;
            ys[pos] = ok ? 100 * w->p[i].mean[0] : NAN;
            ys[w->n + pos] = ok ? 100 * w->p[i].mean[2] : NAN;
            pos++;
        }
        ser[l] = (hsi_series){names[l], xs + start, ys + start, pos - start};
        ser[n_lines + l] = (hsi_series){names[l], xs + start, ys + w->n + start, pos - start};
    }
    char xlabel[300];
    snprintf(xlabel, sizeof xlabel, "%s", xk >= 0 ? w->keys[xkey] : "sweep point (1-based)");
    hsi_panel panels[2] = {{"test OA (%), mean over runs", xlabel, "%", ser, n_lines},
                           {"test kappa x 100, mean over runs", xlabel, "x100", ser + n_lines,
                            n_lines}};
    char *path = sw_path(w->out, "sweep.png");
    int rc = hsi_plot_write_png(path, panels, 2, 0, 0, err, errlen);
    free(path);
    for (int l = 0; l < n_lines; l++) free(names[l]);
    free(names);
    free(ser);
    free(xs);
    free(ys);
    free(line);
    free(first);
    return rc;
}

/* Collects every point, writes sweep.csv and sweep.png, prints the table. Returns 0 when every
 * point has results, 1 otherwise (or when a file cannot be written). */
static int collect(sweep *w)
{
    char err[1024];
    int bad = 0;
    for (int i = 0; i < w->n; i++) {
        collect_point(w, &w->p[i]);
        bad += w->p[i].state != SW_OK;
    }
    if (write_csv(w, err, sizeof err) || write_plot(w, err, sizeof err)) {
        fprintf(stderr, "hsicc: error: %s\n", err);
        return 1;
    }
    printf("\n%-40s %17s %17s %5s %8s\n", "point", "OA", "kappa", "runs", "wall s");
    for (int i = 0; i < w->n; i++) {
        const sw_point *p = &w->p[i];
        if (p->state == SW_OK) {
            char ms[2][64];
            for (int k = 0; k < 2; k++) {
                int m = k ? 2 : 0;
                if (isfinite(p->std[m])) snprintf(ms[k], sizeof ms[k], "%.4f ± %.4f", p->mean[m], p->std[m]);
                else snprintf(ms[k], sizeof ms[k], "%.4f         ", p->mean[m]);
            }
            printf("%-40s %17s %17s %5d %8.1f\n", p->label, ms[0], ms[1], p->runs, p->wall);
        } else printf("%-40s %s: %s\n", p->label, p->state == SW_FAILED ? "FAILED" : "missing", p->why);
    }
    printf("wrote %s/sweep.csv, %s/sweep.png\n", w->out, w->out);
    if (bad) fprintf(stderr, "hsicc: error: %d of %d sweep points have no results\n", bad, w->n);
    return bad ? 1 : 0;
}

/* ---- preparing the points ----------------------------------------------------------------- */

/* The resolved experiment as YAML with what does not change a point's training left out
 * (hsi_experiment_training), to compare a point with the training in its folder. */
static char *comparable_yaml(const hsi_experiment *x, char *err, size_t errlen)
{
    hsi_experiment c = hsi_experiment_training(x);
    return hsi_experiment_to_yaml(&c, err, errlen);
}

/* Line i of text (NUL-separated lines, n of them), or "" past the end. */
static const char *line_at(char **lines, int n, int i) { return i < n ? lines[i] : ""; }

/* The value of a line "  key: value" ("(none)" for no line). */
static const char *value_of(const char *line)
{
    const char *v = strstr(line, ": ");
    return !line[0] ? "(none)" : v ? v + 2 : line + strspn(line, " -");
}

/* Splits text in place into lines. */
static int split_lines(char *text, char ***lines)
{
    int n = 0, cap = 0;
    *lines = NULL;
    for (char *c = text; c && *c;) {
        if (n == cap) *lines = realloc(*lines, sizeof **lines * (size_t)(cap = 2 * cap + 64));
        (*lines)[n++] = c;
        c = strchr(c, '\n');
        if (c) *c++ = 0;
    }
    return n;
}

/* The key path of line i of hsi_experiment_to_yaml's text ("solver.type"): its key and those
 * of the lines above it with less indentation (list items by their list's key). */
static void key_path(char **lines, int n, int i, char *out, size_t len)
{
    out[0] = 0;
    int need = 1 << 30;
    for (int j = i < n ? i : n - 1; j >= 0; j--) {
        const char *l = lines[j];
        int ind = (int)strspn(l, " ");
        if (!strncmp(l + ind, "- ", 2)) ind += 2;
        const char *colon = strchr(l + ind, ':');
        if (l[ind] == '#' || !colon || ind >= need) continue;
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%.*s%s%s", (int)(colon - l - ind), l + ind, out[0] ? "." : "", out);
        snprintf(out, len, "%s", tmp);
        need = ind;
        if (!ind) break;
    }
}

/* 0 when OUT/label holds no training or a training of exactly this point; else -1 with the
 * first difference in err: the sweep would take that training's results (or resume it) as
 * this point's. */
static int same_training(const char *dir, const hsi_experiment *x, const hsi_experiment_opts *base,
                         char *err, size_t errlen)
{
    char *ey = sw_path(dir, "experiment.yaml"), e2[2048];
    if (!sw_exists(ey)) {
        free(ey);
        return 0;
    }
    hsi_experiment_opts o = {ey, NULL, 0, -1, base->registry};
    hsi_experiment *there = hsi_experiment_load(&o, e2, sizeof e2);
    char *a = there ? comparable_yaml(there, e2, sizeof e2) : NULL;
    char *b = a ? comparable_yaml(x, e2, sizeof e2) : NULL;
    int rc = 0;
    if (!b) {
        snprintf(err, errlen, "%s: the training in this point's folder cannot be read (%s); "
                 "remove the folder to run the point again", ey, e2);
        rc = -1;
    } else if (strcmp(a, b)) {
        char **la, **lb, path[600];
        int na = split_lines(a, &la), nb = split_lines(b, &lb), i = 0;
        while (i < na && i < nb && !strcmp(la[i], lb[i])) i++;
        key_path(i < nb ? lb : la, i < nb ? nb : na, i, path, sizeof path);
        snprintf(err, errlen, "%s holds a training of another experiment than this sweep point: "
                 "'%s' is %s there, %s in the point; its results would be taken as the "
                 "point's. Remove the folder to run the point again, or sweep into another --out",
                 ey, path, value_of(line_at(la, na, i)), value_of(line_at(lb, nb, i)));
        free(la);
        free(lb);
        rc = -1;
    }
    free(a);
    free(b);
    hsi_experiment_free(there);
    free(ey);
    return rc;
}

/* Loads point k, names it, fills the checkpoint placeholders; with `write`, writes its resolved
 * experiment OUT/label/build/point.yaml and builds OUT/label/build/trainer from it; else only
 * checks it (the net is compiled in memory). */
static int prepare_point(sweep *w, int k, const hsi_experiment_opts *base, const build_opts *bo,
                         int write)
{
    sw_point *p = &w->p[k];
    char err[4096];
    hsi_experiment_opts xo = *base;
    xo.sweep_point = k;
    hsi_experiment *x = hsi_experiment_load(&xo, err, sizeof err);
    if (!x) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    p->vals = calloc((size_t)w->n_keys + 1, sizeof *p->vals);
    size_t cap = 1, n = 0;
    int stride = x->sweep_points;
    for (int i = 0; i < w->n_keys; i++) {
        stride /= x->sweep[i].n_values;
        int j = (k / stride) % x->sweep[i].n_values;
        p->vals[i] = unique_value(&x->sweep[i], j);
        cap += strlen(w->keys[i]) + strlen(p->vals[i]) + 2;
    }
    p->label = malloc(cap);
    for (int i = 0; i < w->n_keys; i++)
        n += (size_t)sprintf(p->label + n, "%s%s=%s", i ? "," : "", w->keys[i], p->vals[i]);
    if (n > 255) {   /* NAME_MAX: no folder of that name can be made, in any run of the sweep */
        fprintf(stderr, "%s: error: sweep point %d (%s): its folder name is %zu bytes, more than "
                "the 255 a file name may have; shorten the swept values (a list or map of maps "
                "is named by their name: fields)\n", w->exp, k, p->label, n);
        hsi_experiment_free(x);
        return -2;
    }
    int rc = 0;
    char *orig = x->init.checkpoint;
    if (orig && strchr(orig, '{')) {
        p->checkpoint = fill_placeholders(orig, w, p, err, sizeof err);
        if (!p->checkpoint) {
            fprintf(stderr, "%s: error: sweep point %d (%s): %s\n", w->exp, k, p->label, err);
            rc = -1;
        }
        x->init.checkpoint = p->checkpoint;
    } else {
        p->checkpoint = xstrdup(orig);
    }
    char *dir = sw_path(w->out, p->label), *bdir = sw_path(dir, "build");
    char *yaml = sw_path(bdir, "point.yaml"), *trainer = sw_path(bdir, "trainer");
    /* a point's folder holding another experiment's training (the file was edited, --set
     * changed) is refused: its results are not this point's, and its trainer and point.yaml
     * stay; else the point is this sweep's (locked) while it builds and trains it (its trainer
     * locks the run too) */
    if (!rc && write && same_training(dir, x, base, err, sizeof err)) {
        fprintf(stderr, "hsicc: error: %s\n", err);
        rc = -2;
    } else if (!rc && write && (hsi_mkdirs(bdir, err, sizeof err) ||
                         (p->lock = hsi_lock_dir(dir, ".sweep.lock", "hsicc sweep", err, sizeof err)) < 0 ||
                         hsi_experiment_write(x, yaml, err, sizeof err))) {
        fprintf(stderr, "hsicc: error: %s\n", err);
        snprintf(p->why, sizeof p->why, "%.*s", (int)sizeof p->why - 1, err);
        rc = -1;
    }
    x->init.checkpoint = orig;
    hsi_experiment_free(x);
    if (!rc) {
        build_opts o = *bo;
        build_reuse reuse = {0, ""};
        if (write) {
            o.sets = NULL;
            o.n_sets = 0;
            o.sweep_point = -1;
            o.reuse = &reuse;   /* a trainer from the same inputs is not compiled again */
        } else {
            o.sweep_point = k;
            o.stage = BUILD_CHECK;
        }
        if (build_trainer(write ? yaml : w->exp, trainer, &o)) {
            fprintf(stderr, "hsicc: note: while building sweep point %d (%s)\n", k, p->label);
            rc = -1;
        } else if (write) {
            if (reuse.reused) w->reused++;
            else w->built++;
            printf("%s: trainer %s%s%s\n", p->label, reuse.reused ? "reused (its inputs are "
                   "unchanged)" : !strcmp(reuse.why, "none yet") ? "built" : "rebuilt",
                   reuse.reused ? "" : !strcmp(reuse.why, "none yet") ? " (none yet)" : ": ",
                   reuse.reused || !strcmp(reuse.why, "none yet") ? "" : reuse.why);
        }
    }
    free(dir);
    free(bdir);
    free(yaml);
    free(trainer);
    return rc;
}

/* ---- running ------------------------------------------------------------------------------ */

void sw_sh_failure_note(char **b, size_t *n, size_t *cap, const char *note, const char *log,
                        const char *where)
{
    const char *parts[] = {"if [ \"$rc\" -ne 0 ] && [ \"$rc\" -ne 130 ]; then if [ \"$rc\" -gt 128 ]; "
                           "then h=\"killed by signal $((rc - 128)) ($(kill -l $((rc - 128))))\"; "
                           "else h=\"exit status $rc\"; fi; echo \"trainer $h (", where,
                           ", on $(uname -n)); log \"", log, " > ", note, ".tmp.$$ && mv -f ", note,
                           ".tmp.$$ ", note, "; fi"};
    for (size_t k = 0; k < sizeof parts / sizeof *parts; k++) sw_buf_add(b, n, cap, parts[k]);
}

/* Single-quoted for sh. */
void sw_sh_quote(char **b, size_t *n, size_t *cap, const char *s)
{
    sw_buf_add(b, n, cap, "'");
    for (const char *c = s; *c; c++) sw_buf_add(b, n, cap, *c == '\'' ? "'\\''" : (char[2]){*c, 0});
    sw_buf_add(b, n, cap, "'");
}

/* One line per point: train into the point's folder, or resume it when a training is there.
 * A trainer that fails (neither 0 nor 130, stopped with its state saved) leaves its reason in
 * the point's sweep-failed.txt, as in a local run, for --collect and --status; the line ends
 * with the trainer's exit status. */
static int write_jobs(const sweep *w, const char *file, char *err, size_t errlen)
{
    char *b = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < w->n; i++) {
        char *dir = sw_path(w->out, w->p[i].label), *tr = sw_path(dir, "build/trainer");
        char *ey = sw_path(dir, "experiment.yaml"), *log = sw_path(dir, "train.log");
        /* literal text, then a quoted path, in turn */
        char *note = sw_path(dir, SW_FAILED_NOTE);   /* the point runs again */
        const char *parts[] = {"rm -f ", note, "; if [ -f ", ey, " ]; then ", tr, " train --resume ",
                               dir, "; else ", tr, " train --out ", dir, "; fi >> ", log,
                               " 2>&1; rc=$?; "};
        for (int k = 0; k < (int)(sizeof parts / sizeof *parts); k++) {
            if (k % 2) sw_sh_quote(&b, &n, &cap, parts[k]);
            else sw_buf_add(&b, &n, &cap, parts[k]);
        }
        char *qnote = NULL, *qlog = NULL;
        size_t nn = 0, cn = 0, nl = 0, cl = 0;
        sw_sh_quote(&qnote, &nn, &cn, note);
        sw_sh_quote(&qlog, &nl, &cl, log);
        sw_sh_failure_note(&b, &n, &cap, qnote, qlog, "a --jobs-file line");
        sw_buf_add(&b, &n, &cap, "; (exit $rc)\n");
        free(qnote);
        free(qlog);
        free(note);
        free(dir);
        free(tr);
        free(ey);
        free(log);
    }
    int rc = hsi_atomic_write(file, b, n, err, errlen);
    free(b);
    return rc;
}

/* The last lines of a log, indented, to stderr. */
static void print_tail(const char *path, int lines)
{
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char tail[4096];
    fseek(f, 0, SEEK_END);
    long end = ftell(f), start = end > (long)sizeof tail - 1 ? end - (long)sizeof tail + 1 : 0;
    fseek(f, start, SEEK_SET);
    size_t n = fread(tail, 1, sizeof tail - 1, f);
    fclose(f);
    while (n && tail[n - 1] == '\n') n--;
    tail[n] = 0;
    char *c = tail + n;
    for (int k = 0; c > tail && k < lines; k += *c == '\n') c--;
    if (*c == '\n') c++;
    for (char *l = strtok(c, "\n"); l; l = strtok(NULL, "\n")) fprintf(stderr, "    | %s\n", l);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void report_done(const sweep *w, sw_point *p, int st, int done, double secs)
{
    char *dir = sw_path(w->out, p->label), *log = sw_path(dir, "train.log");
    p->exit_code = cmd_status(st);
    if (p->exit_code == 0) {
        printf("[%d/%d] %s: done in %.0f s\n", done, w->n, p->label, secs);
    } else if (WIFEXITED(st) && p->exit_code == 130) {
        /* the trainer was stopped (a signal to it alone): its state is saved, the point is not
         * failed but unfinished, and the sweep run again resumes it */
        fprintf(stderr, "[%d/%d] %s: stopped (exit status 130), its state saved; run the sweep "
                "again to resume it (log %s)\n", done, w->n, p->label, log);
    } else {
        p->state = SW_FAILED;
        char how[96];
        if (WIFSIGNALED(st))   /* the kernel's OOM killer, a kill -9: nothing saved */
            snprintf(how, sizeof how, "killed by signal %d, %s", WTERMSIG(st), strsignal(WTERMSIG(st)));
        else
            snprintf(how, sizeof how, "exit status %d", p->exit_code);
        snprintf(p->why, sizeof p->why, "trainer %s; log %s", how, log);
        sw_failed_note(w, p);
        fprintf(stderr, "[%d/%d] %s: FAILED (%s); its log is %s:\n", done, w->n, p->label, how, log);
        print_tail(log, 4);
    }
    fflush(stdout);
    free(dir);
    free(log);
}

/* Runs the points that are neither finished (metrics.json) nor failed, `jobs` at a time. */
static void run_points(sweep *w, int jobs)
{
    char why[256], omp[24];
    int cores = hsi_cpus_usable(why, sizeof why), each = cores / jobs > 1 ? cores / jobs : 1;
    const char *user = getenv("OMP_NUM_THREADS");   /* the user's choice wins */
    if (user && *user) {
        snprintf(omp, sizeof omp, "%.20s", user);
        each = atoi(user) > 0 ? atoi(user) : each;
    } else {
        snprintf(omp, sizeof omp, "%d", each);
    }
    if ((long)each * (jobs < w->n ? jobs : w->n) > cores)
        fprintf(stderr, "hsicc: warning: %d trainers at a time with %d thread(s) each on %d usable "
                "CPU(s) (%s): oversubscribed, which makes every trainer slower; use -j %d or "
                "fewer%s\n", jobs < w->n ? jobs : w->n, each, cores, why,
                cores / each > 1 ? cores / each : 1, user && *user ? ", or a smaller OMP_NUM_THREADS" : "");
    pid_t *pids = calloc((size_t)jobs, sizeof *pids);
    int *who = calloc((size_t)jobs, sizeof *who), running = 0, next = 0, done = 0;
    double *t0 = calloc((size_t)jobs, sizeof *t0);
    printf("running %d sweep point(s), %d at a time, OMP_NUM_THREADS=%s; logs in %s/<point>/train.log\n",
           w->n, jobs, omp, w->out);
    for (;;) {
        while (running < jobs && next < w->n) {
            sw_point *p = &w->p[next++];
            char *dir = sw_path(w->out, p->label), *metrics = sw_path(dir, "metrics.json");
            char *ey = sw_path(dir, "experiment.yaml"), *log = sw_path(dir, "train.log");
            char *tr = sw_path(dir, "build/trainer");
            int results = p->state == SW_FAILED ? 1 : sw_point_results(w, p);
            if (p->state == SW_FAILED) {
                done++;
            } else if (results == 0) {
                sw_failed_clear(w, p);
                printf("[%d/%d] %s: already done (%s)\n", ++done, w->n, p->label, metrics);
            } else if (results < 0) {   /* not run again: its runs may be there */
                p->state = SW_FAILED;
                fprintf(stderr, "[%d/%d] %s: FAILED: %s\n", ++done, w->n, p->label, p->why);
            } else if (p->checkpoint && !sw_exists(p->checkpoint)) {
                p->state = SW_FAILED;
                snprintf(p->why, sizeof p->why, "init.checkpoint %s does not exist (run the "
                         "pre-training first)", p->checkpoint);
                sw_failed_note(w, p);
                fprintf(stderr, "[%d/%d] %s: FAILED: %s\n", ++done, w->n, p->label, p->why);
            } else {
                int resume = sw_exists(ey);
                char *av[] = {tr, "train", resume ? "--resume" : "--out", dir, NULL};
                int slot = 0;
                while (pids[slot]) slot++;
                sw_failed_clear(w, p);
                pids[slot] = cmd_spawn(av, log, omp);
                if (pids[slot] < 0) {
                    pids[slot] = 0;
                    p->state = SW_FAILED;
                    snprintf(p->why, sizeof p->why, "cannot start %s: %s", tr, strerror(errno));
                    sw_failed_note(w, p);
                    fprintf(stderr, "[%d/%d] %s: FAILED: %s\n", ++done, w->n, p->label, p->why);
                } else {
                    sw_running_note(w, p, (long)pids[slot]);   /* for --status */
                    who[slot] = (int)(p - w->p);
                    t0[slot] = now();
                    running++;
                    printf("[start] %s%s\n", p->label, resume ? " (resuming)" : "");
                    fflush(stdout);
                }
            }
            free(dir);
            free(metrics);
            free(ey);
            free(log);
            free(tr);
        }
        if (!running) break;
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int s = 0; s < jobs; s++)
            if (pids[s] == pid) {
                pids[s] = 0;
                running--;
                sw_running_clear(w, &w->p[who[s]]);
                report_done(w, &w->p[who[s]], st, ++done, now() - t0[s]);
            }
    }
    free(pids);
    free(who);
    free(t0);
}

/* ---- the command ---------------------------------------------------------------------------- */

/* slurm: NULL, or the sbatch options after --slurm (n_slurm of them) */
static int sweep_run(const char *exp, const char *out_opt, const char *jobs_file, int jobs,
                     int dry, const char *const *sets, int n_sets, const build_opts *bo,
                     char *const *slurm, int n_slurm)
{
    char err[4096];
    int out_lock = -1;   /* the sweep folder's, once it is written in */
    hsi_registry *reg = hsi_registry_load(NULL, err, sizeof err);
    if (!reg) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    hsi_experiment_opts xo = {exp, sets, n_sets, -1, reg};
    hsi_experiment *x = hsi_experiment_load(&xo, err, sizeof err);
    if (!x) {
        fprintf(stderr, "%s\n", err);
        hsi_registry_free(reg);
        return 1;
    }
    sweep w = {0};
    int rc = 1;
    if (x->n_sweep == 0) {
        fprintf(stderr, "%s: error: the experiment has no 'sweep:' (build it with hsicc build, "
                        "or add sweep: {key.path: [values]})\n", exp);
        goto done;
    }
    /* --set comes before the point: on a swept key (or inside one) the point's value would
     * replace it, and the sweep would run without what was asked on its command line */
    for (int i = 0; i < n_sets; i++) {
        size_t klen = strcspn(sets[i], "=");
        for (int k = 0; k < x->n_sweep; k++) {
            size_t n = strlen(x->sweep[k].key);
            if (klen >= n && !strncmp(sets[i], x->sweep[k].key, n) &&
                (klen == n || sets[i][n] == '.')) {
                fprintf(stderr, "hsicc: error: --set %s: %s is a sweep key: every point sets it, and this value "
                        "would be ignored; change its values under sweep: instead\n", sets[i],
                        x->sweep[k].key);
                goto done;
            }
        }
    }
    /* before a point is built: the job lines would replace an input (the experiment itself),
     * or cannot be written at all (a folder) */
    if (jobs_file && !dry && cmd_out_not_input("--jobs-file", jobs_file, exp, x)) goto done;
    if (jobs_file && !dry && hsi_check_output(jobs_file, err, sizeof err)) {
        fprintf(stderr, "hsicc: error: --jobs-file %s\n", err);
        goto done;
    }
    w.exp = strdup(exp);
    const char *o = out_opt ? out_opt : x->outputs.dir;
    char cwd[4096];
    if (o[0] != '/' && getcwd(cwd, sizeof cwd)) {   /* absolute: the job lines run anywhere */
        w.out = malloc(strlen(cwd) + strlen(o) + 2);
        sprintf(w.out, "%s/%s", cwd, o);
    } else {
        w.out = strdup(o);
    }
    w.n_keys = x->n_sweep;
    w.keys = calloc((size_t)w.n_keys, sizeof *w.keys);
    for (int k = 0; k < w.n_keys; k++) w.keys[k] = strdup(x->sweep[k].key);
    if (slurm && sw_slurm_busy(&w)) goto done;   /* before a trainer is rebuilt under a job */
    w.n = x->sweep_points;
    w.p = new_points((size_t)w.n);
    int bad = 0;
    /* the whole sweep folder is this sweep's: a second sweep on the same --out stops here,
     * before it touches a point or rewrites the manifest and the table of the first */
    if (!dry && (hsi_mkdirs(w.out, err, sizeof err) ||
                 (out_lock = hsi_lock_dir(w.out, ".sweep.lock", "hsicc sweep", err, sizeof err)) < 0)) {
        fprintf(stderr, "hsicc: error: %s\n", err);
        goto done;
    }
    for (int k = 0; k < w.n; k++) {
        int prc = prepare_point(&w, k, &xo, bo, !dry);
        if (prc) {
            /* the point itself does not load, cannot be a folder, or its folder holds another
             * training */
            if (!w.p[k].label || prc == -2) goto done;
            w.p[k].state = SW_FAILED;
            if (!w.p[k].why[0])
                snprintf(w.p[k].why, sizeof w.p[k].why, "its trainer could not be built");
            if (!dry && w.p[k].lock >= 0) sw_failed_note(&w, &w.p[k]);   /* its folder is ours */
            bad++;
        }
        if (dry) {
            char *dir = sw_path(w.out, w.p[k].label);
            printf("point %d: %s -> %s/%s%s%s\n", k, w.p[k].label, dir,
                   w.p[k].checkpoint ? "  init from " : "", w.p[k].checkpoint ? w.p[k].checkpoint : "",
                   w.p[k].state == SW_FAILED ? "  [does not build]" : "");
            free(dir);
        }
    }
    if (dry) {
        printf("%d point(s) checked%s; nothing written\n", w.n, bad ? ", some do not build" : "");
        rc = bad ? 1 : 0;
        goto done;
    }
    printf("trainers: %d built, %d reused (inputs unchanged since they were built)\n", w.built,
           w.reused);
    if (manifest_write(&w, err, sizeof err)) {
        fprintf(stderr, "hsicc: error: %s\n", err);
        goto done;
    }
    if (jobs_file) {
        if (write_jobs(&w, jobs_file, err, sizeof err)) {
            fprintf(stderr, "hsicc: error: %s\n", err);
            goto done;
        }
        printf("wrote %s: %d line(s), one per point (e.g. sed -n \"${SLURM_ARRAY_TASK_ID}p\" %s "
               "| sh with --array=1-%d); afterwards: hsicc sweep --collect %s\n",
               jobs_file, w.n, jobs_file, w.n, w.out);
        rc = bad ? 1 : 0;
        goto done;
    }
    if (slurm) {
        rc = sw_slurm_submit(&w, slurm, n_slurm) || bad ? 1 : 0;
        goto done;
    }
    run_points(&w, jobs);
    rc = collect(&w);
done:
    hsi_unlock_dir(out_lock);
    sw_free(&w);
    hsi_experiment_free(x);
    hsi_registry_free(reg);
    return rc;
}

/* -j N: 0 (refused below) unless N is a whole number in 1..1024 ("-j 4x" is not 4). */
static int parse_jobs(const char *s)
{
    int n;
    return cmd_int_arg(s, 1, 1024, &n) ? 0 : n;
}

int cmd_sweep(int argc, char **argv)
{
    const char *exp = NULL, *out = NULL, *jobs_file = NULL, *collect_dir = NULL, *status_dir = NULL;
    const char *sets[MAX_SETS];
    char **slurm = NULL;
    int n_sets = 0, jobs = 1, dry = 0, jobs_given = 0, n_slurm = 0;
    build_opts bo = {.sweep_point = -1, .stage = BUILD_TRAINER, .be = {1, 1, 0}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--slurm")) {   /* the rest is for sbatch */
            slurm = argv + i + 1;
            n_slurm = argc - i - 1;
            break;
        }
        jobs_given |= !strncmp(a, "-j", 2);
        if (!strcmp(a, "-j") && v) jobs = parse_jobs(argv[++i]);
        else if (!strncmp(a, "-j", 2) && a[2]) jobs = parse_jobs(a + 2);
        else if (!strcmp(a, "--out") && v) {
            if (drv_once("--out", &out, argv[++i])) return 2;
        } else if (!strcmp(a, "--jobs-file") && v) {
            if (drv_once("--jobs-file", &jobs_file, argv[++i])) return 2;
        } else if (!strcmp(a, "--collect") && v) {
            if (drv_once("--collect", &collect_dir, argv[++i])) return 2;
        } else if (!strcmp(a, "--status") && v) {
            if (drv_once("--status", &status_dir, argv[++i])) return 2;
        }
        else if (!strcmp(a, "--set") && v && n_sets < MAX_SETS) sets[n_sets++] = argv[++i];
        else if (!strcmp(a, "--dry-run")) dry = 1;
        else if (!strcmp(a, "--cc") && v) {
            if (drv_once("--cc", &bo.cc, argv[++i])) return 2;
        }
        else if (!strcmp(a, "--verbose")) bo.verbose = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) return print_usage(stdout), 0;
        else if (!strcmp(a, "--set") && v) {
            fprintf(stderr, "hsicc: error: more than %d --set options\n", MAX_SETS);
            return 2;
        } else if (!v && cmd_missing_value(a, (const char *const[]){"-j", "--out", "--jobs-file",
                                                                     "--collect", "--status", "--set", "--cc",
                                                                     NULL})) {
            return usage();
        } else if (a[0] == '-') {
            cmd_unknown_option(a, (const char *const[]){"--slurm", "-j", "--out", "--jobs-file",
                                                        "--collect", "--status", "--set", "--dry-run",
                                                        "--cc", "--verbose", "--help", NULL});
            return usage();
        } else if (!exp) exp = a;
        else {
            fprintf(stderr, "hsicc: error: unexpected argument '%s' (one experiment per sweep)\n", a);
            return usage();
        }
    }
    if (jobs < 1) {
        fprintf(stderr, "hsicc: error: -j: expected a number of parallel jobs >= 1\n");
        return 2;
    }
    if (slurm && (jobs_given || jobs_file || dry || collect_dir || status_dir)) {
        fprintf(stderr, "hsicc: error: --slurm submits the points to Slurm: it does not go with %s "
                "(and every option after --slurm is passed to sbatch)\n",
                jobs_given ? "-j" : jobs_file ? "--jobs-file" : dry ? "--dry-run" :
                collect_dir ? "--collect" : "--status");
        return 2;
    }
    /* --status and --collect only read DIR: an option for running a sweep given with them
     * was dropped without a word (--collect DIR --out X did not collect X) */
    const char *extra = !(status_dir || collect_dir) ? NULL : jobs_given ? "-j" : out ? "--out"
                      : jobs_file ? "--jobs-file" : n_sets ? "--set" : dry ? "--dry-run"
                      : bo.cc ? "--cc" : NULL;
    if (extra) {
        fprintf(stderr, "hsicc: error: %s DIR reads a sweep's folder: it does not go with %s\n",
                status_dir ? "--status" : "--collect", extra);
        return usage();
    }
    if (status_dir) {
        if (exp || collect_dir) return usage();
        return sw_status(status_dir);
    }
    if (collect_dir) {
        if (exp) {
            fprintf(stderr, "hsicc: error: --collect takes no experiment (it reads DIR/sweep.json)\n");
            return usage();
        }
        sweep w = {0};
        char err[1024];
        if (sw_manifest_read(&w, collect_dir, err, sizeof err)) {
            fprintf(stderr, "hsicc: error: %s\n", err);
            sw_free(&w);
            return 1;
        }
        int rc = collect(&w);
        sw_free(&w);
        return rc;
    }
    if (!exp) return fprintf(stderr, "hsicc: error: sweep needs an experiment (YAML), --collect DIR or --status DIR\n"), usage();
    if (drv_not_stdout("--out", out, "sweep writes a folder of runs")) return 2;
    if (slurm && sw_slurm_check()) return 1;
    return sweep_run(exp, out, jobs_file, jobs, dry, sets, n_sets, &bo, slurm, n_slurm);
}
