/* circomlib Poseidon over BN254 Fr: Montgomery arithmetic on 4 x 64-bit limbs (see poseidon.h).
 *
 * The permutation follows the pure module's optimized schedule exactly (4 full rounds, the sparse
 * partial rounds, 4 full rounds), so each step here has a line-for-line counterpart in
 * jovay/crypto/poseidon.py `_permute`. Values are fully reduced (< p) between steps; only inside the
 * S-box (its input and squares) are they left below 2p, which saves reductions on the serial chain.
 *
 * Speed notes (gcc 12, measured): single products use CIOS (lowest latency on the S-box's serial
 * chain); dot products use product scanning with one reduction per sum (fewest instructions); carries
 * are spelled out on 64-bit words because gcc compiles long-lived 128-bit sums into stack round trips.
 *
 * Batches (jv_poseidon_many and friends) run on an AVX-512 IFMA kernel instead where the CPU has one
 * (16 hashes at a time, ~7x the scalar throughput on a Sapphire Rapids core; see "the AVX-512 IFMA
 * kernel" below), chosen at run time; the scalar loop serves other CPUs and short tails.
 */
#include "poseidon.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128; /* gcc/clang: 64 x 64 -> 128-bit products */

/* p = 21888242871839275222246405745257275088548364400416034343698204186575808495617 */
static const uint64_t P[4] = {0x43e1f593f0000001ULL, 0x2833e84879b97091ULL, 0xb85045b68181585dULL,
                              0x30644e72e131a029ULL};
/* -p^-1 mod 2^64, for Montgomery reduction. */
static const uint64_t P_NEG_INV = 0xc2e1f593efffffffULL;
/* R^2 mod p with R = 2^256: multiplying by it enters Montgomery form. */
static const jv_fe R2 = {{0x1bb8e645ae216da7ULL, 0x53fe3ab1e35c59e3ULL, 0x8c49833d53bb8085ULL,
                          0x0216d0b17f4e44a5ULL}};
static const jv_fe ONE = {{1, 0, 0, 0}};

/* --- field arithmetic --------------------------------------------------------------------------- */

/* d = x - y - borrow_in on one word; returns the borrow out. */
static inline uint64_t sbb(uint64_t x, uint64_t y, uint64_t borrow, uint64_t *d) {
    uint64_t t;
    const uint64_t b1 = __builtin_sub_overflow(x, y, &t);
    const uint64_t b2 = __builtin_sub_overflow(t, borrow, d);
    return b1 | b2;
}

/* r = s mod p for s < 2p: subtract p unless that borrows (branch-free, with masks: gcc turns a
 * 128-bit or ternary version into a branch and a vectorized one into stack round trips). */
static inline void reduce_once(jv_fe *r, const uint64_t s[4]) {
    uint64_t d0, d1, d2, d3;
    uint64_t borrow = sbb(s[0], P[0], 0, &d0);
    borrow = sbb(s[1], P[1], borrow, &d1);
    borrow = sbb(s[2], P[2], borrow, &d2);
    borrow = sbb(s[3], P[3], borrow, &d3);
    const uint64_t keep_s = (uint64_t)0 - borrow; /* all ones when s < p */
    r->limb[0] = (s[0] & keep_s) | (d0 & ~keep_s);
    r->limb[1] = (s[1] & keep_s) | (d1 & ~keep_s);
    r->limb[2] = (s[2] & keep_s) | (d2 & ~keep_s);
    r->limb[3] = (s[3] & keep_s) | (d3 & ~keep_s);
}

/* d = x + y + carry_in on one word; returns the carry out. */
static inline uint64_t adc(uint64_t x, uint64_t y, uint64_t carry, uint64_t *d) {
    uint64_t t;
    const uint64_t c1 = __builtin_add_overflow(x, y, &t);
    const uint64_t c2 = __builtin_add_overflow(t, carry, d);
    return c1 | c2;
}

/* r = a + b, unreduced (< 2p, for the S-box's input). a, b < p < 2^254: the sum cannot overflow. */
static inline void fe_add_lazy(jv_fe *r, const jv_fe *a, const jv_fe *b) {
    uint64_t carry = adc(a->limb[0], b->limb[0], 0, &r->limb[0]);
    carry = adc(a->limb[1], b->limb[1], carry, &r->limb[1]);
    carry = adc(a->limb[2], b->limb[2], carry, &r->limb[2]);
    (void)adc(a->limb[3], b->limb[3], carry, &r->limb[3]);
}

/* r = a + b mod p. a, b < p < 2^254, so the 256-bit sum cannot overflow. */
static inline void fe_add(jv_fe *r, const jv_fe *a, const jv_fe *b) {
    uint64_t s[4];
    uint64_t carry = adc(a->limb[0], b->limb[0], 0, &s[0]);
    carry = adc(a->limb[1], b->limb[1], carry, &s[1]);
    carry = adc(a->limb[2], b->limb[2], carry, &s[2]);
    (void)adc(a->limb[3], b->limb[3], carry, &s[3]);
    reduce_once(r, s);
}

