/* fetch.c — the data folder: makes sure a registered dataset's files are present and verified
 * (size + SHA-256, cached in a <file>.sha256 sidecar keyed by size and mtime), copying them from
 * a local mirror or downloading them with libcurl into a temporary file that is verified, then
 * renamed. Also loads a scene (cube + gt) and checks their shapes and that every gt value is a
 * class or an ignored value of the registry entry. It never deletes a user's
 * file: a present file with the wrong hash is an error, not a re-download. */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_internal.h"

const char *hsi_data_dir(const hsi_fetch_opts *opts)
{
    if (opts && opts->data_dir && *opts->data_dir)
        return opts->data_dir;
    const char *e = getenv("HSICC_DATA");
    return e && *e ? e : "./data";
}

static const char *mirror_dir(const hsi_fetch_opts *opts)
{
    if (opts && opts->mirror && *opts->mirror)
        return opts->mirror;
    const char *e = getenv("HSICC_DATA_MIRROR");
    return e && *e ? e : NULL;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* mkdir -p */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                return data_err(err, errlen, "%s: cannot create folder: %s", p, strerror(errno));
            *s = c;
            if (!c)
                return 0;
        }
    }
}

/* ---- verification -------------------------------------------------------------------------- */

/* The hash cache beside path; 0 when the name does not fit (then there is no cache). */
static int sidecar_path(const char *path, char *out, size_t n)
{
    size_t len = strlen(path);
    if (len + sizeof ".sha256" > n)
        return 0;
    memcpy(out, path, len);
    memcpy(out + len, ".sha256", sizeof ".sha256");
    return 1;
}

/* 1 if the sidecar records exactly this size, mtime and hash. */
static int sidecar_ok(const char *path, const struct stat *st, const char *sha)
{
    char sp[4608], line[256], hex[65];
    long long size, sec, nsec;
    if (!sidecar_path(path, sp, sizeof sp))
        return 0;
    FILE *f = fopen(sp, "r");
    if (!f)
        return 0;
    int ok = fgets(line, sizeof line, f) != NULL
             && sscanf(line, "%64s %lld %lld %lld", hex, &size, &sec, &nsec) == 4
             && strcmp(hex, sha) == 0 && size == (long long)st->st_size
             && sec == (long long)st->st_mtim.tv_sec && nsec == (long long)st->st_mtim.tv_nsec;
    fclose(f);
    return ok;
}

static void sidecar_write(const char *path, const char *sha)
{
    struct stat st;
    char sp[4608], line[256];
    if (stat(path, &st) != 0 || !sidecar_path(path, sp, sizeof sp))
        return;
    int n = snprintf(line, sizeof line, "%s %lld %lld %lld\n", sha, (long long)st.st_size,
                     (long long)st.st_mtim.tv_sec, (long long)st.st_mtim.tv_nsec);
    char dummy[8];
    data_write_atomic(sp, line, (size_t)n, NULL, 0, dummy, sizeof dummy);  /* a cache: best effort */
}

/* Checks path against f (size, then hash). shown names the file in messages (the mirror file
 * for a copy, the final path otherwise). use_cache: trust a matching sidecar. */
static int verify(const char *path, const char *shown, const hsi_dataset_file *f, int use_cache,
                  char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return data_err(err, errlen, "%s: %s", shown, strerror(errno));
    if (!f->sha256) {
        if (f->size >= 0 && (int64_t)st.st_size != f->size)
            return data_err(err, errlen, "%s: size %lld bytes, expected %lld", shown,
                            (long long)st.st_size, (long long)f->size);
        return 0;
    }
    if (use_cache && sidecar_ok(path, &st, f->sha256))
        return 0;
    char hex[65];
    if (hsi_sha256_file(path, hex, err, errlen) != 0)
        return -1;
    if (strcmp(hex, f->sha256) != 0) {
        char sizes[96];   /* the registry's size, when it gives one (-1: none) */
        if (f->size >= 0)
            snprintf(sizes, sizeof sizes, "size %lld bytes, expected %lld", (long long)st.st_size,
                     (long long)f->size);
        else
            snprintf(sizes, sizeof sizes, "size %lld bytes", (long long)st.st_size);
        return data_err(err, errlen, "%s: SHA-256 mismatch: expected %s, actual %s (%s)", shown,
                        f->sha256, hex, sizes);
    }
    if (use_cache)
        sidecar_write(path, f->sha256);
    return 0;
}

