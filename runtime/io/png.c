/* png.c — RGB rasters (hsi_image) and their atomic PNG output through libpng.
 * Not here: reading PNGs, alpha, palettes or 16-bit output.
 */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "hsi_io.h"

int hsi_image_alloc(hsi_image *im, int w, int h, uint8_t r, uint8_t g, uint8_t b)
{
    im->w = w;
    im->h = h;
    im->rgb = (w > 0 && h > 0) ? malloc((size_t)w * (size_t)h * 3) : NULL;
    if (!im->rgb) {
        im->w = im->h = 0;
        return -1;
    }
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        im->rgb[3 * i] = r;
        im->rgb[3 * i + 1] = g;
        im->rgb[3 * i + 2] = b;
    }
    return 0;
}

void hsi_image_free(hsi_image *im)
{
    free(im->rgb);
    memset(im, 0, sizeof *im);
}

/* libpng reports errors by longjmp; keep its message for ours. */
static void on_png_error(png_structp png, png_const_charp msg)
{
    char *dst = png_get_error_ptr(png);
    snprintf(dst, 128, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* Encodes im into fp; 0 or -1 with libpng's message in msg[128]. Rows are pointers into im. */
static int encode(FILE *fp, const hsi_image *im, char *msg, png_bytep *rows)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, msg, on_png_error,
                                              on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        snprintf(msg, 128, "out of memory");
        png_destroy_write_struct(&png, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)im->w, (png_uint_32)im->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int hsi_png_write(const char *path, const hsi_image *im, char *err, size_t errlen)
{
    if (!im->rgb || im->w <= 0 || im->h <= 0) {
        snprintf(err, errlen, "%s: empty image", path);
        return -1;
    }
    png_bytep *rows = malloc((size_t)im->h * sizeof *rows);
    if (!rows) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (int y = 0; y < im->h; y++)
        rows[y] = im->rgb + (size_t)y * (size_t)im->w * 3;
    hsi_atomic_file af;
    if (hsi_atomic_open(&af, path, err, errlen)) {
        free(rows);
        return -1;
    }
    char msg[128] = "";
    int rc = encode(af.fp, im, msg, rows);
    free(rows);
    if (rc && ferror(af.fp))   /* libpng's "Write Error": the disk's reason (ENOSPC, EFBIG) instead */
        return hsi_atomic_commit(&af, err, errlen);
    if (rc) {
        snprintf(err, errlen, "%s: PNG encoding failed: %s", path, msg);
        hsi_atomic_abort(&af);
        return -1;
    }
    return hsi_atomic_commit(&af, err, errlen);
}