/* lo word of t + a * b + *carry; the high word goes to *carry (cannot overflow 128 bits). */
static inline uint64_t mac(uint64_t t, uint64_t a, uint64_t b, uint64_t *carry) {
    const u128 prod = (u128)a * b;
    uint64_t lo = (uint64_t)prod, hi = (uint64_t)(prod >> 64);
    lo += t;
    hi += lo < t;
    lo += *carry;
    hi += lo < *carry;
    *carry = hi;
    return lo;
}

/* One CIOS step: t = (t + a * bi + m * p) / 2^64, m making the division exact. Without the usual fifth
 * carry word (the "no-carry" variant of gnark): t stays below a + p < 2^256 for a < 2p, so the top
 * word A + C cannot overflow. */
#define MONT_STEP(bi)                            \
    do {                                         \
        uint64_t A = 0, C = 0;                   \
        t0 = mac(t0, a0, (bi), &A);              \
        const uint64_t m = t0 * P_NEG_INV;       \
        (void)mac(t0, m, P[0], &C);              \
        t1 = mac(t1, a1, (bi), &A);              \
        t0 = mac(t1, m, P[1], &C);               \
        t2 = mac(t2, a2, (bi), &A);              \
        t1 = mac(t2, m, P[2], &C);               \
        t3 = mac(t3, a3, (bi), &A);              \
        t2 = mac(t3, m, P[3], &C);               \
        t3 = C + A;                              \
    } while (0)

/* r = a * b / R mod p + (0 or p), for a, b < 2p: the Montgomery product before its final subtraction
 * (it is below a * b / R + p < 2p, as 4p < R). r may alias a or b. */
static inline void fe_mul_lazy(jv_fe *r, const jv_fe *a, const jv_fe *b) {
    const uint64_t a0 = a->limb[0], a1 = a->limb[1], a2 = a->limb[2], a3 = a->limb[3];
    const uint64_t b0 = b->limb[0], b1 = b->limb[1], b2 = b->limb[2], b3 = b->limb[3];
    uint64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    MONT_STEP(b0);
    MONT_STEP(b1);
    MONT_STEP(b2);
    MONT_STEP(b3);
    r->limb[0] = t0;
    r->limb[1] = t1;
    r->limb[2] = t2;
    r->limb[3] = t3;
}

/* r = a * b / R mod p, reduced, for a, b < 2p. r may alias a or b. */
static inline void fe_mul(jv_fe *r, const jv_fe *a, const jv_fe *b) {
    jv_fe t;
    fe_mul_lazy(&t, a, b);
    reduce_once(r, t.limb);
}

/* x = x^5, the S-box; the squares stay unreduced (< 2p), which fe_mul accepts. */
static inline void fe_pow5(jv_fe *x) {
    jv_fe x2, x4;
    fe_mul_lazy(&x2, x, x);
    fe_mul_lazy(&x4, &x2, &x2);
    fe_mul(x, &x4, x);
}

/* (acc, ov) += x * y: a 192-bit column accumulator. */
#define ACC(x, y)                           \
    do {                                    \
        const u128 prod_ = (u128)(x) * (y); \
        acc += prod_;                       \
        ov += acc < prod_;                  \
    } while (0)

/* r = (xs[0] * ys[0] + ... + xs[n-1] * ys[n-1]) / R mod p for n <= 5 and entries < p. The sum stays
 * below n * p^2 < p * R (R / p > 5.29), so one Montgomery reduction serves it all and leaves < 2p.
 * Product scanning, column by column, with the reduction interleaved (m[col] zeroes column col). */
static inline __attribute__((always_inline)) void mont_dot(jv_fe *r, const jv_fe *xs, const jv_fe *ys,
                                                           const int n) {
    u128 acc = 0;
    uint64_t ov = 0;
    uint64_t m[4], out[4];
#pragma GCC unroll 7
    for (int col = 0; col < 7; col++) {
        const int lo = col < 4 ? 0 : col - 3, hi = col < 4 ? col : 3; /* limb pairs (i, col - i) */
#pragma GCC unroll 5
        for (int k = 0; k < n; k++)
#pragma GCC unroll 4
            for (int i = lo; i <= hi; i++) ACC(xs[k].limb[i], ys[k].limb[col - i]);
#pragma GCC unroll 4
        for (int i = lo; i < (col < 4 ? col : 4); i++) ACC(m[i], P[col - i]);
        if (col < 4) {
            m[col] = (uint64_t)acc * P_NEG_INV;
            ACC(m[col], P[0]);
        } else {
            out[col - 4] = (uint64_t)acc;
        }
        acc = (acc >> 64) | ((u128)ov << 64);
        ov = 0;
    }
    out[3] = (uint64_t)acc; /* what is left is below 2p < 2^256: one word */
    reduce_once(r, out);
}

/* r = row . v over t entries (< p); mont_dot takes at most 5, so width 6 sums two halves. */
static inline void fe_dot(jv_fe *r, const jv_fe *row, const jv_fe *v, const int t) {
    if (t <= 5) {
        mont_dot(r, row, v, t);
    } else {
        jv_fe upper;
        mont_dot(r, row, v, 3);
        mont_dot(&upper, row + 3, v + 3, t - 3);
        fe_add(r, r, &upper);
    }
}

/* --- the permutation ---------------------------------------------------------------------------- */

