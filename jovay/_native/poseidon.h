/* circomlib Poseidon over the BN254 scalar field, widths t = 2..6 (1..5 inputs).
 *
 * The round constants are not compiled in: the caller (jovay/_native/_poseidon.pyx) hands over the pure
 * module's optimized schedule once per width, so the C code and jovay/crypto/poseidon.py cannot drift
 * apart on constants. Field elements are 4 little-endian 64-bit limbs. Everything here runs without the
 * GIL: it computes on caller-owned memory, except that a batch of 2 or more allocates (and frees) the
 * vector kernel's copy of the schedule, and jv_poseidon_set_simd writes one global switch (atomically).
 */
#ifndef JOVAY_POSEIDON_H
#define JOVAY_POSEIDON_H

#include <stddef.h>
#include <stdint.h>

#define JV_POSEIDON_MIN_T 2
#define JV_POSEIDON_MAX_T 6

/* An element of Fr as 4 little-endian 64-bit limbs (canonical or Montgomery form, as documented). */
typedef struct {
    uint64_t limb[4];
} jv_fe;

/* One width's optimized schedule (jovay/crypto/poseidon.py, `_Schedule`), entries in Montgomery form,
 * laid out back to back: full1[4][t], pre_mix[t][t], partial[rounds_p][2t], full2[4][t], mds[t][t]. */
typedef struct {
    int t;
    int rounds_p;
    const jv_fe *table;
} jv_poseidon_params;

/* Number of jv_fe entries of a schedule table. */
size_t jv_poseidon_table_len(int t, int rounds_p);

/* Canonical element from / to 32 little-endian bytes (no reduction: check with jv_fe_is_canonical). */
void jv_fe_from_le_bytes(jv_fe *out, const unsigned char bytes[32]);
void jv_fe_to_le_bytes(unsigned char bytes[32], const jv_fe *a);

/* 1 when a < p. */
int jv_fe_is_canonical(const jv_fe *a);

/* In place: n canonical elements to Montgomery form (for building a schedule table). */
void jv_fe_array_to_montgomery(jv_fe *a, size_t n);

/* poseidon(inputs[0..t-2]) for canonical inputs; canonical result. */
void jv_poseidon(const jv_poseidon_params *params, const jv_fe *inputs, jv_fe *out);

/* out[i] = poseidon(pairs[2i], pairs[2i + 1]) for i < n; params must have t = 3. */
void jv_poseidon_pairs(const jv_poseidon_params *params, const jv_fe *pairs, size_t n, jv_fe *out);

/* out[i] = poseidon(inputs[(t-1)i .. (t-1)i + t-2]) for i < n (any width of params). */
void jv_poseidon_many(const jv_poseidon_params *params, const jv_fe *inputs, size_t n, jv_fe *out);

/* jv_poseidon_many split evenly over up to `threads` threads (the caller's included), for batches of
 * at least JV_MIN_PER_THREAD hashes per thread; returns how many threads ran. Each thread only reads
 * params and inputs and writes its own slice of out, so the result does not depend on the split. */
#define JV_MAX_THREADS 8
#define JV_MIN_PER_THREAD 64
int jv_poseidon_many_threaded(const jv_poseidon_params *params, const jv_fe *inputs, size_t n, jv_fe *out,
                              int threads);

/* The batch functions above (jv_poseidon_many, jv_poseidon_pairs, jv_poseidon_many_threaded) hash 8 at a
 * time with an AVX-512 IFMA kernel when the CPU has one (checked at run time: the build needs no -m
 * flag), else one at a time; both give the same results. The kernel is on by default where available,
 * unless the environment sets JOVAY_POSEIDON_SIMD=0 when it is first consulted. */

/* 1 when this build and CPU can run the vector kernel. */
int jv_poseidon_simd_available(void);

/* 1 when batches use the vector kernel now. */
int jv_poseidon_simd_enabled(void);

/* Turns the vector kernel on (if available) or off for later batches; returns jv_poseidon_simd_enabled(). */
int jv_poseidon_set_simd(int enabled);

#endif /* JOVAY_POSEIDON_H */
