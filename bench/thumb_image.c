/*
 * bench/thumb_image: writes a W x H photo-like sRGB JPEG (smooth colour
 * gradients plus Gaussian noise, so it compresses and decodes like a
 * camera picture rather than a flat colour) to PATH with libvips, for the
 * `thumbs` scenario. Usage: thumb_image PATH W H
 */
#include <stdio.h>
#include <stdlib.h>
#include <vips/vips.h>

int main(int argc, char **argv)
{
    if (argc != 4 || VIPS_INIT(argv[0])) {
        fprintf(stderr, "usage: thumb_image PATH W H\n");
        return 2;
    }
    int w = atoi(argv[2]), h = atoi(argv[3]);
    VipsImage *xyz, *x, *y, *noise, *r, *g, *b, *rgb, *u, *srgb;
    if (vips_xyz(&xyz, w, h, NULL) || vips_extract_band(xyz, &x, 0, NULL) ||
        vips_extract_band(xyz, &y, 1, NULL) || vips_gaussnoise(&noise, w, h, "sigma", 18.0, NULL) ||
        vips_linear1(x, &r, 255.0 / w, 0, NULL) || vips_linear1(y, &g, 255.0 / h, 0, NULL) ||
        vips_linear1(x, &b, -127.0 / w, 200, NULL))
        goto fail;
    VipsImage *bands[] = {r, g, b}, *joined;
    if (vips_bandjoin(bands, &joined, 3, NULL) || vips_add(joined, noise, &rgb, NULL) ||
        vips_cast_uchar(rgb, &u, NULL) ||
        vips_copy(u, &srgb, "interpretation", VIPS_INTERPRETATION_sRGB, NULL) ||
        vips_jpegsave(srgb, argv[1], "Q", 90, NULL))
        goto fail;
    return 0;
fail:
    fprintf(stderr, "thumb_image: %s\n", vips_error_buffer());
    return 1;
}