/* s = m . s for a dense t x t matrix. */
static inline void mix(jv_fe *s, const jv_fe *m, const int t) {
    jv_fe out[JV_POSEIDON_MAX_T];
    for (int i = 0; i < t; i++) fe_dot(&out[i], &m[i * t], s, t);
    for (int i = 0; i < t; i++) s[i] = out[i];
}

/* A full round's first half: add the round constants, S-box every entry (fe_pow5 takes < 2p). */
static inline void add_sbox_all(jv_fe *s, const jv_fe *consts, const int t) {
    for (int i = 0; i < t; i++) {
        fe_add_lazy(&s[i], &s[i], &consts[i]);
        fe_pow5(&s[i]);
    }
}

/* The permutation on a Montgomery-form state; returns state[0] (Montgomery form). Always inlined so
 * that each width gets its own copy with t a compile-time constant (loops unrolled). */
static inline __attribute__((always_inline)) void permute(const jv_poseidon_params *params, jv_fe *s,
                                                          jv_fe *out, const int t) {
    const int rounds_p = params->rounds_p;
    const jv_fe *full1 = params->table;
    const jv_fe *pre_mix = full1 + 4 * t;
    const jv_fe *partial = pre_mix + t * t;
    const jv_fe *full2 = partial + (size_t)rounds_p * 2 * t;
    const jv_fe *mds = full2 + 4 * t;

    for (int r = 0; r < 4; r++) {
        add_sbox_all(s, full1 + r * t, t);
        mix(s, r == 3 ? pre_mix : mds, t);
    }
    /* Partial round (k, row_0..row_{t-1}, col_1..col_{t-1}): s0 = (s0 + k)^5, then s0 = row . s and
     * s_i += col_i * (the S-boxed s0). */
    for (int r = 0; r < rounds_p; r++) {
        const jv_fe *c = partial + (size_t)r * 2 * t;
        fe_add_lazy(&s[0], &s[0], &c[0]);
        fe_pow5(&s[0]);
        jv_fe new0, term;
        fe_dot(&new0, c + 1, s, t);
        for (int i = 1; i < t; i++) {
            fe_mul(&term, &c[t + i], &s[0]);
            fe_add(&s[i], &s[i], &term);
        }
        s[0] = new0;
    }
    for (int r = 0; r < 3; r++) {
        add_sbox_all(s, full2 + r * t, t);
        mix(s, mds, t);
    }
    add_sbox_all(s, full2 + 3 * t, t);
    fe_dot(out, mds, s, t); /* only row 0 of the last mix is the output */
}

/* Canonical inputs -> Montgomery state [0, inputs...] -> permutation -> canonical result. */
static inline __attribute__((always_inline)) void hash_width(const jv_poseidon_params *params,
                                                             const jv_fe *inputs, jv_fe *out, const int t) {
    jv_fe s[JV_POSEIDON_MAX_T];
    jv_fe r;
    s[0] = (jv_fe){{0, 0, 0, 0}};
    for (int i = 1; i < t; i++) fe_mul(&s[i], &inputs[i - 1], &R2);
    permute(params, s, &r, t);
    fe_mul(out, &r, &ONE);
}

/* --- the batch kernel's constants in radix 2^52 ------------------------------------------------ */

/* The vector kernel needs x86-64 and gcc/clang (function attributes, __builtin_cpu_supports); building
 * with -DJV_IFMA_KERNEL=0 leaves it out (what other machines get). */
#ifndef JV_IFMA_KERNEL
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define JV_IFMA_KERNEL 1
#else
#define JV_IFMA_KERNEL 0
#endif
#endif

/* A constant for the vector kernel: 5 limbs of 52 bits, Montgomery form with R = 2^260. */
typedef struct {
    uint64_t l[5];
} fe52;

/* A width's schedule (jv_poseidon_params' table, same layout) converted for the vector kernel, plus
 * row 0 of the MDS matrix in plain form after it (the last product then leaves Montgomery form). */
typedef struct {
    int t;
    int rounds_p;
    fe52 *table;
} simd_table;

static inline void fe_to_fe52(fe52 *out, const jv_fe *a) {
    out->l[0] = a->limb[0] & 0xfffffffffffffULL;
    out->l[1] = (a->limb[0] >> 52 | a->limb[1] << 12) & 0xfffffffffffffULL;
    out->l[2] = (a->limb[1] >> 40 | a->limb[2] << 24) & 0xfffffffffffffULL;
    out->l[3] = (a->limb[2] >> 28 | a->limb[3] << 36) & 0xfffffffffffffULL;
    out->l[4] = a->limb[3] >> 16;
}

static inline void fe52_to_fe(jv_fe *out, const fe52 *a) {
    out->limb[0] = a->l[0] | a->l[1] << 52;
    out->limb[1] = a->l[1] >> 12 | a->l[2] << 40;
    out->limb[2] = a->l[2] >> 24 | a->l[3] << 28;
    out->limb[3] = a->l[3] >> 36 | a->l[4] << 16;
}

/* Converts params' table (x * 2^256 mod p) to x * 2^260 mod p (times 16: four doublings), radix 2^52;
 * returns 0 when out of memory. */
