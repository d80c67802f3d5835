/* test_csv.c — log.csv: header written once, rows readable after each call (flushed), numbers
 * and empty NaN fields, quoting, append on reopen, refusal when the columns differ.
 */
#include <stdlib.h>

#include "check.h"
#include "hsi_io.h"

static char *slurp(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tmp_csv";
    char err[512], path[600];
    CHECK(hsi_mkdirs(dir, err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/log.csv", dir);
    remove(path);
    const char *cols[4] = { "step", "epoch", "train_loss", "val_oa" };
    hsi_csv c;
    CHECK(hsi_csv_open(&c, path, cols, 4, err, sizeof err) == 0);
    const double r1[4] = { 100, 1, 0.123456789012, NAN };
    CHECK(hsi_csv_row(&c, r1, err, sizeof err) == 0);
    /* Flushed: visible to another reader before close. */
    CHECK(strcmp(slurp(path), "step,epoch,train_loss,val_oa\n100,1,0.123456789,\n") == 0);
    const char *t[4] = { "a,b", "say \"hi\"", NULL, "plain" };
    CHECK(hsi_csv_row_text(&c, t, err, sizeof err) == 0);
    hsi_csv_close(&c);

    /* Reopen: appends, no second header. */
    CHECK(hsi_csv_open(&c, path, cols, 4, err, sizeof err) == 0);
    const double r2[4] = { 200, 2, -1e-20, 0.875 };
    CHECK(hsi_csv_row(&c, r2, err, sizeof err) == 0);
    hsi_csv_close(&c);
    CHECK(strcmp(slurp(path), "step,epoch,train_loss,val_oa\n100,1,0.123456789,\n"
                              "\"a,b\",\"say \"\"hi\"\"\",,plain\n200,2,-1e-20,0.875\n") == 0);

    /* Other columns: refused, file untouched. */
    const char *other[3] = { "step", "loss", "lr" };
    CHECK(hsi_csv_open(&c, path, other, 3, err, sizeof err) == -1);
    CHECK_MSG(err, "log.csv: exists with other columns (expected the header \"step,loss,lr\")");
    snprintf(path, sizeof path, "%s/missing/log.csv", dir);
    CHECK(hsi_csv_open(&c, path, cols, 4, err, sizeof err) == -1);
    CHECK_MSG(err, "missing/log.csv: cannot open for appending");
    CHECK_DONE();
}
