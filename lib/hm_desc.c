/* hm_desc.c - oriented-gradient energy at two scales plus colour layout. */
#include "hm_desc.h"

#include <math.h>
#include <string.h>

#include "hm_simd.h"

/* Central-difference gradients of an n x n grid (zero on the border). */
static void s_gradients(const float *g, int n, float *gx, float *gy)
{
    memset(gx, 0, sizeof(float) * (size_t)(n * n));
    memset(gy, 0, sizeof(float) * (size_t)(n * n));
    for (int i = 1; i < n - 1; i++)
        for (int j = 1; j < n - 1; j++) {
            gx[i * n + j] = g[i * n + j + 1] - g[i * n + j - 1];
            gy[i * n + j] = g[(i + 1) * n + j] - g[(i - 1) * n + j];
        }
}

/* 8 orientations x 4x4 cells of an n x n grid into out[128]. */
static void s_energy_cells(const float *g, int n, float *out)
{
    float gx[64 * 64], gy[64 * 64], e[8 * 64 * 64];
    s_gradients(g, n, gx, gy);
    hm_kernels()->orient_energy(gx, gy, (size_t)(n * n), e);
    int cell = n / 4;
    memset(out, 0, 128 * sizeof(float));
    for (int k = 0; k < 8; k++) {
        const float *ek = e + (size_t)k * n * n;
        for (int i = 0; i < n; i++) {
            const float *row = ek + (size_t)i * n;
            for (int cj = 0; cj < 4; cj++) {
                float sum = 0.0f;
                for (int j = cj * cell; j < (cj + 1) * cell; j++)
                    sum += row[j];
                out[((i / cell) * 4 + cj) * 8 + k] += sum;
            }
        }
    }
}

/* Power-normalise (square root), centre, then scale to L2 norm `weight`.
 * Centring matters: energies are all positive, so without it any two images
 * have a high cosine similarity. */
static void s_normalise(float *v, int n, float weight, int signed_sqrt)
{
    double s = 0, mean = 0;
    for (int i = 0; i < n; i++) {
        float x = v[i];
        x = signed_sqrt ? (x < 0 ? -sqrtf(-x) : sqrtf(x)) : sqrtf(x > 0 ? x : 0);
        v[i] = x;
        mean += x;
    }
    mean /= n;
    for (int i = 0; i < n; i++) {
        v[i] -= (float)mean;
        s += (double)v[i] * v[i];
    }
    float f = s > 0 ? (float)(weight / sqrt(s)) : 0.0f;
    for (int i = 0; i < n; i++)
        v[i] *= f;
}

void hm_desc_compute(const float grid64[64 * 64], const float colour[4 * 4 * 3],
                     float out[HM_DESC_DIM])
{
    float half[32 * 32];
    for (int i = 0; i < 32; i++)
        for (int j = 0; j < 32; j++)
            half[i * 32 + j] = 0.25f * (grid64[(2 * i) * 64 + 2 * j] + grid64[(2 * i) * 64 + 2 * j + 1] +
                                        grid64[(2 * i + 1) * 64 + 2 * j] + grid64[(2 * i + 1) * 64 + 2 * j + 1]);
    s_energy_cells(grid64, 64, out);
    s_energy_cells(half, 32, out + 128);
    s_normalise(out, 128, 1.0f, 0);
    s_normalise(out + 128, 128, 1.0f, 0);
    float *c = out + 256;
    for (int cell = 0; cell < 16; cell++) {
        float r = colour[3 * cell], g = colour[3 * cell + 1], b = colour[3 * cell + 2];
        c[3 * cell] = (r - g) / 255.0f;
        c[3 * cell + 1] = (r + g - 2 * b) / 255.0f;
        c[3 * cell + 2] = (r + g + b) / 255.0f;
    }
    s_normalise(c, 48, 0.6f, 1);
    double s = 0;
    for (int i = 0; i < HM_DESC_DIM; i++)
        s += (double)out[i] * out[i];
    float f = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    for (int i = 0; i < HM_DESC_DIM; i++)
        out[i] *= f;
}

float hm_desc_similarity(const float *a, const float *b)
{
    float s = hm_kernels()->dot(a, b, HM_DESC_DIM);
    return s > 1.0f ? 1.0f : s < -1.0f ? -1.0f : s;
}