static int simd_table_build(simd_table *out, const jv_poseidon_params *params) {
    const int t = params->t;
    const size_t n = jv_poseidon_table_len(t, params->rounds_p);
    fe52 *table = (fe52 *)malloc((n + (size_t)t) * sizeof(fe52));
    if (table == NULL) return 0;
    for (size_t i = 0; i < n; i++) {
        jv_fe x = params->table[i];
        for (int k = 0; k < 4; k++) fe_add(&x, &x, &x);
        fe_to_fe52(&table[i], &x);
    }
    const jv_fe *mds = params->table + n - (size_t)t * t;
    for (int i = 0; i < t; i++) {
        jv_fe plain;
        fe_mul(&plain, &mds[i], &ONE);
        fe_to_fe52(&table[n + (size_t)i], &plain);
    }
    *out = (simd_table){t, params->rounds_p, table};
    return 1;
}

static void simd_table_free(simd_table *tab) { free(tab->table); }

/* --- the AVX-512 IFMA kernel ----------------------------------------------------------------------
 *
 * Eight hashes per vector, one per 64-bit lane. An element is 5 limbs of 52 bits (one __m512i per
 * limb) in Montgomery form with R = 2^260, so vpmadd52luq/vpmadd52huq add each 52 x 52-bit partial
 * product's low and high halves straight into 64-bit column accumulators (12 spare bits: a column
 * takes thousands of them before it must be carried). Every operation below works on `nb` independent
 * 8-lane blocks at once, instruction by instruction interleaved: one block's chain of dependent
 * multiply-adds (the partial rounds are one long chain) leaves the two IFMA ports idle, two blocks
 * keep them busy. Compiled through function attributes only and called only when the CPU has IFMA
 * (jv_poseidon_simd_enabled), so the build needs no -m flag.
 *
 * Bounds: R / p > 84, so a Montgomery product (or dot product of up to 6 terms) of inputs below a few
 * p each lands below 2p (it is at most sum / R + p). Values stay below 3p, except the partial rounds'
 * s_1.. which grow by < 1.03p per round and are reduced every SIMD_REDUCE_EVERY rounds (staying below
 * 11p: the next dot product is then below (2 + 5 * 11) / 84 p + p + p < 3p). Limbs must be < 2^52
 * whenever an element is a multiplication operand, so every stored element is normalized. */
#if JV_IFMA_KERNEL

#include <immintrin.h>

#define IFMA_FN static __attribute__((target("avx512f,avx512ifma")))
#define IFMA_INLINE static inline __attribute__((always_inline, target("avx512f,avx512ifma")))
#define LIMBS52 5
#define MASK52 0xfffffffffffffULL
#define SIMD_REDUCE_EVERY 8
#define MAX_NB 2 /* blocks interleaved */

/* 8 lanes of one element: limb j of lane k is lane k of l[j]. */
typedef struct {
    __m512i l[LIMBS52];
} v8fe;

/* One element of each of nb blocks (x[b] belongs to block b). */
typedef v8fe vgroup[MAX_NB];

/* p, -p^-1 mod 2^52, R mod p (Montgomery 1) and R^2 mod p (entering Montgomery form), radix 2^52. */
static const fe52 P52 = {{0x1f593f0000001ULL, 0x4879b9709143eULL, 0x181585d2833e8ULL, 0xa029b85045b68ULL,
                          0x030644e72e131ULL}};
static const uint64_t P52_NEG_INV = 0x1f593efffffffULL;
static const fe52 ONE52 = {{0xb6b753fffffacULL, 0x380f271055b9dULL, 0x18f016ecef7c8ULL, 0x724f85a9201d8ULL,
                            0x01f16424e1bb7ULL}};
static const fe52 R2_52 = {{0x0b852d16da6f5ULL, 0xc621620cddce3ULL, 0xaf1b95343ffb6ULL, 0xc3c15e103e7c2ULL,
                            0x00281528fa122ULL}};

IFMA_INLINE __m512i bcast(uint64_t x) { return _mm512_set1_epi64((long long)x); }

/* Column sums of 10 limbs per block. */
typedef __m512i columns[MAX_NB][2 * LIMBS52];

IFMA_INLINE void columns_zero(columns c, const int nb) {
    for (int b = 0; b < nb; b++)
        for (int i = 0; i < 2 * LIMBS52; i++) c[b][i] = _mm512_setzero_si512();
}

/* c[b][i + j] += x_i * y[b]_j (low and high halves), x a constant. */
IFMA_INLINE void acc_const_product(columns c, const fe52 *x, const vgroup y, const int nb) {
    for (int i = 0; i < LIMBS52; i++) {
        const __m512i xi = bcast(x->l[i]);
        for (int j = 0; j < LIMBS52; j++)
            for (int b = 0; b < nb; b++) {
                c[b][i + j] = _mm512_madd52lo_epu64(c[b][i + j], xi, y[b].l[j]);
                c[b][i + j + 1] = _mm512_madd52hi_epu64(c[b][i + j + 1], xi, y[b].l[j]);
            }
    }
}

/* out[b] = c[b] / R mod p (+ 0 or a few p) + addend[b]: Montgomery reduction of the column sums,
 * normalized. addend (normalized, may be NULL) joins before the final carries: 5 additions. */
