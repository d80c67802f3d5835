/* augment.c — the 8 dihedral transforms (rotations, flips, transposes) of a [bands, p, p]
 * patch; the batcher picks which one per sample. It does not add noise or change spectra. */
#include "hsi_prep.h"

/* Output (i, j) of a p x p plane under transform t reads position *src (row-major). */
static void hsi_dihedral_map(int i, int j, int p, int t, int *src)
{
    int q = p - 1, si, sj;
    switch (t & 7) {
    case 0: si = i; sj = j; break;
    case 1: si = j; sj = q - i; break;
    case 2: si = q - i; sj = q - j; break;
    case 3: si = q - j; sj = i; break;
    case 4: si = i; sj = q - j; break;
    case 5: si = q - i; sj = j; break;
    case 6: si = j; sj = i; break;
    default: si = q - j; sj = q - i; break;
    }
    *src = si * p + sj;
}

const char *hsi_dihedral_name(int t)
{
    static const char *names[HSI_DIHEDRAL_COUNT] = {
        "identity", "rot90", "rot180", "rot270", "flip-lr", "flip-ud", "transpose",
        "anti-transpose"};
    return t >= 0 && t < HSI_DIHEDRAL_COUNT ? names[t] : "?";
}

/* Every transform reads position o + i di + j dj for output (i, j) (an affine map, from
 * hsi_dihedral_map at three points), so a band is one loop without the switch per element
 * (which took 4 % of the contextual trainer's CPU time). */
void hsi_dihedral(const float *in, float *out, int bands, int p, int t)
{
    int o, di, dj;
    hsi_dihedral_map(0, 0, p, t, &o);
    hsi_dihedral_map(1, 0, p, t, &di);
    hsi_dihedral_map(0, 1, p, t, &dj);
    di -= o;
    dj -= o;
    for (int b = 0; b < bands; b++, in += p * p)
        for (int i = 0; i < p; i++)
            for (int j = 0; j < p; j++) *out++ = in[o + i * di + j * dj];
}
