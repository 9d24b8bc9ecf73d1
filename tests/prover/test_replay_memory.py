"""The fault replay's memory stays bounded while games keep their witnesses.

Many batches of transfers among a few accounts are replayed with outputs finalizing a few batches
behind, as on a running chain: the live state stays small while its history grows without end. The
pruned replay must give the same roots and witnesses as one that keeps everything, for every batch
that can still be disputed, while its node store stops growing.
"""

from __future__ import annotations

from collections import Counter

import pytest

from jovay.codec.batch import ITEM_TRANSACTION, BatchItem
from jovay.params import MIN_BASE_FEE
from jovay.stf.genesis import Genesis
from prover.fault.replay import BatchReplay
from tests.helpers import ADDRESSES, CHAIN_ID, ETH, KEYS, raw_tx

BATCHES = 160
UNFINALIZED = 4  # batches whose outputs are still inside their window at any time
TRANSFERS_PER_BATCH = 3
START = 1_700_000_000


class ListReplay(BatchReplay):
    """A BatchReplay over batches held in a list; counts how often each batch's items are loaded."""

    def __init__(self, genesis: Genesis, batches: list[list[BatchItem]], min_prune_nodes: int) -> None:
        super().__init__(genesis, min_prune_nodes=min_prune_nodes)
        self.batches = batches
        self.loads: Counter[int] = Counter()

    def load_items(self, index: int) -> list[BatchItem]:
        self.loads[index] += 1
        return self.batches[index]


@pytest.fixture(scope="module")
def chain() -> tuple[Genesis, list[list[BatchItem]]]:
    """Three accounts passing ETH around: a fixed set of leaves rewritten in every batch."""
    accounts = 3
    genesis = Genesis(
        identity_admin=ADDRESSES[0],
        timestamp=START,
        chain_id=CHAIN_ID,
        alloc={ADDRESSES[i]: 100 * ETH for i in range(accounts)},
    )
    nonces = [0] * accounts
    batches = []
    for b in range(BATCHES):
        items = []
        for t in range(TRANSFERS_PER_BATCH):
            sender = (b + t) % accounts
            to = ADDRESSES[(sender + 1) % accounts]
            raw = raw_tx(KEYS[sender], nonce=nonces[sender], to=to, value=10**15 + b)
            nonces[sender] += 1
            items.append(BatchItem(ITEM_TRANSACTION, b + 1, START + b, MIN_BASE_FEE, raw))
        batches.append(items)
    return genesis, batches


def test_store_stays_bounded_and_unfinalized_batches_keep_their_witnesses(
    chain: tuple[Genesis, list[list[BatchItem]]],
) -> None:
    genesis, batches = chain
    keep_all = ListReplay(genesis, batches, min_prune_nodes=10**9)
    pruned = ListReplay(genesis, batches, min_prune_nodes=100)
    sizes = []
    for index in range(BATCHES):
        assert pruned.output_root(index) == keep_all.output_root(index)
        pruned.forget_finalized(max(0, index + 1 - UNFINALIZED))
        sizes.append(len(pruned.store))
    print(f"nodes kept: at most {max(sizes)} pruned, {len(keep_all.store)} with full history")

    # The history grows linearly; the pruned store does not grow with it.
    assert len(keep_all.store) > 10 * max(sizes)
    assert max(sizes[BATCHES // 2 :]) <= max(sizes[: BATCHES // 2])
    assert pruned.base_index == BATCHES - UNFINALIZED

    # Every item of every batch that can still be disputed has the same witness as with full history.
    for index in range(pruned.base_index, BATCHES):
        roots = pruned.roots(index)
        assert roots == keep_all.roots(index)
        for step in range(TRANSFERS_PER_BATCH):
            witness = pruned.witness(index, step)
            assert witness.post_root == roots[step + 1]
            assert witness.encode() == keep_all.witness(index, step).encode()

    # Each batch's data was read once: nothing was rebuilt, and finalized batches are forgotten.
    assert set(pruned.loads.values()) == {1}
    with pytest.raises(ValueError, match="finalized"):
        pruned.roots(pruned.base_index - 1)


def test_finalizing_nothing_new_keeps_everything(chain: tuple[Genesis, list[list[BatchItem]]]) -> None:
    genesis, batches = chain
    replay = ListReplay(genesis, batches, min_prune_nodes=0)
    replay.output_root(5)
    replay.forget_finalized(0)
    assert replay.base_index == 0 and replay.roots(0)[0] == replay.genesis_root
    replay.forget_finalized(3)
    replay.forget_finalized(2)  # finalized counts never go back; an older one changes nothing
    assert replay.base_index == 3 and replay.roots(3)[0] == replay.base_root
