/* Probe statistics of float32 tensors, for lab/probes (via lab/native/probe_kernels.py).
 *
 * knoblab_layer_stats: one forward call's output of a layer (N samples, C
 * units, P positions per unit), summarised while the hook that sees it has it
 * in cache, into the layer's running figures for the step: count, mean and
 * centred sum of squares, a fixed-bin histogram, saturated values, and which
 * units gave a positive output. knoblab_add_squares: a gradient's sum of
 * squares. knoblab_param_norms: every parameter's gradient and weight norm,
 * copying the weights on the way; knoblab_norms: L2 norms of a list of
 * tensors, or of their differences from another list (the weight updates).
 *
 * Plain C shaped so that -O3 vectorises it for whatever vector unit the
 * machine has: LANES independent partial results per loop (no reassociation
 * of float sums needed), float partial sums joining a double total per BLOCK.
 * One part has AVX-512 intrinsics, used where the compiler targets it: the
 * histogram of up to 64 bins without a scatter (hist_bitsliced), faster
 * than counting value by value, which is the rest's way and every
 * histogram's elsewhere (the tests check both against numpy).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define LANES 32     /* independent partial sums, so a loop's adds overlap, not wait on each other */
#define BLOCK 2048   /* values per block: a block's float sums join a double */
#define SUBS 8       /* sub-histograms: runs of one bin (ReLU's zeros) don't wait on one counter */
#define MAX_BINS 1024
#define UNIT_CHUNK 512 /* units whose running maxima sit on the stack at once */

enum { STAT_HIST = 1, STAT_SATURATION = 2, STAT_ALIVE = 4 };

/* The sum of (x - shift). */
static double sum_block(const float *x, int64_t len, float shift) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= len; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += x[i + j] - shift;
    for (; i < len; i++) acc[0] += x[i] - shift;
    double total = 0.0;
    for (int j = 0; j < LANES; j++) total += acc[j];
    return total;
}

static double centred_squares_block(const float *x, int64_t len, float mean) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= len; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float d = x[i + j] - mean;
            acc[j] += d * d;
        }
    for (; i < len; i++) {
        float d = x[i] - mean;
        acc[0] += d * d;
    }
    double total = 0.0;
    for (int j = 0; j < LANES; j++) total += acc[j];
    return total;
}

/* The bin of a value: (x - lo) * bins / (hi - lo), truncated, values beyond
 * the range in the edge bins (numpy.histogram of the clipped values). */
static inline int bin_of(float v, float scale, float offset, float top) {
    float t = v * scale + offset;
    t = t > 0.0f ? t : 0.0f; /* NaN fails the test: 0, so the conversion is defined */
    t = t < top ? t : top;
    return (int)t;
}

/* Bin of each value; NaN in the extra cell `bins`, which is not reported
 * (numpy drops NaN too). */
static void bin_block(const float *x, int64_t len, float scale, float offset, float top,
                      uint16_t nan_bin, uint16_t *index) {
    for (int64_t i = 0; i < len; i++)
        index[i] = x[i] == x[i] ? (uint16_t)bin_of(x[i], scale, offset, top) : nan_bin;
}

#ifdef __AVX512F__
#define LEVELS 8 /* counters of sixteens: up to 2^LEVELS - 1 before they are read out */

/* A carry-save adder of three bit-sliced numbers: low = the sum bits, high = the carries. */
static inline void csa(__m512i *high, __m512i *low, __m512i a, __m512i b, __m512i c) {
    *low = _mm512_ternarylogic_epi64(a, b, c, 0x96);  /* a ^ b ^ c */
    *high = _mm512_ternarylogic_epi64(a, b, c, 0xE8); /* majority */
}

/* Eight one-hot words d[0..7] added into the bit-sliced ones, twos and
 * fours; returns the eights they carry out. */
static inline __m512i add_eight(__m512i *ones, __m512i *twos, __m512i *fours, const __m512i *d) {
    __m512i twosA, twosB, foursA, foursB, eights;
    csa(&twosA, ones, *ones, d[0], d[1]);
    csa(&twosB, ones, *ones, d[2], d[3]);
    csa(&foursA, twos, *twos, twosA, twosB);
    csa(&twosA, ones, *ones, d[4], d[5]);
    csa(&twosB, ones, *ones, d[6], d[7]);
    csa(&foursB, twos, *twos, twosA, twosB);
    csa(&eights, fours, *fours, foursA, foursB);
    return eights;
}

