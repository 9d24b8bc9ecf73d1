"""The `jovay devnet` start-up banner names every contract a dApp developer needs, L1 and L2."""

from __future__ import annotations

import pytest
from web3 import Web3

from jovay import params
from jovay.devnet import _l2_contracts, print_banner


def test_banner_lists_l1_contracts_and_every_l2_system_contract(capsys: pytest.CaptureFixture[str]) -> None:
    l1 = {
        "bridge": "0x" + "b1" * 20,
        "rollup": "0x" + "12" * 20,
        "disputeGame": "0x" + "d9" * 20,
        "deployBlock": 5,
    }
    info = {
        "rpcUrl": "http://127.0.0.1:8545",
        "chainId": params.DEFAULT_L2_CHAIN_ID,
        "l1RpcUrl": "http://127.0.0.1:8546",
        "l1ChainId": params.DEFAULT_L1_CHAIN_ID,
        "contracts": {"l1": l1, "l2": _l2_contracts()},
        "dataDir": "/tmp/devnet",
        "proposer": "0x" + "01" * 20,
        "challenger": "0x" + "02" * 20,
        "devAccounts": [{"address": "0x" + "aa" * 20, "privateKey": "0x" + "11" * 32}],
    }
    print_banner(info)
    out = capsys.readouterr().out
    for name in ("bridge", "rollup", "disputeGame"):
        assert f"{name}:" in out and str(l1[name]) in out
    assert "deployed in L1 block 5" in out
    for name, address in [
        ("identityRegistry", params.IDENTITY_REGISTRY),
        ("assetRegistry", params.ASSET_REGISTRY),
        ("attestationRegistry", params.ATTESTATION_REGISTRY),
        ("l2Bridge", params.L2_BRIDGE),
        ("feeVault", params.FEE_VAULT),
    ]:
        assert f"{name}:" in out and Web3.to_checksum_address(address) in out


def test_devnet_services_run_with_malloc_arenas_capped() -> None:
    from jovay.devnet import service_env
    from jovay.memory import MALLOC_ARENAS

    env = service_env({"PATH": "/usr/bin"})
    assert env == {"PATH": "/usr/bin", "MALLOC_ARENA_MAX": str(MALLOC_ARENAS)}


def test_devnet_services_keep_a_malloc_arena_max_the_caller_chose() -> None:
    from jovay.devnet import service_env

    assert service_env({"MALLOC_ARENA_MAX": "8"})["MALLOC_ARENA_MAX"] == "8"
