/* pngread.h — test helper: read a PNG back with libpng into an hsi_image (RGB 8-bit), so the
 * tests check the bytes on disk rather than the raster in memory. Not part of libhsirt.
 */
#ifndef EVALIO_PNGREAD_H
#define EVALIO_PNGREAD_H
#include <png.h>
#include <stdlib.h>

#include "hsi_io.h"

/* 0 on success; the image must be freed with hsi_image_free. */
static int png_read_rgb(const char *path, hsi_image *im)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return -1;
    img.format = PNG_FORMAT_RGB;
    im->w = (int)img.width;
    im->h = (int)img.height;
    im->rgb = malloc(PNG_IMAGE_SIZE(img));
    if (!im->rgb || !png_image_finish_read(&img, NULL, im->rgb, 0, NULL)) {
        png_image_free(&img);
        free(im->rgb);
        im->rgb = NULL;
        return -1;
    }
    return 0;
}

static const uint8_t *px(const hsi_image *im, int x, int y)
{
    return im->rgb + 3 * ((size_t)y * (size_t)im->w + (size_t)x);
}

static int px_is(const hsi_image *im, int x, int y, const uint8_t *rgb)
{
    return memcmp(px(im, x, y), rgb, 3) == 0;
}
#endif
