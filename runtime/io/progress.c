/* progress.c — what a training run shows while it works. On a terminal: one status line redrawn
 * in place with '\r' at most 5 times a second (epoch, step, bar, loss, samples/s, ETA, last
 * val OA). In a log file or pipe: a plain line every `every` steps and one per validation.
 * Not here: colours, multi-line displays, or log levels.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hsi_io.h"

#define REDRAW_SECONDS 0.2
#define BAR_WIDTH 20

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void hsi_progress_init(hsi_progress *p, FILE *out, int64_t total_steps, int epochs, int batch,
                       int every)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = isatty(fileno(out));
    p->total_steps = total_steps;
    p->epochs = epochs;
    p->batch = batch;
    p->every = every > 0 ? every : 100;
    p->clock = monotonic_seconds;
    p->t0 = p->last_draw = p->rate_t = p->clock();
    p->val_oa = NAN;
}

void hsi_progress_resume(hsi_progress *p, int64_t step)
{
    p->rate_step = step;
}

static void fmt_duration(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, n, "?");
    else if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

/* The status text (no line end). */
static void status(hsi_progress *p, int64_t step, int epoch, double loss, char *buf, size_t n)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "epoch %d", epoch);
    if (p->epochs > 0)
        k += (size_t)snprintf(buf + k, n - k, "/%d", p->epochs);
    k += (size_t)snprintf(buf + k, n - k, " step %lld", (long long)step);
    if (p->total_steps > 0) {
        k += (size_t)snprintf(buf + k, n - k, "/%lld", (long long)p->total_steps);
        if (p->tty) {
            int fill = (int)(BAR_WIDTH * (double)step / (double)p->total_steps);
            fill = fill > BAR_WIDTH ? BAR_WIDTH : fill;
            k += (size_t)snprintf(buf + k, n - k, " [%.*s%.*s]", fill, "####################",
                                  BAR_WIDTH - fill, "....................");
        }
    }
    k += (size_t)snprintf(buf + k, n - k, " loss %.4f", loss);
    if (p->rate > 0) {
        k += (size_t)snprintf(buf + k, n - k, " %.0f samples/s", p->rate);
        if (p->total_steps > 0) {
            char eta[32];
            fmt_duration(eta, sizeof eta,
                         (double)(p->total_steps - step) * p->batch / p->rate);
            k += (size_t)snprintf(buf + k, n - k, " ETA %s", eta);
        }
    }
    if (!isnan(p->val_oa) && k < n)
        snprintf(buf + k, n - k, " val OA %.2f%%", 100 * p->val_oa);
}

static void update_rate(hsi_progress *p, int64_t step, double now)
{
    if (now > p->rate_t && step > p->rate_step) {
        p->rate = (double)(step - p->rate_step) * p->batch / (now - p->rate_t);
        p->rate_t = now;
        p->rate_step = step;
    }
}

void hsi_progress_step(hsi_progress *p, int64_t step, int epoch, double loss)
{
    double now = p->clock();
    int last = p->total_steps > 0 && step >= p->total_steps;
    char line[256];
    if (p->tty) {
        if (now - p->last_draw < REDRAW_SECONDS && !last)
            return;
        update_rate(p, step, now);
        status(p, step, epoch, loss, line, sizeof line);
        fprintf(p->out, "\r\033[K%s", line);
        p->line_open = 1;
    } else {
        if (step % p->every != 0 && !last)
            return;
        update_rate(p, step, now);
        status(p, step, epoch, loss, line, sizeof line);
        fprintf(p->out, "%s\n", line);
    }
    p->last_draw = now;
    fflush(p->out);
}

static void end_line(hsi_progress *p)
{
    if (p->line_open) {
        fputc('\n', p->out);
        p->line_open = 0;
    }
}

void hsi_progress_val(hsi_progress *p, int64_t step, int epoch, double val_loss, double val_oa)
{
    p->val_oa = val_oa;
    end_line(p);
    fprintf(p->out, "epoch %d step %lld: val loss %.4f, val OA %.2f%%\n", epoch, (long long)step,
            val_loss, 100 * val_oa);
    fflush(p->out);
}

void hsi_progress_note(hsi_progress *p, const char *fmt, ...)
{
    end_line(p);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    fflush(p->out);
}

void hsi_progress_done(hsi_progress *p)
{
    end_line(p);
    char t[32];
    fmt_duration(t, sizeof t, p->clock() - p->t0);
    fprintf(p->out, "done in %s\n", t);
    fflush(p->out);
}
