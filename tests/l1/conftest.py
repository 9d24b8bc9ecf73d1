"""Shared L1 fixtures: contracts compiled once per session, one real anvil per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from jovay.l1.anvil import Anvil
from jovay.l1.poseidon import PoseidonHashers, deploy_hashers
from jovay.l1.solc import CompiledContract, compile_contracts
from jovay.l1.txmanager import L1TxManager


@pytest.fixture(scope="session")
def artifacts() -> dict[str, CompiledContract]:
    return compile_contracts()


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.fixture(scope="module")
def w3(anvil: Anvil) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.url))


@pytest.fixture()
def snapshot(w3: Web3) -> Iterator[None]:
    """Each test starts from the module's chain state and leaves it unchanged."""
    snap = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield
    w3.provider.make_request("evm_revert", [snap])  # type: ignore[arg-type]


TEST_CONTRACTS_DIR = Path(__file__).with_name("contracts")


@pytest.fixture(scope="session")
def test_artifacts() -> dict[str, CompiledContract]:
    """The production contracts plus the test-only ones of tests/l1/contracts (harnesses, mocks)."""
    return compile_contracts(extra_dirs=[TEST_CONTRACTS_DIR])


@pytest.fixture(scope="module")
def hashers(w3: Web3, anvil: Anvil) -> PoseidonHashers:
    """circomlibjs's Poseidon hashers, deployed once per module (account 9, out of the tests' way)."""
    return deploy_hashers(w3, L1TxManager(w3, anvil.dev_keys[9]))