/* ---- getting a file ------------------------------------------------------------------------ */

static int copy_file(const char *from, const char *to, char *err, size_t errlen)
{
    FILE *in = hsi_open_input(from, err, errlen);
    if (!in)
        return -1;
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return data_err(err, errlen, "%s: cannot create: %s", to, strerror(errno));
    }
    char buf[1 << 16];
    size_t n;
    int ok = 1;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    fclose(in);
    ok = (fclose(out) == 0) && ok;
    if (!ok) {
        remove(to);
        return data_err(err, errlen, "copying %s to %s failed: %s", from, to, strerror(errno));
    }
    return 0;
}

static int download(const char *url, const char *to, int verbose, char *err, size_t errlen)
{
    static int curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
            return data_err(err, errlen, "libcurl initialisation failed");
        curl_ready = 1;
    }
    FILE *out = fopen(to, "wb");
    if (!out)
        return data_err(err, errlen, "%s: cannot create: %s", to, strerror(errno));
    CURL *h = curl_easy_init();
    if (!h) {
        fclose(out);
        remove(to);
        return data_err(err, errlen, "libcurl: cannot create a handle");
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, verbose ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "hsicc-fetch/0.1");
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    int ok = (fclose(out) == 0) && rc == CURLE_OK;
    if (!ok) {
        remove(to);
        return data_err(err, errlen, "%s: download failed: %s", url,
                        cerr[0] ? cerr : curl_easy_strerror(rc));
    }
    return 0;
}

static int ensure_file(const hsi_dataset *ds, const hsi_dataset_file *f, const hsi_fetch_opts *o,
                       char *err, size_t errlen)
{
    const char *dir = hsi_data_dir(o), *mirror = mirror_dir(o);
    int verbose = o && o->verbose;
    char folder[4096], path[4400], tmp[4500], src[4400];
    snprintf(folder, sizeof folder, "%s/%s", dir, ds->folder);
    snprintf(path, sizeof path, "%s/%s", folder, f->file);
    struct stat st;
    if (stat(path, &st) == 0)   /* there: a FIFO, directory or device is refused, not replaced */
        return S_ISREG(st.st_mode) ? verify(path, path, f, 1, err, errlen)
                                   : hsi_check_input(path, err, errlen);
    if (errno != ENOENT)        /* a symlink loop, a file where a folder should be: not "missing" */
        return data_err(err, errlen, "%s: %s", path, strerror(errno));
    if (lstat(path, &st) == 0)  /* a link to nothing: a copy would land at its target, elsewhere */
        return data_err(err, errlen, "%s: a symbolic link to a missing file (remove it, or restore "
                        "its target)", path);

    const char *from = NULL;
    if (mirror) {
        snprintf(src, sizeof src, "%s/%s/%s", mirror, ds->folder, f->file);
        if (!is_file(src))
            snprintf(src, sizeof src, "%s/%s", mirror, f->file);
        if (is_file(src))
            from = src;
    }
    int can_download = o && o->download && f->n_urls > 0;
    if (!from && !can_download) {
        char where[4200] = "";
        if (mirror)
            snprintf(where, sizeof where, "; the mirror %s has no %s/%s or %s either", mirror,
                     ds->folder, f->file, f->file);
        return data_err(err, errlen, "dataset '%s' not found in %s (%s)%s; fetch it with: "
                        "hsi-fetch %s  (or set HSICC_DATA_MIRROR / --from DIR)", ds->name,
                        folder, f->file, where, ds->name);
    }
    if (make_dirs(folder, err, errlen) != 0)
        return -1;
    snprintf(tmp, sizeof tmp, "%s.part.%ld", path, (long)getpid());
    if (from) {
        if (verbose)
            fprintf(stderr, "hsi-fetch: %s: copying %s\n", ds->name, from);
        if (copy_file(from, tmp, err, errlen) != 0)
            return -1;
        if (verify(tmp, from, f, 0, err, errlen) != 0) {
            remove(tmp);
            return -1;
        }
    } else {
        int got = 0;
        char last[1024] = "";
        for (int u = 0; u < f->n_urls && !got; u++) {
            if (verbose)
                fprintf(stderr, "hsi-fetch: %s: downloading %s\n", ds->name, f->urls[u]);
            if (download(f->urls[u], tmp, verbose, last, sizeof last) == 0
                && verify(tmp, f->urls[u], f, 0, last, sizeof last) == 0)
                got = 1;
            else
                remove(tmp);
        }
        if (!got)
            return data_err(err, errlen, "dataset '%s': could not get %s: %s (copy the file into "
                            "%s, or set HSICC_DATA_MIRROR / --from DIR)", ds->name, f->file, last,
                            folder);
    }
    if (rename(tmp, path) != 0) {
        data_err(err, errlen, "%s: rename from %s failed: %s", path, tmp, strerror(errno));
        remove(tmp);
        return -1;
    }
    if (f->sha256)
        sidecar_write(path, f->sha256);
    if (verbose)
        fprintf(stderr, "hsi-fetch: %s: %s verified\n", ds->name, path);
    return 0;
}

