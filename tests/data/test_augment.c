/* test_augment.c — the 8 dihedral transforms against hand-written 3 x 3 results (two bands),
 * pairwise distinct, closed under composition (a group table: every row a permutation),
 * rot90 of order 4, and on a 5 x 5 patch each transform is a rotation/reflection of the
 * square that keeps the centre. */
#include "tdata.h"

#include "hsi_prep.h"

static int find(const float (*all)[18], const float *x)
{
    for (int t = 0; t < 8; t++)
        if (memcmp(all[t], x, sizeof all[t]) == 0)
            return t;
    return -1;
}

int main(void)
{
    static const float want[8][9] = {
        {1, 2, 3, 4, 5, 6, 7, 8, 9},   /* identity */
        {3, 6, 9, 2, 5, 8, 1, 4, 7},   /* rot90, counter-clockwise like numpy.rot90 */
        {9, 8, 7, 6, 5, 4, 3, 2, 1},   /* rot180 */
        {7, 4, 1, 8, 5, 2, 9, 6, 3},   /* rot270 */
        {3, 2, 1, 6, 5, 4, 9, 8, 7},   /* flip left-right */
        {7, 8, 9, 4, 5, 6, 1, 2, 3},   /* flip up-down */
        {1, 4, 7, 2, 5, 8, 3, 6, 9},   /* transpose */
        {9, 6, 3, 8, 5, 2, 7, 4, 1},   /* anti-transpose */
    };
    float in[18], out[8][18];
    for (int i = 0; i < 9; i++) {
        in[i] = (float)(i + 1);
        in[9 + i] = (float)(i + 11);    /* band 1: the same picture + 10 */
    }
    for (int t = 0; t < 8; t++) {
        hsi_dihedral(in, out[t], 2, 3, t);
        for (int i = 0; i < 9; i++) {
            CHECK(out[t][i] == want[t][i]);
            CHECK(out[t][9 + i] == want[t][i] + 10);
        }
        CHECK(strcmp(hsi_dihedral_name(t), "?") != 0);
    }
    for (int a = 0; a < 8; a++)
        for (int b = a + 1; b < 8; b++)
            CHECK(memcmp(out[a], out[b], sizeof out[a]) != 0);

    /* Composition: b after a is one of the 8; each row and column of the table is a permutation. */
    int table[8][8];
    for (int a = 0; a < 8; a++)
        for (int b = 0; b < 8; b++) {
            float x[18];
            hsi_dihedral(out[a], x, 2, 3, b);
            table[a][b] = find((const float (*)[18])out, x);
            CHECK(table[a][b] >= 0);
        }
    for (int a = 0; a < 8; a++) {
        int row = 0, col = 0;
        for (int b = 0; b < 8; b++) {
            row |= 1 << (table[a][b] & 7);
            col |= 1 << (table[b][a] & 7);
        }
        CHECK_EQ(row, 255);
        CHECK_EQ(col, 255);
        CHECK_EQ(table[0][a], a);
    }
    CHECK_EQ(table[1][1], 2);   /* rot90 twice = rot180 */
    CHECK_EQ(table[2][1], 3);
    CHECK_EQ(table[3][1], 0);   /* order 4 */
    CHECK_EQ(table[4][4], 0);   /* reflections are involutions */
    CHECK_EQ(table[6][6], 0);

    /* 5 x 5: the centre stays, the multiset of values is kept, corners go to corners. */
    float p[25], q[25];
    for (int i = 0; i < 25; i++)
        p[i] = (float)(i * i % 37);
    for (int t = 0; t < 8; t++) {
        hsi_dihedral(p, q, 1, 5, t);
        CHECK(q[12] == p[12]);
        float sp = 0, sq = 0;
        for (int i = 0; i < 25; i++) {
            sp += p[i] * p[i];
            sq += q[i] * q[i];
        }
        CHECK(sp == sq);
        float cp = p[0] + p[4] + p[20] + p[24], cq = q[0] + q[4] + q[20] + q[24];
        CHECK(cp == cq);
    }

    /* 9 x 9 over 3 bands (81 positions: the transform's map on the heap, not the stack) and 7 x
     * 7 (49, on the stack): each against the transforms' definition written out per element */
    static const int sizes[2] = {9, 7};
    for (int z = 0; z < 2; z++) {
        int n = sizes[z], nn = n * n, m = n - 1;
        float big[3 * 81], got[3 * 81];
        for (int i = 0; i < 3 * nn; i++)
            big[i] = (float)(i * 7 % 101);
        for (int t = 0; t < 8; t++) {
            hsi_dihedral(big, got, 3, n, t);
            int bad = 0;
            for (int b = 0; b < 3; b++)
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++) {
                        int si[8] = {i, j, m - i, m - j, i, m - i, j, m - j};
                        int sj[8] = {j, m - i, m - j, i, m - j, j, i, m - i};
                        bad += got[b * nn + i * n + j] != big[b * nn + si[t] * n + sj[t]];
                    }
            CHECK_EQ(bad, 0);
        }
    }
    return t_done("data.augment");
}
