/* test_fetch.c — the data folder, offline: Salinas-A copied from the shared folder as a mirror
 * (nested and flat layouts) into a temporary $HSICC_DATA and verified; the sidecar cache; a
 * corrupted mirror file and a corrupted data file give a hash error naming the file and both
 * hashes; a missing dataset gives the one documented message; "download" through file:// URLs
 * (libcurl, no network), falling back to the next URL; scene loading and its checks. */
#include "tdata.h"

#include <sys/stat.h>

#include "hsi_data.h"

static void copy(const char *from, const char *to)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    CHECK(system(cmd) == 0);
}

static void flip_byte(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* No file in dir whose name contains ".part". */
static int no_parts(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls -a '%s' 2>/dev/null | grep -q '\\.part'", dir);
    return system(cmd) != 0;
}

int main(void)
{
    const char *sh = t_shared();
    if (!sh) {
        fprintf(stderr, "shared data folder absent: skipped\n");
        return 77;
    }
    char tmp[64], data[256], mirror[256], path[512], err[2048], cmd[128];
    t_tmpdir(tmp, sizeof tmp);
    snprintf(data, sizeof data, "%s/data", tmp);
    unsetenv("HSICC_DATA_MIRROR");
    setenv("HSICC_DATA", data, 1);
    hsi_registry *reg = hsi_registry_load(NULL, err, sizeof err);
    CHECK(reg != NULL);
    const hsi_dataset *sa = hsi_registry_find(reg, "SalinasA");
    const hsi_dataset *in = hsi_registry_find(reg, "IndianPines");

    /* Missing, no mirror, no download: the one message. */
    CHECK(hsi_dataset_ensure(in, NULL, err, sizeof err) == -1);
    char want[1024];
    snprintf(want, sizeof want, "dataset 'IndianPines' not found in %s/IndianPines "
             "(Indian_pines_corrected.mat); fetch it with: hsi-fetch IndianPines  "
             "(or set HSICC_DATA_MIRROR / --from DIR)", data);
    if (strcmp(err, want) != 0) {
        fprintf(stderr, "got:  %s\nwant: %s\n", err, want);
        t_failures++;
    }

    /* Nested mirror through the environment (the CI layout). */
    setenv("HSICC_DATA_MIRROR", sh, 1);
    CHECK(hsi_dataset_ensure(sa, NULL, err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/SalinasA/SalinasA_corrected.mat", data);
    CHECK(exists(path));
    char side[600];
    snprintf(side, sizeof side, "%s.sha256", path);
    CHECK(exists(side));
    snprintf(path, sizeof path, "%s/SalinasA", data);
    CHECK(no_parts(path));
    /* The mirror lacks the Indian Pines cube: the message says where it looked. */
    CHECK(hsi_dataset_ensure(in, NULL, err, sizeof err) == -1);
    CHECK_HAS(err, "the mirror");
    CHECK_HAS(err, "hsi-fetch IndianPines");
    unsetenv("HSICC_DATA_MIRROR");

    /* Present and cached: fine; a wrong sidecar only costs a re-hash. */
    CHECK(hsi_dataset_ensure(sa, NULL, err, sizeof err) == 0);
    t_write(side, "w", "0000000000000000000000000000000000000000000000000000000000000000 1 2 3\n");
    CHECK(hsi_dataset_ensure(sa, NULL, err, sizeof err) == 0);

    /* A corrupted data file (same size, new mtime): hash error with both hashes. */
    snprintf(path, sizeof path, "%s/SalinasA/SalinasA_corrected.mat", data);
    flip_byte(path, 1000);
    CHECK(hsi_dataset_ensure(sa, NULL, err, sizeof err) == -1);
    CHECK_HAS(err, path);
    CHECK_HAS(err, "expected d75684ed3ab71a1024cee0f9db9061f50a3523a92ff5edfbbb1eed976b9f1721");
    CHECK_HAS(err, "actual ");
    remove(path);

    /* Flat mirror given as an option, one file corrupted: the copy is refused, nothing left. */
    snprintf(mirror, sizeof mirror, "%s/flat", tmp);
    mkdir(mirror, 0777);
    char src[4096], dst[600];
    snprintf(src, sizeof src, "%s/SalinasA/SalinasA_corrected.mat", sh);
    snprintf(dst, sizeof dst, "%s/SalinasA_corrected.mat", mirror);
    copy(src, dst);
    snprintf(src, sizeof src, "%s/SalinasA/SalinasA_gt.mat", sh);
    snprintf(dst, sizeof dst, "%s/SalinasA_gt.mat", mirror);
    copy(src, dst);
    snprintf(dst, sizeof dst, "%s/SalinasA_corrected.mat", mirror);
    flip_byte(dst, 123456);
    hsi_fetch_opts o = {.mirror = mirror};
    CHECK(hsi_dataset_ensure(sa, &o, err, sizeof err) == -1);
    CHECK_HAS(err, dst);
    CHECK_HAS(err, "SHA-256 mismatch: expected d75684ed3ab71a1024cee0f9db9061f50a3523a92ff5edfbbb1eed976b9f1721");
    CHECK(!exists(path));
    snprintf(path, sizeof path, "%s/SalinasA", data);
    CHECK(no_parts(path));
    flip_byte(dst, 123456);                 /* repaired */
    CHECK(hsi_dataset_ensure(sa, &o, err, sizeof err) == 0);

    /* Scene loading, with an explicit data folder. */
    hsi_scene s;
    hsi_fetch_opts od = {.data_dir = data};
    CHECK(hsi_scene_load(sa, &od, &s, err, sizeof err) == 0);
    CHECK(s.cube.h == 83 && s.cube.w == 86 && s.cube.bands == 204 && s.gt.h == 83 && s.ds == sa);
    hsi_scene_free(&s);

    /* "Downloads" over file:// (libcurl; no network): the first URL fails, the second works;
     * the registry's band count is checked against the file. */
    char yaml[4096];
    snprintf(path, sizeof path, "%s/reg.yaml", tmp);
    snprintf(yaml, sizeof yaml,
             "datasets:\n"
             "  - name: Dl\n    bands: 204\n    shape: [83, 86]\n"
             "    cube: {file: SalinasA_corrected.mat, size: 1539086,\n"
             "           sha256: d75684ed3ab71a1024cee0f9db9061f50a3523a92ff5edfbbb1eed976b9f1721,\n"
             "           urls: [file:///nonexistent/x.mat, file://%s/SalinasA/SalinasA_corrected.mat]}\n"
             "    gt: {file: SalinasA_gt.mat, urls: [file://%s/SalinasA/SalinasA_gt.mat]}\n"
             "    classes: [{id: 1, name: a}]\n"
             "  - name: Wrong\n    folder: Dl\n    bands: 200\n"
             "    cube: {file: SalinasA_corrected.mat}\n    gt: {file: SalinasA_gt.mat}\n"
             "    classes: [{id: 1, name: a}]\n"
             "  - name: BadHash\n    folder: Bh\n"
             "    cube: {file: c.mat, sha256: %064d, urls: [file://%s/SalinasA/SalinasA_gt.mat]}\n"
             "    gt: {file: g.mat}\n"
             "    classes: [{id: 1, name: a}]\n",
             sh, sh, 0, sh);
    t_write(path, "w", yaml);
    hsi_registry *ur = hsi_registry_load(path, err, sizeof err);
    CHECK(ur != NULL);
    if (ur) {
        hsi_fetch_opts dl = {.download = 1};
        CHECK(hsi_dataset_ensure(hsi_registry_find(ur, "Dl"), &dl, err, sizeof err) == 0);
        CHECK(hsi_scene_load(hsi_registry_find(ur, "Wrong"), &dl, &s, err, sizeof err) == -1);
        CHECK_HAS(err, "band count");
        CHECK_HAS(err, "204");
        CHECK(hsi_dataset_ensure(hsi_registry_find(ur, "BadHash"), &dl, err, sizeof err) == -1);
        CHECK_HAS(err, "SHA-256 mismatch");
        CHECK_HAS(err, "17814c1d3296c0e29b27f320f2c4174d2a68adb87e376abe78f02923e2c2e454");
        snprintf(dst, sizeof dst, "%s/Bh", data);
        CHECK(no_parts(dst));
        snprintf(dst, sizeof dst, "%s/Bh/c.mat", data);
        CHECK(!exists(dst));
        hsi_registry_free(ur);
    }

    hsi_registry_free(reg);
    unsetenv("HSICC_DATA");
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    return t_done("data.fetch");
}
