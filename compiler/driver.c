/* driver.c — shared command-line parsing for the subcommands (driver.h). It prints usage
 * errors only; what a subcommand does with the options is its own business.
 */
#include "driver.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int drv_parse_define(const char *arg, fe_define *out)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return 1;
    for (const char *p = arg; p < eq; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_') || (p == arg && isdigit((unsigned char)*p))) return 1;
    size_t n = (size_t)(eq - arg);
    char *name = malloc(n + 1);
    if (!name) return 1;
    memcpy(name, arg, n);
    name[n] = 0;
    *out = (fe_define){.name = name, .value = eq + 1};   /* no file position, no YAML key path */
    return 0;
}

const fe_define *drv_find_define(const fe_define *defs, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (defs[i].name && !strcmp(defs[i].name, name)) return &defs[i];
    return NULL;
}

int drv_once(const char *opt, const char **slot, const char *val)
{
    if (*slot) {
        fprintf(stderr, "hsicc: error: %s is given twice: '%s' and '%s'\n", opt, *slot, val);
        return 1;
    }
    *slot = val;
    return 0;
}

int drv_not_stdout(const char *opt, const char *val, const char *what)
{
    if (!val || strcmp(val, "-")) return 0;
    fprintf(stderr, "hsicc: error: %s -: %s, not a stream to standard output ('./-' names a "
                    "path named '-')\n", opt, what);
    return 1;
}

int drv_stem_reserved(const char *stem)
{
    static const char *const owned[] = {"hsi", "hk", "hsirt"};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++) {
        size_t n = strlen(owned[i]);
        if (!strncmp(stem, owned[i], n) && (stem[n] == 0 || stem[n] == '_')) return 1;
    }
    return 0;
}

int drv_take_common(int argc, char **argv, int *i, drv_common *c)
{
    const char *a = argv[*i], *val = NULL;
    if (!strcmp(a, "-D") || !strcmp(a, "--define")) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "hsicc: error: %s needs name=value\n", a);
            return -1;
        }
        val = argv[++*i];
    } else if (!strncmp(a, "-D", 2)) {
        val = a + 2;
    } else if (!strcmp(a, "--net") || !strncmp(a, "--net=", 6)) {
        const char *net = a[5] == '=' ? a + 6 : *i + 1 < argc ? argv[++*i] : NULL;
        if (!net) {
            fprintf(stderr, "hsicc: error: --net needs a name\n");
            return -1;
        }
        if (drv_once("--net", &c->net, net)) return -1;
        ++*i;
        return 1;
    } else {
        return 0;
    }
    if (c->n_defines == c->cap_defines) {
        int cap = c->cap_defines ? 2 * c->cap_defines : 8;
        fe_define *v = realloc(c->defines, (size_t)cap * sizeof *v);
        if (!v) return -1;
        c->defines = v;
        c->cap_defines = cap;
    }
    fe_define *df = &c->defines[c->n_defines];
    if (drv_parse_define(val, df)) {
        fprintf(stderr, "hsicc: error: -D expects name=value, got '%s'\n", val);
        return -1;
    }
    const fe_define *twice = drv_find_define(c->defines, c->n_defines, df->name);
    if (twice) {   /* the later one silently won: a typo in a long command line */
        fprintf(stderr, "hsicc: error: -D %s is given twice: '%s=%s' and '%s=%s'\n", df->name,
                twice->name, twice->value, df->name, df->value);
        free((char *)df->name);
        return -1;
    }
    c->n_defines++;
    ++*i;
    return 1;
}

void drv_common_free(drv_common *c)
{
    for (int i = 0; i < c->n_defines; i++) free((char *)c->defines[i].name);
    free(c->defines);
    c->defines = NULL;
    c->n_defines = c->cap_defines = 0;
}

const char *drv_thousands(long long v, char *buf, int n)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%lld", v < 0 ? -v : v), k = 0;
    if (v < 0 && k < n - 1) buf[k++] = '-';
    for (int i = 0; i < len && k < n - 1; i++) {
        if (i && (len - i) % 3 == 0 && k < n - 1) buf[k++] = ',';
        buf[k++] = tmp[i];
    }
    buf[k] = 0;
    return buf;
}
