/* test_sha256.c — SHA-256 on the FIPS 180-2 / NIST test vectors, streamed in odd chunk sizes,
 * and on every real file of the shared data folder against the hashes in SOURCES.md. */
#include "tdata.h"

#include "hsi_data.h"

static void hex_of(const void *data, size_t n, size_t chunk, char hex[65])
{
    hsi_sha256 s;
    uint8_t d[32];
    hsi_sha256_init(&s);
    for (size_t off = 0; off < n; off += chunk)
        hsi_sha256_update(&s, (const uint8_t *)data + off, n - off < chunk ? n - off : chunk);
    hsi_sha256_final(&s, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

int main(void)
{
    static const struct { const char *msg, *hex; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
         "lmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[65];
    for (size_t k = 0; k < sizeof v / sizeof *v; k++)
        for (size_t chunk = 1; chunk <= 128; chunk = chunk * 3 + 1) {
            hex_of(v[k].msg, strlen(v[k].msg), chunk, hex);
            CHECK(strcmp(hex, v[k].hex) == 0);
        }
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    hex_of(a, n, 4093, hex);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
    free(a);

    const char *sh = t_shared();
    if (!sh) {
        fprintf(stderr, "shared data folder absent: file hashes skipped\n");
        return t_failures ? 1 : 77;
    }
    static const struct { const char *file, *hex; } f[] = {
        {"SalinasA/SalinasA_corrected.mat", "d75684ed3ab71a1024cee0f9db9061f50a3523a92ff5edfbbb1eed976b9f1721"},
        {"SalinasA/SalinasA_gt.mat", "17814c1d3296c0e29b27f320f2c4174d2a68adb87e376abe78f02923e2c2e454"},
        {"Salinas/Salinas_gt.mat", "ecfab4d31ef5553f097943235d8ea502038eb4a2067b2ad10b33e37c949955e2"},
        {"IndianPines/Indian_pines_gt.mat", "65c4687a8ab04f6da4789799bc3bc4f6e88bccac3ed6a2e6ae367e5e6b9e429c"},
        {"PaviaU/PaviaU_gt.mat", "23f6a426928f9b32984adffe659e29f554f9fb6c93b5a107528d308d5087a829"},
        {"KSC/KSC_gt.mat", "a1d6ab9293691006bd4d9742d1a1e1c141b1aaa5fbc5fa128b33c1d09038510b"},
        {"Botswana/Botswana_gt.mat", "668394905e10e629c16584bfd02b0f533b96d6ba18a63274a94ff3a77126a887"},
    };
    char err[512], path[4096];
    for (size_t k = 0; k < sizeof f / sizeof *f; k++) {
        snprintf(path, sizeof path, "%s/%s", sh, f[k].file);
        CHECK(hsi_sha256_file(path, hex, err, sizeof err) == 0);
        if (strcmp(hex, f[k].hex) != 0) {
            fprintf(stderr, "%s: %s, expected %s\n", path, hex, f[k].hex);
            t_failures++;
        }
    }
    CHECK(hsi_sha256_file("/nonexistent/x", hex, err, sizeof err) == -1);
    CHECK_HAS(err, "/nonexistent/x");
    return t_done("data.sha256");
}