/* hist[b] += weight for each set bit b of each 64-bit lane of v. */
static void read_out(__m512i v, int64_t weight, int64_t *hist) {
    uint64_t lanes[8];
    _mm512_storeu_si512(lanes, v);
    for (int j = 0; j < 8; j++)
        for (uint64_t w = lanes[j]; w; w &= w - 1) hist[__builtin_ctzll(w)] += weight;
}

/* hist += the histogram of x, for bins <= 64, without a scatter: each value
 * becomes a one-hot 64-bit word (bit = its bin, none for NaN), and the words
 * are added bit-sliced per vector lane with carry-save adders (Harley and
 * Seal's popcount), 16 words in 30 logic ops; a lane's count for a bin is
 * then spread over the bits of ones, twos, ..., read out at the end. */
static void hist_bitsliced(const float *x, int64_t n, float scale, float offset, float top,
                           int64_t *hist) {
    const __m512 vs = _mm512_set1_ps(scale), vo = _mm512_set1_ps(offset);
    const __m512 vz = _mm512_setzero_ps(), vt = _mm512_set1_ps(top);
    const __m512i one = _mm512_set1_epi64(1);
    __m512i ones = _mm512_setzero_si512(), twos = ones, fours = ones, eights = ones;
    __m512i level[LEVELS]; /* bit-sliced counts of sixteens */
    for (int k = 0; k < LEVELS; k++) level[k] = ones;
    int64_t rounds = 0, i = 0;
    for (; i + 128 <= n; i += 128) {
        __m512i d[16];
        for (int q = 0; q < 8; q++) {
            __m512 v = _mm512_loadu_ps(x + i + 16 * q);
            __mmask16 real = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q); /* NaN in no bin */
            /* as bin_of: multiply, then add (no fused rounding), then clamp */
            __m512 t = _mm512_add_ps(_mm512_mul_ps(v, vs), vo);
            __m512i b = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(t, vz), vt));
            __m512i low = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(b));
            __m512i high = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(b, 1));
            d[2 * q] = _mm512_maskz_sllv_epi64((__mmask8)real, one, low);
            d[2 * q + 1] = _mm512_maskz_sllv_epi64((__mmask8)(real >> 8), one, high);
        }
        __m512i eightsA = add_eight(&ones, &twos, &fours, d);
        __m512i eightsB = add_eight(&ones, &twos, &fours, d + 8), sixteens;
        csa(&sixteens, &eights, eights, eightsA, eightsB);
        for (int k = 0; k < LEVELS; k++) { /* ripple the sixteens into their counter */
            __m512i carry = _mm512_and_si512(level[k], sixteens);
            level[k] = _mm512_xor_si512(level[k], sixteens);
            sixteens = carry;
        }
        if (++rounds == (1 << LEVELS) - 1) { /* read out before the counter overflows */
            for (int k = 0; k < LEVELS; k++) {
                read_out(level[k], (int64_t)16 << k, hist);
                level[k] = _mm512_setzero_si512();
            }
            rounds = 0;
        }
    }
    for (int k = 0; k < LEVELS; k++) read_out(level[k], (int64_t)16 << k, hist);
    read_out(ones, 1, hist);
    read_out(twos, 2, hist);
    read_out(fours, 4, hist);
    read_out(eights, 8, hist);
    for (; i < n; i++)
        if (x[i] == x[i]) hist[bin_of(x[i], scale, offset, top)]++;
}
#endif

static int64_t count_outside(const float *x, int64_t len, float below, float above) {
    int acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= len; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += (x[i + j] < below) | (x[i + j] > above);
    int64_t total = 0;
    for (; i < len; i++) total += (x[i] < below) | (x[i] > above);
    for (int j = 0; j < LANES; j++) total += acc[j];
    return total;
}

/* alive[c] |= whether any value of unit c (any sample, any position) is > 0.
 * NaN is never > 0: it neither keeps a unit alive nor hides a positive value. */