int hsi_dataset_ensure(const hsi_dataset *ds, const hsi_fetch_opts *opts, char *err, size_t errlen)
{
    if (ensure_file(ds, &ds->cube, opts, err, errlen) != 0)
        return -1;
    return ensure_file(ds, &ds->gt, opts, err, errlen);
}

/* ---- scenes -------------------------------------------------------------------------------- */

static int scene_read(const char *cube_path, const char *cube_var, const char *gt_path,
                      const char *gt_var, int keep16, hsi_scene *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if ((keep16 ? hsi_cube_read16 : hsi_cube_read)(cube_path, cube_var, &out->cube, err, errlen))
        return -1;
    if (hsi_labels_read(gt_path, gt_var, &out->gt, err, errlen) != 0) {
        hsi_scene_free(out);
        return -1;
    }
    if (out->cube.h != out->gt.h || out->cube.w != out->gt.w) {
        data_err(err, errlen, "shape mismatch: cube %s is %d x %d x %d but gt %s is %d x %d",
                 cube_path, out->cube.h, out->cube.w, out->cube.bands, gt_path, out->gt.h,
                 out->gt.w);
        hsi_scene_free(out);
        return -1;
    }
    return 0;
}

int hsi_scene_read(const char *cube_path, const char *cube_var, const char *gt_path,
                   const char *gt_var, hsi_scene *out, char *err, size_t errlen)
{
    return scene_read(cube_path, cube_var, gt_path, gt_var, 0, out, err, errlen);
}

