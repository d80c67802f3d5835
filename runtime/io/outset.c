/* outset.c — a command's result files replaced as one set. Each destination folder gets a
 * registered temporary folder ".WHAT.tmp.XXXXXX" beside the results; writers write there (with
 * the usual atomic writes, names as final); hsi_outset_commit renames every file into its
 * folder inside one commit section (hsi_temp_hold), so a terminating signal finds either the
 * old set or the new one, never old and new files mixed. SIGKILL can leave a temporary folder,
 * which hsi_remove_stale_temps clears under the folder's lock (its name is one it removes).
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
    size_t n = strlen(dir) + strlen(s->what) + sizeof "/..tmp.XXXXXX";
    char *d = strdup(dir), *t = malloc(n);
    if (!d || !t) {
        free(d);
        free(t);
        snprintf(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    snprintf(t, n, "%s/.%s.tmp.XXXXXX", dir, s->what);
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

/* Moves (final) or removes the files of folder i, then removes the folder (if emptied). */
static int empty_folder(hsi_outset *s, int i, int final, char *err, size_t errlen)
{
    char from[4608], to[4608];
    int rc = 0;
    DIR *d = opendir(s->f[i].tmp);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(from, sizeof from, "%s/%s", s->f[i].tmp, de->d_name);
        snprintf(to, sizeof to, "%s/%s", s->f[i].dir, de->d_name);
        if (!final) {
            unlink(from);
        } else if (rename(from, to) != 0 && rc == 0) {
            snprintf(err, errlen, "%s: rename failed: %s", to, strerror(errno));
            rc = -1;
        }
    }
    if (d) closedir(d);
    if (rc == 0) rmdir(s->f[i].tmp);
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

/* What would make a rename of folder i fail half way: a folder where a file goes, or a
 * destination we may not write in. Checked for every file before the first rename. */
static int check_folder(const hsi_outset *s, int i, char *err, size_t errlen)
{
    char to[4608];
    int rc = 0;
    if (access(s->f[i].dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "%s: cannot write there: %s", s->f[i].dir, strerror(errno));
        return -1;
    }
    DIR *d = opendir(s->f[i].tmp);
    for (struct dirent *de; d && rc == 0 && (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(to, sizeof to, "%s/%s", s->f[i].dir, de->d_name);
        struct stat st;
        if (lstat(to, &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s: is a folder, where the result file goes", to);
            rc = -1;
        }
    }
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
        rc = empty_folder(s, i, 1, err, errlen);
    if (rc == 0) forget(s);
    hsi_temp_release();
    if (rc != 0) hsi_outset_abort(s);   /* a rename failed: what was not moved goes */
    return rc;
}

void hsi_outset_abort(hsi_outset *s)
{
    char e[8];
    for (int i = 0; i < s->n; i++)
        empty_folder(s, i, 0, e, sizeof e);
    forget(s);
}