static void alive_units(const float *x, int64_t N, int64_t C, int64_t P, uint8_t *alive) {
    if (P == 1) { /* (N, C): running maxima over the samples, a chunk of units at a time */
        float top[UNIT_CHUNK];
        for (int64_t c0 = 0; c0 < C; c0 += UNIT_CHUNK) {
            int64_t width = C - c0 < UNIT_CHUNK ? C - c0 : UNIT_CHUNK;
            for (int64_t c = 0; c < width; c++) top[c] = -INFINITY;
            for (int64_t n = 0; n < N; n++) {
                const float *row = x + n * C + c0;
                for (int64_t c = 0; c < width; c++) top[c] = row[c] > top[c] ? row[c] : top[c];
            }
            for (int64_t c = 0; c < width; c++) alive[c0 + c] |= top[c] > 0.0f;
        }
        return;
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            if (alive[c]) continue;
            const float *map = x + (n * C + c) * P;
            float top[LANES];
            for (int j = 0; j < LANES; j++) top[j] = -INFINITY;
            int64_t i = 0;
            for (; i + LANES <= P; i += LANES)
                for (int j = 0; j < LANES; j++) top[j] = map[i + j] > top[j] ? map[i + j] : top[j];
            for (; i < P; i++) top[0] = map[i] > top[0] ? map[i] : top[0];
            for (int j = 0; j < LANES; j++) alive[c] |= top[j] > 0.0f;
        }
}

/* One call's values x, laid out (N, C, P) and contiguous, into a layer's
 * running figures for the step:
 *   moments = (count, mean, sum of squares about the mean), this call's merged
 *     with the earlier calls' (Chan et al.'s pairwise update; count 0: none yet);
 *   with STAT_HIST, hist[b] += the count in bin b of `bins` equal bins over
 *     [range[0], range[1]] (values beyond in the edge bins, NaN in none);
 *   with STAT_SATURATION, *saturated += the count below range[2] or above range[3];
 *   with STAT_ALIVE, alive[c] |= whether unit c gave a value > 0.
 * 0 on success, 1 for bins out of range. */
int knoblab_layer_stats(const float *x, int64_t N, int64_t C, int64_t P, int32_t flags,
                        const float *range, int32_t bins, double *moments, int64_t *hist,
                        int64_t *saturated, uint8_t *alive) {
    if ((flags & STAT_HIST) && (bins < 1 || bins > MAX_BINS)) return 1;
    int64_t n = N * C * P;
    if (n == 0) return 0;
    float scale = (flags & STAT_HIST) ? (float)bins / (range[1] - range[0]) : 0.0f;
    float offset = (flags & STAT_HIST) ? -range[0] * scale : 0.0f;
#ifdef __AVX512F__
    int bitsliced = (flags & STAT_HIST) && bins <= 64; /* a bin per bit of a 64-bit word */
#else
    int bitsliced = 0;
#endif
    int scatter = (flags & STAT_HIST) && !bitsliced; /* count value by value */
    uint32_t sub[SUBS][MAX_BINS + 1]; /* 32 KiB of stack; only bins + 1 cells are used */
    uint16_t index[BLOCK];
    if (scatter)
        for (int s = 0; s < SUBS; s++) memset(sub[s], 0, sizeof(uint32_t) * (size_t)(bins + 1));
    /* Sums are taken about the first value (about 0 where it is not finite):
     * where the mean dwarfs the spread (sigmoid outputs near 0.5), the
     * differences keep the digits that float partial sums of the values lose. */
    float shift = isfinite(x[0]) ? x[0] : 0.0f;
    double total = 0.0; /* of x - shift */
    int64_t outside = 0;
    for (int64_t start = 0; start < n; start += BLOCK) {
        int64_t len = n - start < BLOCK ? n - start : BLOCK;
        const float *block = x + start;
        total += sum_block(block, len, shift);
        if (flags & STAT_SATURATION) outside += count_outside(block, len, range[2], range[3]);
        if (scatter) {
            bin_block(block, len, scale, offset, (float)(bins - 1), (uint16_t)bins, index);
            int64_t i = 0;
            for (; i + SUBS <= len; i += SUBS)
                for (int s = 0; s < SUBS; s++) sub[s][index[i + s]]++;
            for (; i < len; i++) sub[0][index[i]]++;
        }
    }
#ifdef __AVX512F__
    if (bitsliced) hist_bitsliced(x, n, scale, offset, (float)(bins - 1), hist);
#endif
    double mean = (double)shift + total / (double)n;
    float centre = (float)mean; /* the second pass: squares about the mean */
    double squares = 0.0;
    for (int64_t start = 0; start < n; start += BLOCK) {
        int64_t len = n - start < BLOCK ? n - start : BLOCK;
        squares += centred_squares_block(x + start, len, centre);
    }
    squares -= (double)n * (mean - centre) * (mean - centre); /* about the exact mean */
    if (squares < 0.0) squares = 0.0;
    double before = moments[0];
    if (before == 0.0) {
        moments[1] = mean;
        moments[2] = squares;
    } else {
        double count = before + (double)n, delta = mean - moments[1];
        moments[1] += delta * (double)n / count;
        moments[2] += squares + delta * delta * before * (double)n / count;
    }
    moments[0] = before + (double)n;
    if (scatter)
        for (int b = 0; b < bins; b++) {
            int64_t count = 0;
            for (int s = 0; s < SUBS; s++) count += sub[s][b];
            hist[b] += count;
        }
    if (flags & STAT_SATURATION) *saturated += outside;
    if (flags & STAT_ALIVE) alive_units(x, N, C, P, alive);
    return 0;
}

