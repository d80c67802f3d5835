/* fuzz_parser.c — libFuzzer target: any bytes through the whole front end (lexer, parser,
 * elaboration, shapes), with one domain and with two domains that override parameters.
 * Diagnostics go to /dev/null so the printing paths run too. Built with -DHSICC_FUZZ=ON
 * (clang); run by tests/front/fuzz.sh. It checks no output, only that nothing crashes.
 */
#include <stdint.h>
#include <stdio.h>

#include "frontend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null_out;
    if (!null_out) null_out = fopen("/dev/null", "w");
    static const fe_define d1[] = {{"bands", "103"}, {"classes", "9"}};
    static const fe_define d2[] = {{"bands", "7"}, {"depth", "1"}};
    static const fe_domain two[] = {{"a", 2, d1}, {"b", 2, d2}};
    const char *text = size ? (const char *)data : "";
    ir_program *p = fe_compile("fuzz.hsn", text, size, NULL, 0, NULL, null_out);
    fe_free(p);
    p = fe_compile("fuzz.hsn", text, size, NULL, 2, two, NULL);
    fe_free(p);
    return 0;
}
