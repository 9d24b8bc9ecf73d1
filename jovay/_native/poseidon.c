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
 */
#include "poseidon.h"

#include <pthread.h>

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

void jv_poseidon_pairs(const jv_poseidon_params *params, const jv_fe *pairs, size_t n, jv_fe *out) {
    for (size_t i = 0; i < n; i++) hash_width(params, pairs + 2 * i, out + i, 3);
}

void jv_poseidon_many(const jv_poseidon_params *params, const jv_fe *inputs, size_t n, jv_fe *out) {
    const int arity = params->t - 1;
    switch (params->t) { /* one specialized loop per width */
    case 2: for (size_t i = 0; i < n; i++) hash_width(params, inputs + i, out + i, 2); break;
    case 3: for (size_t i = 0; i < n; i++) hash_width(params, inputs + 2 * i, out + i, 3); break;
    case 4: for (size_t i = 0; i < n; i++) hash_width(params, inputs + 3 * i, out + i, 4); break;
    default:
        for (size_t i = 0; i < n; i++) jv_poseidon(params, inputs + (size_t)arity * i, out + i);
        break;
    }
}

/* --- batches over threads ----------------------------------------------------------------------- */

typedef struct {
    const jv_poseidon_params *params;
    const jv_fe *inputs;
    size_t n;
    jv_fe *out;
} batch_job;

static void *run_batch_job(void *arg) {
    const batch_job *job = (const batch_job *)arg;
    jv_poseidon_many(job->params, job->inputs, job->n, job->out);
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
    const size_t arity = (size_t)(params->t - 1);
    batch_job jobs[JV_MAX_THREADS];
    pthread_t ids[JV_MAX_THREADS];
    int started[JV_MAX_THREADS] = {0};
    size_t begin = 0;
    for (int k = 0; k < threads; k++) { /* even shares; the calling thread takes share 0 */
        const size_t end = n * (size_t)(k + 1) / (size_t)threads;
        jobs[k] = (batch_job){params, inputs + arity * begin, end - begin, out + begin};
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
    return used;
}
