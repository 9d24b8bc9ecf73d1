"""The cache of recently decoded transactions (jovay/codec/transactions.py) stays within its bound."""

from __future__ import annotations

import pytest

from jovay.codec import transactions
from jovay.codec.transactions import SignedTx


def test_remembered_decodes_stay_within_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transactions, "RECENT_DECODES", 1_000)
    monkeypatch.setattr(transactions, "_recent", {})
    signed = object.__new__(SignedTx)  # (the cache never looks inside)
    with transactions._recent_lock:
        for index in range(5_000):  # five times the bound
            transactions._remember(index.to_bytes(4, "big"), signed)
            assert len(transactions._recent) <= 1_000
    newest = (4_999).to_bytes(4, "big")
    assert newest in transactions._recent and (0).to_bytes(4, "big") not in transactions._recent