static double squares_block(const float *a, const float *b, float *copy, int64_t len) {
    float acc[LANES] = {0};
    int64_t i = 0;
    if (b) {
        for (; i + LANES <= len; i += LANES)
            for (int j = 0; j < LANES; j++) {
                float d = a[i + j] - b[i + j];
                acc[j] += d * d;
            }
        for (; i < len; i++) {
            float d = a[i] - b[i];
            acc[0] += d * d;
        }
    } else {
        for (; i + LANES <= len; i += LANES)
            for (int j = 0; j < LANES; j++) acc[j] += a[i + j] * a[i + j];
        for (; i < len; i++) acc[0] += a[i] * a[i];
        if (copy) memcpy(copy, a, sizeof(float) * (size_t)len);
    }
    double total = 0.0;
    for (int j = 0; j < LANES; j++) total += acc[j];
    return total;
}

/* slot[0] += the sum of squares of x (n values), slot[1] += 1. */
void knoblab_add_squares(const float *x, int64_t n, double *slot) {
    double total = 0.0;
    for (int64_t start = 0; start < n; start += BLOCK) {
        int64_t len = n - start < BLOCK ? n - start : BLOCK;
        total += squares_block(x + start, 0, 0, len);
    }
    slot[0] += total;
    slot[1] += 1.0;
}

/* out[k] = ||a[k]||, or ||a[k] - b[k]|| where b is given; a NULL a[k] (a
 * parameter without a gradient) has norm 0. */
void knoblab_norms(int count, const float *const *a, const float *const *b, const int64_t *sizes,
                   double *out) {
    for (int k = 0; k < count; k++) {
        double total = 0.0;
        if (a[k])
            for (int64_t start = 0; start < sizes[k]; start += BLOCK) {
                int64_t len = sizes[k] - start < BLOCK ? sizes[k] - start : BLOCK;
                total += squares_block(a[k] + start, b ? b[k] + start : 0, 0, len);
            }
        out[k] = sqrt(total);
    }
}

/* The probed step's parameters before the optimiser moves them, in one pass
 * per parameter: grad_out[k] = ||grads[k]|| (0 where grads[k] is NULL),
 * weight_out[k] = ||weights[k]||, and weights[k] copied into copies[k]. */
void knoblab_param_norms(int count, const float *const *grads, const float *const *weights,
                         float *const *copies, const int64_t *sizes, double *grad_out,
                         double *weight_out) {
    for (int k = 0; k < count; k++) {
        double g = 0.0, w = 0.0;
        for (int64_t start = 0; start < sizes[k]; start += BLOCK) {
            int64_t len = sizes[k] - start < BLOCK ? sizes[k] - start : BLOCK;
            if (grads[k]) g += squares_block(grads[k] + start, 0, 0, len);
            w += squares_block(weights[k] + start, 0, copies[k] + start, len);
        }
        grad_out[k] = sqrt(g);
        weight_out[k] = sqrt(w);
    }
}