IFMA_INLINE void reduce_columns(vgroup out, columns c, const v8fe *addend, const int nb) {
    const __m512i pinv = bcast(P52_NEG_INV), zero = _mm512_setzero_si512();
    for (int i = 0; i < LIMBS52; i++) {
        __m512i m[MAX_NB];
        for (int b = 0; b < nb; b++) m[b] = _mm512_madd52lo_epu64(zero, c[b][i], pinv); /* c + m p = 0 */
        for (int j = 0; j < LIMBS52; j++) {
            const __m512i pj = bcast(P52.l[j]);
            for (int b = 0; b < nb; b++) {
                c[b][i + j] = _mm512_madd52lo_epu64(c[b][i + j], m[b], pj);
                c[b][i + j + 1] = _mm512_madd52hi_epu64(c[b][i + j + 1], m[b], pj);
            }
        }
        for (int b = 0; b < nb; b++) c[b][i + 1] = _mm512_add_epi64(c[b][i + 1], _mm512_srli_epi64(c[b][i], 52));
    }
    const __m512i mask = bcast(MASK52);
    __m512i carry[MAX_NB];
    for (int b = 0; b < nb; b++) carry[b] = _mm512_setzero_si512();
    for (int j = 0; j < LIMBS52; j++)
        for (int b = 0; b < nb; b++) {
            __m512i limb = _mm512_add_epi64(c[b][LIMBS52 + j], carry[b]);
            if (addend) limb = _mm512_add_epi64(limb, addend[b].l[j]);
            carry[b] = _mm512_srli_epi64(limb, 52);
            out[b].l[j] = j < LIMBS52 - 1 ? _mm512_and_si512(limb, mask) : limb;
        }
}

/* out = (row . s) / R mod p (+ 0 or a few p) + addend over n terms (s[k] is term k); row: constants. */
IFMA_INLINE void vdot_const(vgroup out, const fe52 *row, vgroup *s, const int n, const v8fe *addend,
                            const int nb) {
    columns c;
    columns_zero(c, nb);
    for (int k = 0; k < n; k++) acc_const_product(c, &row[k], s[k], nb);
    reduce_columns(out, c, addend, nb);
}

/* out = x * y / R for a constant x. */
IFMA_INLINE void vmul_const(vgroup out, const fe52 *x, const vgroup y, const v8fe *addend, const int nb) {
    columns c;
    columns_zero(c, nb);
    acc_const_product(c, x, y, nb);
    reduce_columns(out, c, addend, nb);
}

/* out = x * y / R: both operands vary per lane. out may alias x or y. */
IFMA_INLINE void vmul(vgroup out, const vgroup x, const vgroup y, const int nb) {
    columns c;
    columns_zero(c, nb);
    for (int i = 0; i < LIMBS52; i++)
        for (int j = 0; j < LIMBS52; j++)
            for (int b = 0; b < nb; b++) {
                c[b][i + j] = _mm512_madd52lo_epu64(c[b][i + j], x[b].l[i], y[b].l[j]);
                c[b][i + j + 1] = _mm512_madd52hi_epu64(c[b][i + j + 1], x[b].l[i], y[b].l[j]);
            }
    reduce_columns(out, c, NULL, nb);
}

/* out = x^2 / R: the 10 cross products once, doubled, plus the 5 squares (30 multiplies, not 50). */
IFMA_INLINE void vsqr(vgroup out, const vgroup x, const int nb) {
    columns c;
    columns_zero(c, nb);
    for (int i = 0; i < LIMBS52; i++)
        for (int j = i + 1; j < LIMBS52; j++)
            for (int b = 0; b < nb; b++) {
                c[b][i + j] = _mm512_madd52lo_epu64(c[b][i + j], x[b].l[i], x[b].l[j]);
                c[b][i + j + 1] = _mm512_madd52hi_epu64(c[b][i + j + 1], x[b].l[i], x[b].l[j]);
            }
    for (int k = 1; k < 2 * LIMBS52; k++)
        for (int b = 0; b < nb; b++) c[b][k] = _mm512_add_epi64(c[b][k], c[b][k]);
    for (int i = 0; i < LIMBS52; i++)
        for (int b = 0; b < nb; b++) {
            c[b][2 * i] = _mm512_madd52lo_epu64(c[b][2 * i], x[b].l[i], x[b].l[i]);
            c[b][2 * i + 1] = _mm512_madd52hi_epu64(c[b][2 * i + 1], x[b].l[i], x[b].l[i]);
        }
    reduce_columns(out, c, NULL, nb);
}

/* x = x^5 */
IFMA_INLINE void vpow5(vgroup x, const int nb) {
    vgroup x2, x4;
    vsqr(x2, x, nb);
    vsqr(x4, x2, nb);
    vmul(x, x4, x, nb);
}

/* x = x + k (constant), normalized. */
IFMA_INLINE void vadd_const(vgroup x, const fe52 *k, const int nb) {
    const __m512i mask = bcast(MASK52);
    for (int b = 0; b < nb; b++) {
        __m512i carry = _mm512_setzero_si512();
        for (int j = 0; j < LIMBS52; j++) {
            const __m512i limb = _mm512_add_epi64(_mm512_add_epi64(x[b].l[j], bcast(k->l[j])), carry);
            carry = _mm512_srli_epi64(limb, 52);
            x[b].l[j] = j < LIMBS52 - 1 ? _mm512_and_si512(limb, mask) : limb;
        }
    }
}