static int by_id(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* "1, 2, 3" into buf[n]: as many ids as fit, then ", ..." */
static void id_list(const int32_t *ids, int count, char *buf, size_t n)
{
    size_t u = 0;
    buf[0] = 0;
    for (int k = 0; k < count; k++) {
        char one[16];
        int m = snprintf(one, sizeof one, "%s%d", k ? ", " : "", (int)ids[k]);
        if (u + (size_t)m + 6 > n) {
            snprintf(buf + u, n - u, ", ...");
            return;
        }
        memcpy(buf + u, one, (size_t)m + 1);
        u += (size_t)m;
    }
}

/* Every gt value is a class id or an ignored value of the registry entry. A value that is
 * neither (a class left out of the list, another dataset's gt) was unlabelled without a word:
 * its pixels never trained or scored, the metrics over the other classes only. */
static int check_gt_labels(const hsi_dataset *ds, const hsi_labels *gt, const char *path,
                           char *err, size_t errlen)
{
    int n = ds->n_classes + ds->n_ignored;
    int32_t *known = malloc(sizeof *known * (size_t)(n > 0 ? n : 1));
    if (!known)
        return data_err(err, errlen, "dataset '%s': out of memory", ds->name);
    for (int k = 0; k < ds->n_classes; k++) known[k] = ds->classes[k].id;
    for (int k = 0; k < ds->n_ignored; k++) known[ds->n_classes + k] = ds->ignored[k];
    char cls[160], ign[80], more[64] = "";
    id_list(known, ds->n_classes, cls, sizeof cls);
    id_list(ds->ignored, ds->n_ignored, ign, sizeof ign);
    qsort(known, (size_t)n, sizeof *known, by_id);
    size_t npx = (size_t)gt->h * (size_t)gt->w, first = npx, count = 0, other = 0;
    for (size_t i = 0; i < npx; i++) {
        if (bsearch(&gt->gt[i], known, (size_t)n, sizeof *known, by_id)) continue;
        if (first == npx) first = i;
        if (gt->gt[i] == gt->gt[first]) count++;
        else other++;
    }
    free(known);
    if (first == npx) return 0;
    if (other) snprintf(more, sizeof more, " (and %zu pixel(s) of other such labels)", other);
    return data_err(err, errlen, "dataset '%s': %s holds label %d, neither a class id of the "
                    "registry (%s) nor an ignored value (%s): %zu pixel(s), the first at row %zu, "
                    "column %zu%s; add it to 'classes', or to 'ignored' if it marks no class",
                    ds->name, path, (int)gt->gt[first], cls,
                    ds->n_ignored ? ign : "its 'ignored' list is empty", count,
                    first / (size_t)gt->w, first % (size_t)gt->w, more);
}

static int scene_load(const hsi_dataset *ds, const hsi_fetch_opts *opts, int keep16,
                      hsi_scene *out, char *err, size_t errlen)
{
    char cp[4400], gp[4400];
    memset(out, 0, sizeof *out);
    if (hsi_dataset_ensure(ds, opts, err, errlen) != 0)
        return -1;
    snprintf(cp, sizeof cp, "%s/%s/%s", hsi_data_dir(opts), ds->folder, ds->cube.file);
    snprintf(gp, sizeof gp, "%s/%s/%s", hsi_data_dir(opts), ds->folder, ds->gt.file);
    if (scene_read(cp, ds->cube.var, gp, ds->gt.var, keep16, out, err, errlen) != 0)
        return -1;
    const char *bad = NULL;
    if (ds->bands > 0 && out->cube.bands != ds->bands)
        bad = "band count";
    else if (ds->h > 0 && (out->cube.h != ds->h || out->cube.w != ds->w))
        bad = "rows x columns";
    if (bad) {
        data_err(err, errlen, "dataset '%s': %s is %d x %d x %d (rows x columns x bands), the "
                 "registry says %d x %d x %d: the %s differs", ds->name, cp, out->cube.h,
                 out->cube.w, out->cube.bands, ds->h > 0 ? ds->h : out->cube.h,
                 ds->h > 0 ? ds->w : out->cube.w, ds->bands > 0 ? ds->bands : out->cube.bands, bad);
        hsi_scene_free(out);
        return -1;
    }
    if (check_gt_labels(ds, &out->gt, gp, err, errlen)) {
        hsi_scene_free(out);
        return -1;
    }
    out->ds = ds;
    return 0;
}

int hsi_scene_load(const hsi_dataset *ds, const hsi_fetch_opts *opts, hsi_scene *out,
                   char *err, size_t errlen)
{
    return scene_load(ds, opts, 0, out, err, errlen);
}

int hsi_scene_load16(const hsi_dataset *ds, const hsi_fetch_opts *opts, hsi_scene *out,
                     char *err, size_t errlen)
{
    return scene_load(ds, opts, 1, out, err, errlen);
}
