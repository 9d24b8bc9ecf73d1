"""examples/charging_pile_rwa.py end to end: the script, unchanged, against the devnet (real anvil, the
node over HTTP); then the chain is checked independently of what the script printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from web3 import Web3

from jovay.sdk.rwa import AssetClient, RegulatorClient, TokenClient

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "charging_pile_rwa.py"
TX = re.compile(r"tx (0x[0-9a-f]{64})")


def test_charging_pile_story_runs_end_to_end(devnet: dict) -> None:
    devnet_json = Path(devnet["dataDir"]) / "devnet.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--devnet-json",
            str(devnet_json),
            "--window-s",
            "3",
            "--maturity-s",
            "12",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for step in range(1, 11):
        assert f"[{step}]" in out, f"step {step} missing"
    assert (
        "unverified investor C subscribes 1000 units  REFUSED: "
        "execution reverted: AssetRegistry: investor not eligible" in out
    )
    assert "REFUSED: execution reverted: JovayToken: balance limit exceeded" in out
    assert "investor C as regulator  REFUSED: unauthorized: " in out and "is not a regulator" in out

    # every printed transaction is on chain and succeeded
    w3 = Web3(Web3.HTTPProvider(devnet["rpcUrl"]))
    hashes = TX.findall(out)
    assert len(hashes) >= 30
    for tx_hash in hashes:
        assert w3.eth.get_transaction_receipt(tx_hash)["status"] == 1

    # the chain agrees with the story
    asset_id = int(re.search(r"fleet registered as asset (\d+)", out).group(1))  # type: ignore[union-attr]
    assets = AssetClient(w3)
    info = assets.asset(asset_id)
    assert info.stage == "Closed"
    token = TokenClient(w3, info.token)
    alice, bob = (devnet["devAccounts"][i]["address"] for i in (5, 6))
    assert (token.total_supply(), token.balance_of(alice), token.balance_of(bob)) == (0, 0, 0)
    assert assets.revenue_of(asset_id, alice) == assets.revenue_of(asset_id, bob) == 0
    paid_a, paid_b = (int(x) for x in re.findall(r"\[8\] investor [AB] paid (\d+) wei", out))
    assert paid_a > 0 and abs(paid_a - paid_b) <= 1  # 3000 units each after the trade
    regulator = RegulatorClient(w3, devnet["devAccounts"][8]["privateKey"])
    history = [h["stage"] for h in regulator.stage_history(asset_id)]
    assert history == ["Registered", "Structured", "Tokenized", "Issuing", "Trading", "Redeemed", "Closed"]
    assert len(regulator.attestations(asset_id)) == 3 * 3 + 1  # piles x months, and the auditor