/* A constant broadcast to every lane of nb blocks (an addend for reduce_columns). */
IFMA_INLINE void vconst(v8fe out[MAX_NB], const fe52 *k, const int nb) {
    for (int b = 0; b < nb; b++)
        for (int j = 0; j < LIMBS52; j++) out[b].l[j] = bcast(k->l[j]);
}

/* s = m . s for a dense t x t constant matrix; row 0 gets addend0 (may be NULL). */
IFMA_INLINE void vmix(vgroup *s, const fe52 *m, const int t, const v8fe *addend0, const int nb) {
    vgroup out[JV_POSEIDON_MAX_T];
    for (int i = 0; i < t; i++) vdot_const(out[i], &m[i * t], s, t, i == 0 ? addend0 : NULL, nb);
    for (int i = 0; i < t; i++)
        for (int b = 0; b < nb; b++) s[i][b] = out[i][b];
}

IFMA_INLINE void vadd_sbox_all(vgroup *s, const fe52 *consts, const int t, const int nb) {
    for (int i = 0; i < t; i++) {
        vadd_const(s[i], &consts[i], nb);
        vpow5(s[i], nb);
    }
}

/* x mod p for normalized x < 2p: x - p unless that is negative (signed carries, arithmetic shifts). */
IFMA_INLINE void vreduce_once(v8fe *x) {
    const __m512i mask = bcast(MASK52);
    __m512i d[LIMBS52], carry = _mm512_setzero_si512();
    for (int j = 0; j < LIMBS52; j++) {
        const __m512i limb = _mm512_add_epi64(_mm512_sub_epi64(x->l[j], bcast(P52.l[j])), carry);
        carry = _mm512_srai_epi64(limb, 52);
        d[j] = _mm512_and_si512(limb, mask);
    }
    const __mmask8 keep = _mm512_cmplt_epi64_mask(carry, _mm512_setzero_si512()); /* x < p */
    for (int j = 0; j < LIMBS52; j++) x->l[j] = _mm512_mask_blend_epi64(keep, d[j], x->l[j]);
}

/* Canonical inputs of 8 lanes -> one element: lane k takes inputs[k * arity]. */
IFMA_INLINE void load_lanes(v8fe *x, const jv_fe *inputs, const size_t arity) {
    uint64_t lanes[LIMBS52][8] __attribute__((aligned(64)));
    for (int k = 0; k < 8; k++) {
        fe52 l;
        fe_to_fe52(&l, &inputs[(size_t)k * arity]);
        for (int j = 0; j < LIMBS52; j++) lanes[j][k] = l.l[j];
    }
    for (int j = 0; j < LIMBS52; j++) x->l[j] = _mm512_load_si512(lanes[j]);
}

IFMA_INLINE void store_lanes(jv_fe *out, const v8fe *x) {
    uint64_t lanes[LIMBS52][8] __attribute__((aligned(64)));
    for (int j = 0; j < LIMBS52; j++) _mm512_store_si512(lanes[j], x->l[j]);
    for (int k = 0; k < 8; k++) {
        fe52 l;
        for (int j = 0; j < LIMBS52; j++) l.l[j] = lanes[j][k];
        fe52_to_fe(&out[k], &l);
    }
}

/* Hashes 8 * nb lanes: inputs[k * (t - 1) + i] is input i of lane k; out[k] gets lane k's hash. */
IFMA_INLINE void hash_block(const simd_table *tab, const jv_fe *inputs, jv_fe *out, const int t, const int nb) {
    const size_t arity = (size_t)(t - 1);
    const int rounds_p = tab->rounds_p;
    const fe52 *full1 = tab->table;
    const fe52 *pre_mix = full1 + 4 * t;
    const fe52 *partial = pre_mix + t * t;
    const fe52 *full2 = partial + (size_t)rounds_p * 2 * t;
    const fe52 *mds = full2 + 4 * t;
    const fe52 *out_row = mds + t * t; /* mds row 0 in plain form: its product leaves Montgomery form */
    vgroup s[JV_POSEIDON_MAX_T];
    v8fe k[MAX_NB];

    for (int b = 0; b < nb; b++) {
        for (int j = 0; j < LIMBS52; j++) s[0][b].l[j] = _mm512_setzero_si512();
        for (size_t i = 0; i < arity; i++) load_lanes(&s[i + 1][b], inputs + 8 * arity * (size_t)b + i, arity);
    }
    for (size_t i = 0; i < arity; i++) vmul_const(s[i + 1], &R2_52, s[i + 1], NULL, nb); /* Montgomery form */

    for (int r = 0; r < 4; r++) {
        vadd_sbox_all(s, full1 + r * t, t, nb);
        if (r < 3) {
            vmix(s, mds, t, NULL, nb);
        } else {
            vconst(k, &partial[0], nb);
            vmix(s, pre_mix, t, k, nb); /* the first partial round's constant, added for free */
        }
    }
    /* Partial round (k, row_0..row_{t-1}, col_1..col_{t-1}), as in the scalar permute. s_0 already
     * holds its k: each round adds the next round's k to the new s_0. */
    for (int r = 0; r < rounds_p; r++) {
        const fe52 *c = partial + (size_t)r * 2 * t;
        vpow5(s[0], nb);
        vgroup new0;
        const int last = r + 1 == rounds_p;
        if (!last) vconst(k, &c[2 * t], nb);
        vdot_const(new0, c + 1, s, t, last ? NULL : k, nb);
        const int reduce = (r + 1) % SIMD_REDUCE_EVERY == 0;
        for (int i = 1; i < t; i++) {
            vgroup prev;
            for (int b = 0; b < nb; b++) prev[b] = s[i][b];
            vmul_const(s[i], &c[t + i], s[0], prev, nb);
            if (reduce) vmul_const(s[i], &ONE52, s[i], NULL, nb); /* below 2p again */
        }
        for (int b = 0; b < nb; b++) s[0][b] = new0[b];
    }
    for (int r = 0; r < 3; r++) {
        vadd_sbox_all(s, full2 + r * t, t, nb);
        vmix(s, mds, t, NULL, nb);
    }
    vadd_sbox_all(s, full2 + 3 * t, t, nb);
    vgroup h;
    vdot_const(h, out_row, s, t, NULL, nb);
    for (int b = 0; b < nb; b++) {
        vreduce_once(&h[b]);
        store_lanes(out + 8 * b, &h[b]);
    }
}

