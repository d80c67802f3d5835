/* safetensors.c — checkpoints in the safetensors format (the format PyTorch users load with
 * `safetensors.torch.load_file`): write named F32 tensors atomically; open a file, validate its
 * header (every offset inside the file, sizes consistent), list it, read tensors by name with a
 * shape check whose message names the file, the tensor and both shapes.
 * Not here: dtypes other than F32 for loading, mmap, or the load map (which tensor goes where:
 * the caller decides, with hsi_st_find / hsi_st_at).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_io.h"

#define HEADER_MAX (100u << 20)  /* the reference implementation's limit too */

struct hsi_st_file {
    char *path;
    FILE *fp;
    uint64_t data_start;         /* 8 + header length */
    uint64_t data_len;
    int n;
    hsi_st_info *infos;
    char **meta_keys, **meta_vals;
    int n_meta;
};

static int host_is_le(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

const char *hsi_st_shape_str(int ndim, const int64_t *dims, char *buf, size_t buflen)
{
    size_t k = 0;
    int w = snprintf(buf, buflen, "[");
    for (int i = 0; i < ndim && w >= 0; i++) {
        k += (size_t)w;
        if (k >= buflen)
            return buf;
        w = snprintf(buf + k, buflen - k, i ? ",%" PRId64 : "%" PRId64, dims[i]);
    }
    if (w >= 0 && k + (size_t)w < buflen)
        snprintf(buf + k + (size_t)w, buflen - k - (size_t)w, "]");
    return buf;
}

/* ---- writing ---------------------------------------------------------------------------- */

static int64_t numel_of(int ndim, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= dims[i];
    return n;
}

/* Writes the F32 data of one tensor little-endian. */
static int put_f32(FILE *fp, const float *x, int64_t n)
{
    if (host_is_le())
        return fwrite(x, sizeof(float), (size_t)n, fp) == (size_t)n ? 0 : -1;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        uint8_t b[4] = { (uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24) };
        if (fwrite(b, 1, 4, fp) != 4)
            return -1;
    }
    return 0;
}

