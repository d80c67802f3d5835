/* fuzz_parser.c — libFuzzer target: any bytes through the whole compiler. The front end
 * (lexer, parser, elaboration, shapes) with one domain and with two domains that override
 * parameters; then, for every input that compiles, the back end as `hsicc emit` runs it:
 * lowering with and without fusions and rewrites, autodiff, liveness planning, the scene
 * program, the memory and scene reports, and emission of the C file (into a private folder in
 * /dev/shm, or the temporary folder). Diagnostics go to /dev/null so the printing paths run
 * too. Built with -DHSICC_FUZZ=ON (clang); run by tests/front/fuzz.sh. It checks no output,
 * only that nothing crashes and the sanitizers stay quiet.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "frontend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void back_end(const ir_program *p, FILE *null_out, const char *dir)
{
    for (int v = 0; v < 2; v++) {
        be_options opt = {!v, !v, 16};
        be_program *bp = be_lower(p, &opt);
        be_print_memory(null_out, bp);
        be_print_scene(null_out, bp);
        if (dir) emit_program(bp, dir, "fuzz", v ? "ref" : "dnnl", "hsicc emit fuzz.hsn");
        be_free(bp);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null_out;
    static char dir[256];
    static int have_dir = -1;
    if (!null_out) null_out = fopen("/dev/null", "w");
    if (have_dir < 0) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/hsicc-fuzz-%ld", base, (long)getpid());
        have_dir = mkdir(dir, 0700) == 0;
    }
    static const fe_define d1[] = {{.name = "bands", .value = "103"}, {.name = "classes", .value = "9"}};
    static const fe_define d2[] = {{.name = "bands", .value = "7"}, {.name = "depth", .value = "1"}};
    static const fe_domain two[] = {{"a", 2, d1}, {"b", 2, d2}};
    const char *text = size ? (const char *)data : "";
    ir_program *p = fe_compile("fuzz.hsn", text, size, NULL, 0, NULL, null_out);
    if (p) back_end(p, null_out, have_dir ? dir : NULL);
    fe_free(p);
    p = fe_compile("fuzz.hsn", text, size, NULL, 2, two, NULL);
    if (p) back_end(p, null_out, NULL);
    fe_free(p);
    return 0;
}