#define SIMD_BLOCK (8 * MAX_NB)

/* Hashes whole blocks of 8 * MAX_NB, then of 8 while as many are left; returns how many it hashed
 * (n rounded down to a multiple of 8). */
IFMA_FN size_t simd_many(const simd_table *tab, const jv_fe *inputs, size_t n, jv_fe *out) {
    const size_t arity = (size_t)(tab->t - 1);
    size_t done = 0;
#define HASH_WIDTH(T)                                                                                   \
    case T:                                                                                             \
        for (; done + SIMD_BLOCK <= n; done += SIMD_BLOCK)                                              \
            hash_block(tab, inputs + arity * done, out + done, T, MAX_NB);                              \
        for (; done + 8 <= n; done += 8) hash_block(tab, inputs + arity * done, out + done, T, 1);      \
        break;
    switch (tab->t) { /* one specialized copy per width */
        HASH_WIDTH(2)
        HASH_WIDTH(3)
        HASH_WIDTH(4)
        HASH_WIDTH(5)
        HASH_WIDTH(6)
    default: break;
    }
#undef HASH_WIDTH
    return done;
}

#endif /* JV_IFMA_KERNEL */

/* --- public API (poseidon.h) -------------------------------------------------------------------- */

size_t jv_poseidon_table_len(int t, int rounds_p) {
    return (size_t)(4 * t + t * t + rounds_p * 2 * t + 4 * t + t * t);
}

void jv_fe_from_le_bytes(jv_fe *out, const unsigned char bytes[32]) {
    for (int i = 0; i < 4; i++) {
        uint64_t limb = 0;
        for (int j = 7; j >= 0; j--) limb = limb << 8 | bytes[8 * i + j];
        out->limb[i] = limb;
    }
}

void jv_fe_to_le_bytes(unsigned char bytes[32], const jv_fe *a) {
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) bytes[8 * i + j] = (unsigned char)(a->limb[i] >> (8 * j));
}

int jv_fe_is_canonical(const jv_fe *a) {
    for (int i = 3; i >= 0; i--) {
        if (a->limb[i] != P[i]) return a->limb[i] < P[i];
    }
    return 0; /* a == p */
}

void jv_fe_array_to_montgomery(jv_fe *a, size_t n) {
    for (size_t i = 0; i < n; i++) fe_mul(&a[i], &a[i], &R2);
}

void jv_poseidon(const jv_poseidon_params *params, const jv_fe *inputs, jv_fe *out) {
    switch (params->t) { /* one specialized copy per width */
    case 2: hash_width(params, inputs, out, 2); break;
    case 3: hash_width(params, inputs, out, 3); break;
    case 4: hash_width(params, inputs, out, 4); break;
    case 5: hash_width(params, inputs, out, 5); break;
    case 6: hash_width(params, inputs, out, 6); break;
    default: break; /* unreachable: the wrapper only builds params for t = 2..6 */
    }
}

/* --- batches: the vector kernel when the CPU has it, else (and for short tails) the scalar loop ---- */

/* A tail of at least this many hashes runs as one padded vector block (8 lanes cost about as much as
 * this many scalar hashes); a shorter one runs on the scalar path. */
#define SIMD_TAIL_MIN 2

static void many_scalar(const jv_poseidon_params *params, const jv_fe *inputs, size_t n, jv_fe *out) {
    switch (params->t) { /* one specialized loop per width */
    case 2: for (size_t i = 0; i < n; i++) hash_width(params, inputs + i, out + i, 2); break;
    case 3: for (size_t i = 0; i < n; i++) hash_width(params, inputs + 2 * i, out + i, 3); break;
    case 4: for (size_t i = 0; i < n; i++) hash_width(params, inputs + 3 * i, out + i, 4); break;
    default:
        for (size_t i = 0; i < n; i++) jv_poseidon(params, inputs + (size_t)(params->t - 1) * i, out + i);
        break;
    }
}

