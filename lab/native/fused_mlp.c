/* The forward pass of a plain MLP (Linear layers, each followed by ReLU,
 * LeakyReLU or nothing) at many parameter points, fused: a tile of samples
 * goes through every layer while it sits in the L1 cache, with the bias and
 * the activation applied as each output tile leaves the registers.
 *
 * Built by lab/native/fused_mlp.py with the machine's own C compiler
 * (-O3 -march=native) and called through ctypes; the loss landscape uses it
 * for the MLPs it can describe. Torch's batched GEMMs cannot fuse the bias
 * and activation, and each of their passes over the activations leaves the
 * cache: this is faster on a 64-wide MLP (bench/bench_landscape.py, with
 * and without it).
 *
 * Layout, per point (`stride` floats apart): for each layer, W^T (K x N,
 * row-major: K inputs, N outputs) and then the bias (N). Every N is a
 * multiple of 16 (the caller pads with zeros), K of the first layer is the
 * input width, K of later layers the previous N. */
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define WIDTH 16 /* floats per vector register */
#define BLOCK 4  /* vectors of output columns per register tile: 6 x 64 */
typedef __m512 vec;
#define LOAD(p) _mm512_loadu_ps(p)
#define STORE(p, v) _mm512_storeu_ps(p, v)
#define SPLAT(x) _mm512_set1_ps(x)
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define ZERO() _mm512_setzero_ps()
#define MAX(a, b) _mm512_max_ps(a, b)
/* x < 0 ? x * slope : x */
#define LEAKY(x, s) _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, ZERO(), _CMP_LT_OQ), x, s)
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define WIDTH 8
#define BLOCK 2 /* 16 registers: a 6 x 16 tile of accumulators */
typedef __m256 vec;
#define LOAD(p) _mm256_loadu_ps(p)
#define STORE(p, v) _mm256_storeu_ps(p, v)
#define SPLAT(x) _mm256_set1_ps(x)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define ZERO() _mm256_setzero_ps()
#define MAX(a, b) _mm256_max_ps(a, b)
#define LEAKY(x, s) \
    _mm256_blendv_ps(x, _mm256_mul_ps(x, s), _mm256_cmp_ps(x, ZERO(), _CMP_LT_OQ))
#else
#define WIDTH 0 /* no vector unit this code knows: the caller uses torch */
#endif

/* Vector width this build uses (0: none, do not call the forward pass). */
int knoblab_vector_width(void) { return WIDTH; }

#if WIDTH

#define TILE 48 /* samples carried through all layers at once */
#define ROWS 6  /* samples per register tile */

enum { ACT_NONE = 0, ACT_RELU = 1, ACT_LEAKY = 2 };

static inline vec activate(vec x, int act, vec slope) {
    if (act == ACT_RELU) return MAX(x, ZERO());
    if (act == ACT_LEAKY) return LEAKY(x, slope);
    return x;
}

/* out[r][n] = act(b[n] + sum_k in[r][k] * wt[k][n]) for RB rows and NB
 * vectors of columns: the accumulators stay in registers over the K loop. */
#define KERNEL(RB, NB)                                                                  \
    static void tile_##RB##_##NB(const float *in, int K, const float *wt, int N,       \
                                 const float *b, float *out, int act, vec slope) {     \
        vec acc[RB][NB];                                                                \
        for (int j = 0; j < NB; j++) {                                                  \
            vec bias = LOAD(b + WIDTH * j);                                             \
            for (int r = 0; r < RB; r++) acc[r][j] = bias;                              \
        }                                                                               \
        for (int k = 0; k < K; k++) {                                                   \
            vec w[NB];                                                                  \
            for (int j = 0; j < NB; j++) w[j] = LOAD(wt + (size_t)k * N + WIDTH * j);   \
            for (int r = 0; r < RB; r++) {                                              \
                vec a = SPLAT(in[r * K + k]);                                           \
                for (int j = 0; j < NB; j++) acc[r][j] = FMA(a, w[j], acc[r][j]);       \
            }                                                                           \
        }                                                                               \
        for (int r = 0; r < RB; r++)                                                    \
            for (int j = 0; j < NB; j++)                                                \
                STORE(out + r * N + WIDTH * j, activate(acc[r][j], act, slope));        \
    }

typedef void (*tile_fn)(const float *, int, const float *, int, const float *, float *, int,
                        vec);

#if BLOCK == 4
KERNEL(6, 1) KERNEL(6, 2) KERNEL(6, 3) KERNEL(6, 4)
KERNEL(1, 1) KERNEL(1, 2) KERNEL(1, 3) KERNEL(1, 4)
static const tile_fn TILES6[BLOCK + 1] = {0, tile_6_1, tile_6_2, tile_6_3, tile_6_4};
static const tile_fn TILES1[BLOCK + 1] = {0, tile_1_1, tile_1_2, tile_1_3, tile_1_4};
#else
KERNEL(6, 1) KERNEL(6, 2)
KERNEL(1, 1) KERNEL(1, 2)
static const tile_fn TILES6[BLOCK + 1] = {0, tile_6_1, tile_6_2};
static const tile_fn TILES1[BLOCK + 1] = {0, tile_1_1, tile_1_2};
#endif