static int save_all(const char *path, const hsi_st_tensor *const *ts, int n,
                    const hsi_st_meta *meta, int n_meta, char *err, size_t errlen)
{
    char shape[160];
    for (int i = 0; i < n; i++) {
        const hsi_st_tensor *t = ts[i];
        if (!t->name || !t->name[0] || strcmp(t->name, "__metadata__") == 0 || t->ndim < 0 ||
            t->ndim > HSI_ST_MAXDIM || !t->data) {
            snprintf(err, errlen, "%s: cannot save tensor '%.200s': bad name, rank or data", path,
                     t->name ? t->name : "(null)");
            return -1;
        }
        for (int d = 0; d < t->ndim; d++)
            if (t->dims[d] < 0) {
                snprintf(err, errlen, "%s: cannot save tensor '%.200s': negative dimension in %s",
                         path, t->name, hsi_st_shape_str(t->ndim, t->dims, shape, sizeof shape));
                return -1;
            }
        for (int k = 0; k < i; k++)
            if (strcmp(ts[k]->name, t->name) == 0) {
                snprintf(err, errlen, "%s: cannot save: two tensors named '%s'", path, t->name);
                return -1;
            }
    }
    hsi_json j;
    hsi_json_init(&j);
    hsi_json_begin_object(&j);
    if (n_meta > 0) {
        hsi_json_key(&j, "__metadata__");
        hsi_json_begin_object(&j);
        for (int m = 0; m < n_meta; m++) {
            hsi_json_key(&j, meta[m].key);
            hsi_json_string(&j, meta[m].value);
        }
        hsi_json_end_object(&j);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const hsi_st_tensor *t = ts[i];
        uint64_t bytes = (uint64_t)numel_of(t->ndim, t->dims) * 4u;
        hsi_json_key(&j, t->name);
        hsi_json_begin_object(&j);
        hsi_json_key(&j, "dtype"); hsi_json_string(&j, "F32");
        hsi_json_key(&j, "shape");
        hsi_json_begin_array(&j);
        for (int d = 0; d < t->ndim; d++)
            hsi_json_int(&j, t->dims[d]);
        hsi_json_end_array(&j);
        hsi_json_key(&j, "data_offsets");
        hsi_json_begin_array(&j);
        hsi_json_int(&j, (int64_t)off);
        hsi_json_int(&j, (int64_t)(off + bytes));
        hsi_json_end_array(&j);
        hsi_json_end_object(&j);
        off += bytes;
    }
    hsi_json_end_object(&j);
    if (j.oom) {
        hsi_json_free(&j);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    uint64_t hlen = (j.len + 7u) & ~(uint64_t)7u;
    uint8_t le[8];
    for (int b = 0; b < 8; b++)
        le[b] = (uint8_t)(hlen >> (8 * b));
    hsi_atomic_file af;
    if (hsi_atomic_open(&af, path, err, errlen)) {
        hsi_json_free(&j);
        return -1;
    }
    int bad = fwrite(le, 1, 8, af.fp) != 8 || fwrite(j.buf, 1, j.len, af.fp) != j.len;
    for (uint64_t p = j.len; p < hlen && !bad; p++)
        bad = fputc(' ', af.fp) == EOF;
    hsi_json_free(&j);
    for (int i = 0; i < n && !bad; i++)
        bad = put_f32(af.fp, ts[i]->data, numel_of(ts[i]->ndim, ts[i]->dims)) != 0;
    return hsi_atomic_commit(&af, err, errlen);   /* a failed write: its message, no temp file */
}

int hsi_st_save_params_extra(const char *path, const hsi_param *ps, int n,
                             const hsi_st_tensor *extra, int n_extra,
                             const hsi_st_meta *meta, int n_meta, char *err, size_t errlen)
{
    int total = n + n_extra;
    hsi_st_tensor *own = calloc((size_t)(n > 0 ? n : 1), sizeof *own);
    const hsi_st_tensor **ptrs = calloc((size_t)(total > 0 ? total : 1), sizeof *ptrs);
    if (!own || !ptrs) {
        free(own);
        free(ptrs);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        own[i].name = ps[i].name;
        own[i].ndim = ps[i].ndim;
        for (int d = 0; d < ps[i].ndim && d < 5; d++)
            own[i].dims[d] = ps[i].dims[d];
        own[i].data = ps[i].value;
        ptrs[i] = &own[i];
    }
    for (int i = 0; i < n_extra; i++)
        ptrs[n + i] = &extra[i];
    int rc = save_all(path, ptrs, total, meta, n_meta, err, errlen);
    free(own);
    free(ptrs);
    return rc;
}

int hsi_st_save_params(const char *path, const hsi_param *ps, int n,
                       const hsi_st_meta *meta, int n_meta, char *err, size_t errlen)
{
    return hsi_st_save_params_extra(path, ps, n, NULL, 0, meta, n_meta, err, errlen);
}

int hsi_st_save(const char *path, const hsi_st_tensor *ts, int n,
                const hsi_st_meta *meta, int n_meta, char *err, size_t errlen)
{
    return hsi_st_save_params_extra(path, NULL, 0, ts, n, meta, n_meta, err, errlen);
}

/* ---- reading ---------------------------------------------------------------------------- */

void hsi_st_close(hsi_st_file *f)
{
    if (!f)
        return;
    if (f->fp)
        fclose(f->fp);
    for (int i = 0; i < f->n; i++)
        free((char *)f->infos[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->infos);
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->path);
    free(f);
}

static int dtype_size(const char *dt)
{
    static const struct { const char *name; int size; } table[] = {
        { "F64", 8 }, { "F32", 4 }, { "F16", 2 }, { "BF16", 2 }, { "I64", 8 }, { "I32", 4 },
        { "I16", 2 }, { "I8", 1 }, { "U64", 8 }, { "U32", 4 }, { "U16", 2 }, { "U8", 1 },
        { "BOOL", 1 }, { "F8_E4M3", 1 }, { "F8_E5M2", 1 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, dt) == 0)
            return table[i].size;
    return 0;
}

/* Validates one header entry into info (name not yet set). */
static int parse_entry(hsi_st_file *f, const char *name, const hsi_jval *v, hsi_st_info *info,
                       char *err, size_t errlen)
{
    const hsi_jval *dt = hsi_jval_get(v, "dtype");
    const hsi_jval *sh = hsi_jval_get(v, "shape");
    const hsi_jval *off = hsi_jval_get(v, "data_offsets");
    if (v->type != HSI_JOBJECT || !dt || dt->type != HSI_JSTRING || !sh ||
        sh->type != HSI_JARRAY || !off || off->type != HSI_JARRAY || off->n != 2) {
        snprintf(err, errlen,
                 "%s: bad header: tensor '%.200s' needs \"dtype\" (string), \"shape\" (array) and "
                 "\"data_offsets\" ([begin, end])", f->path, name);
        return -1;
    }
    int dsize = dtype_size(dt->str);
    if (!dsize || dt->n >= sizeof info->dtype) {
        snprintf(err, errlen, "%s: bad header: tensor '%.200s' has unknown dtype '%.20s'", f->path,
                 name, dt->str);
        return -1;
    }
    memcpy(info->dtype, dt->str, dt->n + 1);
    if (sh->n > HSI_ST_MAXDIM) {
        snprintf(err, errlen, "%s: tensor '%.200s' has %zu dimensions (at most %d supported)", f->path,
                 name, sh->n, HSI_ST_MAXDIM);
        return -1;
    }
    info->ndim = (int)sh->n;
    info->numel = 1;
    int empty = 0;
    for (size_t d = 0; d < sh->n; d++) {
        const hsi_jval *x = &sh->items[d];
        if (x->type != HSI_JNUMBER || !x->is_int || x->i < 0 || x->i > ((int64_t)1 << 40)) {
            snprintf(err, errlen, "%s: bad header: tensor '%.200s' has a bad shape", f->path, name);
            return -1;
        }
        info->dims[d] = x->i;
        empty |= x->i == 0;
    }
    for (size_t d = 0; d < sh->n && !empty; d++) {   /* checked before each product: no wrap */
        if (info->numel > ((int64_t)1 << 40) / info->dims[d]) {
            snprintf(err, errlen, "%s: bad header: tensor '%.200s' is impossibly large", f->path, name);
            return -1;
        }
        info->numel *= info->dims[d];
    }
    if (empty) info->numel = 0;
    for (int b = 0; b < 2; b++)
        if (off->items[b].type != HSI_JNUMBER || !off->items[b].is_int || off->items[b].i < 0) {
            snprintf(err, errlen, "%s: bad header: tensor '%.200s' has bad data_offsets", f->path, name);
            return -1;
        }
    info->begin = (uint64_t)off->items[0].i;
    info->end = (uint64_t)off->items[1].i;
    if (info->begin > info->end || info->end > f->data_len) {
        snprintf(err, errlen,
                 "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64 "] are outside the data "
                 "(%" PRIu64 " bytes; is the file truncated?)",
                 f->path, name, info->begin, info->end, f->data_len);
        return -1;
    }
    if (info->end - info->begin != (uint64_t)info->numel * (uint64_t)dsize) {
        snprintf(err, errlen,
                 "%s: tensor '%.200s': data_offsets span %" PRIu64 " bytes, but %" PRId64 " %s "
                 "values need %" PRIu64, f->path, name, info->end - info->begin, info->numel,
                 info->dtype, (uint64_t)info->numel * (uint64_t)dsize);
        return -1;
    }
    return 0;
}