/* The batch with a converted table (vector blocks, then the tail) or without one (scalar). */
static void many_with(const jv_poseidon_params *params, const simd_table *tab, const jv_fe *inputs,
                      size_t n, jv_fe *out) {
    size_t done = 0;
#if JV_IFMA_KERNEL
    if (tab != NULL) {
        const size_t arity = (size_t)(params->t - 1);
        done = simd_many(tab, inputs, n, out);
        const size_t tail = n - done;
        if (tail >= SIMD_TAIL_MIN) { /* pad the tail to 8 lanes with zero inputs */
            jv_fe padded_in[8 * (JV_POSEIDON_MAX_T - 1)] = {{{0}}}, padded_out[8];
            for (size_t i = 0; i < tail * arity; i++) padded_in[i] = inputs[done * arity + i];
            simd_many(tab, padded_in, 8, padded_out);
            for (size_t i = 0; i < tail; i++) out[done + i] = padded_out[i];
            done = n;
        }
    }
#else
    (void)tab;
#endif
    many_scalar(params, inputs + (size_t)(params->t - 1) * done, n - done, out + done);
}

/* -1 until first asked: then whether batches use the vector kernel (jv_poseidon_set_simd changes it). */
static int simd_setting = -1;

int jv_poseidon_simd_available(void) {
#if JV_IFMA_KERNEL
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512ifma");
#else
    return 0;
#endif
}

int jv_poseidon_simd_enabled(void) {
    int setting = __atomic_load_n(&simd_setting, __ATOMIC_RELAXED);
    if (setting < 0) {
        const char *env = getenv("JOVAY_POSEIDON_SIMD");
        setting = jv_poseidon_simd_available() && !(env != NULL && strcmp(env, "0") == 0);
        __atomic_store_n(&simd_setting, setting, __ATOMIC_RELAXED);
    }
    return setting;
}

int jv_poseidon_set_simd(int enabled) {
    const int setting = enabled && jv_poseidon_simd_available();
    __atomic_store_n(&simd_setting, setting, __ATOMIC_RELAXED);
    return setting;
}

/* The converted table for a batch of n, or 0 (scalar path: kernel off, batch too small, no memory). */
static int batch_table(simd_table *tab, const jv_poseidon_params *params, size_t n) {
    return n >= SIMD_TAIL_MIN && jv_poseidon_simd_enabled() && simd_table_build(tab, params);
}

void jv_poseidon_many(const jv_poseidon_params *params, const jv_fe *inputs, size_t n, jv_fe *out) {
    simd_table tab;
    if (batch_table(&tab, params, n)) {
        many_with(params, &tab, inputs, n, out);
        simd_table_free(&tab);
    } else {
        many_scalar(params, inputs, n, out);
    }
}

void jv_poseidon_pairs(const jv_poseidon_params *params, const jv_fe *pairs, size_t n, jv_fe *out) {
    jv_poseidon_many(params, pairs, n, out); /* params has t = 3: the inputs are the pairs */
}

/* --- batches over threads ----------------------------------------------------------------------- */

typedef struct {
    const jv_poseidon_params *params;
    const simd_table *tab;
    const jv_fe *inputs;
    size_t n;
    jv_fe *out;
} batch_job;

static void *run_batch_job(void *arg) {
    const batch_job *job = (const batch_job *)arg;
    many_with(job->params, job->tab, job->inputs, job->n, job->out);
    return NULL;
}

int jv_poseidon_many_threaded(const jv_poseidon_params *params, const jv_fe *inputs, size_t n, jv_fe *out,
                              int threads) {
    if (threads > JV_MAX_THREADS) threads = JV_MAX_THREADS;
    if (threads < 2 || n < 2 * JV_MIN_PER_THREAD) {
        jv_poseidon_many(params, inputs, n, out);
        return 1;
    }
    if ((size_t)threads * JV_MIN_PER_THREAD > n) threads = (int)(n / JV_MIN_PER_THREAD);
    simd_table tab;
    const int vector = batch_table(&tab, params, n);
    const size_t arity = (size_t)(params->t - 1);
    batch_job jobs[JV_MAX_THREADS];
    pthread_t ids[JV_MAX_THREADS];
    int started[JV_MAX_THREADS] = {0};
    size_t begin = 0;
    for (int k = 0; k < threads; k++) { /* even shares, whole vector blocks; the calling thread takes 0 */
        size_t end = n * (size_t)(k + 1) / (size_t)threads;
        if (k + 1 < threads) end -= end % 8;
        jobs[k] = (batch_job){params, vector ? &tab : NULL, inputs + arity * begin, end - begin, out + begin};
        begin = end;
    }
    for (int k = 1; k < threads; k++) started[k] = pthread_create(&ids[k], NULL, run_batch_job, &jobs[k]) == 0;
    run_batch_job(&jobs[0]);
    int used = 1;
    for (int k = 1; k < threads; k++) {
        if (started[k]) {
            pthread_join(ids[k], NULL);
            used++;
        } else {
            run_batch_job(&jobs[k]); /* no thread to be had: do that share here */
        }
    }
    if (vector) simd_table_free(&tab);
    return used;
}