/* One layer on `rows` samples (rows x K in, rows x N out, both row-major). */
static void dense(const float *in, int rows, int K, const float *wt, const float *b, int N,
                  float *out, int act, float slope) {
    vec s = SPLAT(slope);
    for (int n0 = 0; n0 < N; n0 += WIDTH * BLOCK) {
        int nb = (N - n0) / WIDTH < BLOCK ? (N - n0) / WIDTH : BLOCK;
        int r = 0;
        for (; r + ROWS <= rows; r += ROWS)
            TILES6[nb](in + (size_t)r * K, K, wt + n0, N, b + n0, out + (size_t)r * N + n0,
                       act, s);
        for (; r < rows; r++)
            TILES1[nb](in + (size_t)r * K, K, wt + n0, N, b + n0, out + (size_t)r * N + n0,
                       act, s);
    }
}

#endif /* WIDTH */

#if WIDTH
/* One point: every tile of samples through every layer; `buffer` holds two
 * tiles of the widest layer. */
static void run_point(const float *point, int S, int L, const int *widths, const int *acts,
                      const float *slopes, const float *x, float *out, int keep,
                      float *buffer, int widest) {
    for (int s0 = 0; s0 < S; s0 += TILE) {
        int rows = S - s0 < TILE ? S - s0 : TILE;
        const float *in = x + (size_t)s0 * widths[0];
        const float *w = point;
        float *cur = buffer, *spare = buffer + TILE * (size_t)widest;
        for (int l = 1; l <= L; l++) {
            int K = widths[l - 1], N = widths[l];
            dense(in, rows, K, w, w + (size_t)K * N, N, cur, acts[l - 1], slopes[l - 1]);
            w += (size_t)K * N + N;
            in = cur;
            cur = spare;
            spare = (float *)in;
        }
        float *o = out + (size_t)s0 * keep;
        for (int r = 0; r < rows; r++)
            memcpy(o + (size_t)r * keep, in + (size_t)r * widths[L], sizeof(float) * keep);
    }
}

/* The widest layer, or -1 when a width is not a positive multiple of 16. */
static int widest_of(int L, const int *widths) {
    int widest = 0;
    for (int l = 1; l <= L; l++) {
        if (widths[l] % 16 != 0 || widths[l] <= 0) return -1;
        if (widths[l] > widest) widest = widths[l];
    }
    return widest;
}
#endif

/* Points [p0, p1) on the S samples of `x` (S x widths[0]). widths[0..L]: the
 * input width, then each layer's output width (multiples of 16); acts[l] /
 * slopes[l]: layer l's activation (0 none, 1 ReLU, 2 leaky with that slope).
 * The points: with dirs == 0, rows of `params` (`stride` floats apart); with
 * dirs > 0, params + sum_d coords[p][d] * basis[d] (params one packed point,
 * basis `dirs` of them), formed here, per point, in the calling thread.
 * out: per point and sample, the first `keep` outputs of the last layer.
 * Returns 0, -1 for a bad width (or a build without vectors), -2 when out of
 * memory. */
int knoblab_mlp_forward(int p0, int p1, int S, int L, const int *widths, const int *acts,
                        const float *slopes, const float *x, const float *params, long stride,
                        int dirs, const float *basis, const float *coords, float *out,
                        int keep) {
#if WIDTH
    int widest = widest_of(L, widths);
    if (widest < 0) return -1;
    size_t tiles = sizeof(float) * 2 * TILE * (size_t)widest;
    size_t own = dirs > 0 ? (sizeof(float) * (size_t)stride + 63) / 64 * 64 : 0;
    char *memory = aligned_alloc(64, tiles + own);
    if (!memory) return -2;
    float *point = (float *)(memory + tiles);
    for (int p = p0; p < p1; p++) {
        if (dirs > 0) {
            const float *c = coords + (size_t)p * dirs;
            memcpy(point, params, sizeof(float) * (size_t)stride);
            for (int d = 0; d < dirs; d++) {
                const float *b = basis + (size_t)d * stride;
                float t = c[d];
                for (long i = 0; i < stride; i++) point[i] += t * b[i];
            }
        }
        run_point(dirs > 0 ? point : params + (size_t)p * stride, S, L, widths, acts, slopes,
                  x, out + (size_t)p * S * keep, keep, (float *)memory, widest);
    }
    free(memory);
    return 0;
#else
    (void)p0, (void)p1, (void)S, (void)L, (void)widths, (void)acts, (void)slopes, (void)x;
    (void)params, (void)stride, (void)dirs, (void)basis, (void)coords, (void)out, (void)keep;
    return -1;
#endif
}