static int parse_metadata(hsi_st_file *f, const hsi_jval *v, char *err, size_t errlen)
{
    if (v->type != HSI_JOBJECT) {
        snprintf(err, errlen, "%s: bad header: \"__metadata__\" must be an object", f->path);
        return -1;
    }
    f->meta_keys = calloc(v->n + 1, sizeof *f->meta_keys);
    f->meta_vals = calloc(v->n + 1, sizeof *f->meta_vals);
    if (!f->meta_keys || !f->meta_vals) {
        snprintf(err, errlen, "%s: out of memory", f->path);
        return -1;
    }
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i].type != HSI_JSTRING) {
            snprintf(err, errlen, "%s: bad header: metadata '%.200s' is not a string", f->path,
                     v->keys[i]);
            return -1;
        }
        f->meta_keys[f->n_meta] = strdup(v->keys[i]);
        f->meta_vals[f->n_meta] = strdup(v->items[i].str);
        f->n_meta++;
        if (!f->meta_keys[f->n_meta - 1] || !f->meta_vals[f->n_meta - 1]) {
            snprintf(err, errlen, "%s: out of memory", f->path);
            return -1;
        }
    }
    return 0;
}

static int by_begin(const void *a, const void *b)
{
    const hsi_st_info *x = *(const hsi_st_info *const *)a, *y = *(const hsi_st_info *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Two tensors must not share bytes (the format forbids it, and a reader would silently get
 * one tensor's values in another). */
static int check_overlap(hsi_st_file *f, char *err, size_t errlen)
{
    if (f->n < 2) return 0;
    const hsi_st_info **v = malloc(sizeof *v * (size_t)f->n);
    if (!v) {
        snprintf(err, errlen, "%s: out of memory", f->path);
        return -1;
    }
    int k = 0;
    for (int i = 0; i < f->n; i++)
        if (f->infos[i].end > f->infos[i].begin) v[k++] = &f->infos[i];
    qsort(v, (size_t)k, sizeof *v, by_begin);
    int rc = 0;
    for (int i = 1; i < k && !rc; i++)
        if (v[i]->begin < v[i - 1]->end) {
            snprintf(err, errlen, "%s: bad header: tensors '%.200s' (data_offsets [%" PRIu64 ", %"
                     PRIu64 "]) and '%.200s' ([%" PRIu64 ", %" PRIu64 "]) overlap", f->path,
                     v[i - 1]->name, v[i - 1]->begin, v[i - 1]->end, v[i]->name, v[i]->begin,
                     v[i]->end);
            rc = -1;
        }
    free(v);
    return rc;
}

static int parse_header(hsi_st_file *f, const char *text, size_t len, char *err, size_t errlen)
{
    char jerr[160];
    hsi_jval *root = hsi_json_parse(text, len, jerr, sizeof jerr);
    if (!root) {
        snprintf(err, errlen, "%s: bad header (JSON at %s)", f->path, jerr);
        return -1;
    }
    int rc = -1;
    if (root->type != HSI_JOBJECT) {
        snprintf(err, errlen, "%s: bad header: not a JSON object", f->path);
        goto out;
    }
    f->infos = calloc(root->n + 1, sizeof *f->infos);
    if (!f->infos) {
        snprintf(err, errlen, "%s: out of memory", f->path);
        goto out;
    }
    for (size_t i = 0; i < root->n; i++) {
        const char *name = root->keys[i];
        if (strcmp(name, "__metadata__") == 0) {
            if (parse_metadata(f, &root->items[i], err, errlen))
                goto out;
            continue;
        }
        hsi_st_info *info = &f->infos[f->n];
        if (parse_entry(f, name, &root->items[i], info, err, errlen))
            goto out;
        info->name = strdup(name);
        if (!info->name) {
            snprintf(err, errlen, "%s: out of memory", f->path);
            goto out;
        }
        f->n++;
    }
    rc = check_overlap(f, err, errlen) ? -1 : 0;   /* names are unique: hsi_json_parse */
out:
    hsi_jval_free(root);
    return rc;
}

hsi_st_file *hsi_st_open(const char *path, char *err, size_t errlen)
{
    hsi_st_file *f = calloc(1, sizeof *f);
    char *text = NULL;
    if (!f || !(f->path = strdup(path))) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(f);
        return NULL;
    }
    if (!(f->fp = hsi_open_input(path, err, errlen))) goto fail;
    if (fseeko(f->fp, 0, SEEK_END) != 0) {
        snprintf(err, errlen, "%s: cannot seek: %s", path, strerror(errno));
        goto fail;
    }
    uint64_t size = (uint64_t)ftello(f->fp);
    rewind(f->fp);
    uint8_t le[8];
    if (size < 8 || fread(le, 1, 8, f->fp) != 8) {
        snprintf(err, errlen, "%s: not a safetensors file (%" PRIu64 " bytes, shorter than the "
                 "8-byte header length)", path, size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int b = 7; b >= 0; b--)
        hlen = hlen << 8 | le[b];
    if (hlen > size - 8) {
        snprintf(err, errlen, "%s: truncated or not a safetensors file (header length %" PRIu64
                 " but only %" PRIu64 " bytes follow)", path, hlen, size - 8);
        goto fail;
    }
    if (hlen < 2 || hlen > HEADER_MAX) {
        snprintf(err, errlen, "%s: not a safetensors file (header length %" PRIu64 ")", path, hlen);
        goto fail;
    }
    text = malloc(hlen);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    if (fread(text, 1, hlen, f->fp) != hlen) {
        snprintf(err, errlen, "%s: read failed", path);
        goto fail;
    }
    if (text[0] != '{') {
        snprintf(err, errlen, "%s: not a safetensors file (the header does not start with '{')",
                 path);
        goto fail;
    }
    f->data_start = 8 + hlen;
    f->data_len = size - f->data_start;
    if (parse_header(f, text, hlen, err, errlen))
        goto fail;
    free(text);
    return f;
fail:
    free(text);
    hsi_st_close(f);
    return NULL;
}

int hsi_st_count(const hsi_st_file *f) { return f->n; }

const hsi_st_info *hsi_st_at(const hsi_st_file *f, int i)
{
    return i >= 0 && i < f->n ? &f->infos[i] : NULL;
}

const hsi_st_info *hsi_st_find(const hsi_st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->infos[i].name, name) == 0)
            return &f->infos[i];
    return NULL;
}

const char *hsi_st_metadata(const hsi_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_vals[i];
    return NULL;
}

int hsi_st_read(hsi_st_file *f, const char *name, int ndim, const int64_t *dims, float *out,
                char *err, size_t errlen)
{
    const hsi_st_info *t = hsi_st_find(f, name);
    if (!t) {
        snprintf(err, errlen, "%s: no tensor '%.200s' (the file has %d tensors)", f->path, name, f->n);
        return -1;
    }
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t->dims[d] == dims[d];
    if (!same) {
        char a[160], b[160];
        snprintf(err, errlen, "%s: tensor '%.200s': checkpoint has %s, the net expects %s", f->path,
                 name, hsi_st_shape_str(t->ndim, t->dims, a, sizeof a),
                 hsi_st_shape_str(ndim, dims, b, sizeof b));
        return -1;
    }
    if (strcmp(t->dtype, "F32") != 0) {
        snprintf(err, errlen, "%s: tensor '%.200s': dtype %s, only F32 can be loaded", f->path, name,
                 t->dtype);
        return -1;
    }
    if (fseeko(f->fp, (off_t)(f->data_start + t->begin), SEEK_SET) != 0 ||
        fread(out, 4, (size_t)t->numel, f->fp) != (size_t)t->numel) {
        snprintf(err, errlen, "%s: tensor '%.200s': read failed (file changed or truncated?)", f->path,
                 name);
        return -1;
    }
    if (!host_is_le())
        for (int64_t i = 0; i < t->numel; i++) {
            uint8_t b[4];
            memcpy(b, &out[i], 4);
            uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                         (uint32_t)b[3] << 24;
            memcpy(&out[i], &u, 4);
        }
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < t->numel; i++)
        if (!isfinite(out[i]) && bad++ == 0) first = i;
    if (bad) {   /* the weights of a diverged training: refused as weights, init or resume */
        snprintf(err, errlen, "%s: tensor '%.200s' holds %" PRId64 " non-finite values (NaN or Inf; "
                 "the first at index %" PRId64 "): these weights come from a diverged training",
                 f->path, name, bad, first);
        return -1;
    }
    return 0;
}

int hsi_st_check_variance(const hsi_st_file *f, const char *name, const float *v, int64_t n,
                          char *err, size_t errlen)
{
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++)
        if (v[i] < 0.0f && bad++ == 0) first = i;
    if (bad)
        snprintf(err, errlen, "%s: tensor '%.200s' holds %" PRId64 " negative values (the first at "
                 "index %" PRId64 ", %g): a running variance is never negative; the file is damaged "
                 "or not a trainer's", f->path, name, bad, first, (double)v[first]);
    return bad ? -1 : 0;
}

int hsi_st_read_param(hsi_st_file *f, const hsi_param *p, char *err, size_t errlen)
{
    if (hsi_st_read(f, p->name, p->ndim, p->dims, p->value, err, errlen)) return -1;
    return p->role == HSI_ROLE_BN_VAR ? hsi_st_check_variance(f, p->name, p->value, p->numel, err, errlen) : 0;
}
