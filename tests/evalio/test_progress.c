/* test_progress.c — the progress reporter with a fake clock: plain mode prints every N steps
 * and every validation, with samples/s and ETA computed from the clock; terminal mode redraws
 * with '\r' at most every 0.2 s and ends its line before other output.
 */
#include <stdlib.h>

#include "check.h"
#include "hsi_io.h"

static double fake_now;
static double fake_clock(void) { return fake_now; }

static char *contents(FILE *f)
{
    static char buf[8192];
    fflush(f);
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    return buf;
}

static int count(const char *s, const char *sub)
{
    int n = 0;
    for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub))
        n++;
    return n;
}

int main(void)
{
    /* Plain: 1000 steps of batch 16, 0.01 s each -> 1600 samples/s; a line every 100 steps. */
    FILE *f = tmpfile();
    hsi_progress p;
    hsi_progress_init(&p, f, 1000, 10, 16, 100);
    CHECK(p.tty == 0);
    p.clock = fake_clock;
    fake_now = p.t0 = p.last_draw = p.rate_t = 0;
    for (int s = 1; s <= 1000; s++) {
        fake_now = s * 0.01;
        hsi_progress_step(&p, s, (s - 1) / 100 + 1, 1.0 / s);
        if (s == 500)
            hsi_progress_val(&p, s, 5, 0.25, 0.9341);
    }
    hsi_progress_done(&p);
    char *out = contents(f);
    CHECK(count(out, "\n") == 10 + 1 + 1);
    /* At step 300, 700 steps * 16 samples remain at 1600 samples/s: 7 s. */
    CHECK_MSG(out, "epoch 3/10 step 300/1000 loss 0.0033 1600 samples/s ETA 0m07s\n");
    CHECK_MSG(out, "epoch 5 step 500: val loss 0.2500, val OA 93.41%\n");
    CHECK_MSG(out, "step 600/1000 loss 0.0017 1600 samples/s ETA 0m04s val OA 93.41%\n");
    CHECK_MSG(out, "done in 0m10s\n");
    CHECK(!strchr(out, '\r'));
    fclose(f);

    /* Resumed at step 4000 of 10000: the first line's rate counts the 100 steps since then
     * (1600 samples/s), not the 4100 steps since step 0 (it said 65600). */
    f = tmpfile();
    hsi_progress_init(&p, f, 10000, 0, 16, 100);
    p.clock = fake_clock;
    fake_now = p.t0 = p.last_draw = p.rate_t = 0;
    hsi_progress_resume(&p, 4000);
    for (int s = 4001; s <= 4100; s++) {
        fake_now = (s - 4000) * 0.01;
        hsi_progress_step(&p, s, 1, 0.5);
    }
    out = contents(f);
    CHECK_MSG(out, "epoch 1 step 4100/10000 loss 0.5000 1600 samples/s ETA 0m59s\n");
    fclose(f);

    /* Terminal mode: 1000 steps over 10 s, redraws at most every 0.2 s (about 50 + the last). */
    f = tmpfile();
    hsi_progress_init(&p, f, 1000, 10, 16, 100);
    p.tty = 1;
    p.clock = fake_clock;
    fake_now = p.t0 = p.last_draw = p.rate_t = 0;
    for (int s = 1; s <= 1000; s++) {
        fake_now = s * 0.01;
        hsi_progress_step(&p, s, 1, 0.5);
        if (s == 333)
            hsi_progress_note(&p, "checkpoint saved");
    }
    hsi_progress_done(&p);
    out = contents(f);
    int redraws = count(out, "\r");
    CHECK(redraws >= 45 && redraws <= 52);
    CHECK_MSG(out, "[##########..........]");
    CHECK_MSG(out, "[####################] loss 0.5000");
    /* The note starts on its own line, after the status line is ended. */
    CHECK_MSG(out, "\ncheckpoint saved\n");
    CHECK(count(out, "\n") == 4);   /* end + note, end + "done in" */
    fclose(f);
    CHECK_DONE();
}
