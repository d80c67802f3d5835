/* outset.c — a command's result files replaced as one set. Each destination folder gets a
 * registered temporary folder ".WHAT.tmp.hsicc-PID-XXXXXX" beside the results; writers write
 * there (with the usual atomic writes, names as final); hsi_outset_commit renames every file
 * into its folder inside one commit section (hsi_temp_hold), so a terminating signal finds
 * either the old set or the new one, never old and new files mixed. SIGKILL can leave a
 * temporary folder, which hsi_remove_stale_temps clears under the folder's lock (its name is
 * one it removes).
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsi_io.h"

void hsi_outset_init(hsi_outset *s, const char *what)
{
    memset(s, 0, sizeof *s);
    snprintf(s->what, sizeof s->what, "%s", what);
}

const char *hsi_outset_dir(hsi_outset *s, const char *dir, char *err, size_t errlen)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->f[i].dir, dir)) return s->f[i].tmp;
    if (s->n == HSI_OUTSET_MAX) {
        snprintf(err, errlen, "%s: more than %d output folders in one command", dir, HSI_OUTSET_MAX);
        return NULL;
    }
    size_t n = strlen(dir) + strlen(s->what) + sizeof "/.";
    char *d = strdup(dir), *prefix = malloc(n), *t = NULL;
    if (prefix) {
        snprintf(prefix, n, "%s/.%s", dir, s->what);
        t = hsi_temp_template(prefix);   /* a name hsi_remove_stale_temps knows as ours */
    }
    free(prefix);
    if (!d || !t) {
        free(d);
        free(t);
        snprintf(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    hsi_temp_hold();   /* made and registered as one step: a signal removes it or finds none */
    int made = mkdtemp(t) != NULL, e = errno, slot = made ? hsi_temp_register(t) : -1;
    hsi_temp_release();
    if (!made) {
        snprintf(err, errlen, "%s: cannot create a temporary folder there: %s", dir, strerror(e));
        free(d);
        free(t);
        return NULL;
    }
    s->f[s->n].dir = d;
    s->f[s->n].tmp = t;
    s->f[s->n].slot = slot;
    return s->f[s->n++].tmp;
}

int hsi_output_check(const char *dir, const char *name, char *err, size_t errlen)
{
    char p[4608];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *t = hsi_output_target(p, err, errlen);
    if (!t) return -1;
    int rc = 0;
    struct stat st, sd, sf;
    if (lstat(t, &sf) == 0 && S_ISDIR(sf.st_mode)) {
        snprintf(err, errlen, "%s: is a folder, where the result file goes", t);
        rc = -1;
    } else if (strcmp(t, p) != 0) {
        char *slash = strrchr(t, '/');
        char *td = slash ? strndup(t, slash == t ? 1 : (size_t)(slash - t)) : strdup(".");
        if (!td || stat(td, &st) != 0) {
            snprintf(err, errlen, "%s: a symbolic link to %s, whose folder is missing", p, t);
            rc = -1;
        } else if (stat(dir, &sd) == 0 && sd.st_dev != st.st_dev) {
            snprintf(err, errlen, "%s: a symbolic link to %s, on another filesystem: the results "
                     "are renamed into place from a folder beside them; remove the link or give "
                     "another --out", p, t);
            rc = -1;
        }
        free(td);
    }
    free(t);
    return rc;
}

int hsi_move_files(const char *tmp, const char *dir, int final, char *err, size_t errlen)
{
    char from[4608], to[4608];
    int rc = 0;
    DIR *d = opendir(tmp);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(from, sizeof from, "%s/%s", tmp, de->d_name);
        snprintf(to, sizeof to, "%s/%s", dir, de->d_name);
        if (!final) {
            unlink(from);
            continue;
        }
        char why[600];   /* a link is written through: renamed onto its target */
        char *target = hsi_output_target(to, why, sizeof why);
        if (!target || rename(from, target) != 0) {
            if (rc == 0)
                snprintf(err, errlen, "%s: rename failed: %s", to, target ? strerror(errno) : why);
            rc = -1;
        }
        free(target);
    }
    if (d) closedir(d);
    if (rc == 0) rmdir(tmp);
    return rc;
}

static void forget(hsi_outset *s)
{
    for (int i = 0; i < s->n; i++) {
        hsi_temp_unregister(s->f[i].slot);
        free(s->f[i].dir);
        free(s->f[i].tmp);
    }
    s->n = 0;
}

/* What would make a rename of folder i fail half way: a folder where a file goes, a link into
 * a missing folder or onto another filesystem, a destination we may not write in. Checked for
 * every file before the first rename. */
static int check_folder(const hsi_outset *s, int i, char *err, size_t errlen)
{
    int rc = 0;
    if (access(s->f[i].dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "%s: cannot write there: %s", s->f[i].dir, strerror(errno));
        return -1;
    }
    DIR *d = opendir(s->f[i].tmp);
    for (struct dirent *de; d && rc == 0 && (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            rc = hsi_output_check(s->f[i].dir, de->d_name, err, errlen);
    if (d) closedir(d);
    return rc;
}

int hsi_outset_commit(hsi_outset *s, char *err, size_t errlen)
{
    int rc = 0;
    for (int i = 0; i < s->n && rc == 0; i++)
        rc = check_folder(s, i, err, errlen);
    if (rc != 0) {
        hsi_outset_abort(s);
        return rc;
    }
    hsi_temp_hold();   /* every folder's files renamed, then unregistered, as one step */
    for (int i = 0; i < s->n && rc == 0; i++)
        rc = hsi_move_files(s->f[i].tmp, s->f[i].dir, 1, err, errlen);
    if (rc == 0) forget(s);
    hsi_temp_release();
    if (rc != 0) hsi_outset_abort(s);   /* a rename failed: what was not moved goes */
    return rc;
}

void hsi_outset_abort(hsi_outset *s)
{
    for (int i = 0; i < s->n; i++)   /* removing says nothing: no message buffer */
        hsi_move_files(s->f[i].tmp, s->f[i].dir, 0, NULL, 0);
    forget(s);
}
