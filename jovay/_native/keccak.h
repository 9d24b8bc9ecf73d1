/* Keccak-256 (Ethereum's, original padding 0x01) and the Merkle-Patricia root of an indexed list. */
#ifndef JOVAY_KECCAK_H
#define JOVAY_KECCAK_H

#include <stddef.h>
#include <stdint.h>

void jovay_keccak256(const uint8_t *data, size_t len, uint8_t out[32]);

/* Root of the MPT holding rlp(i) -> values[i] for i < count (the header's transactionsRoot and
 * receiptsRoot). Every value must be non-empty. Returns 0, or -1 when memory runs out. Touches no
 * Python object, so callers may release the GIL around it. */
int jovay_indexed_mpt_root(const uint8_t *const *values, const size_t *lengths, size_t count,
                           uint8_t out[32]);

#endif
