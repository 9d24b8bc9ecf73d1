"""A charging-pile fleet's revenue rights, from device data to redemption, on a running Jovay devnet.

    make devnet                                   # in another terminal
    .venv/bin/python examples/charging_pile_rwa.py [--devnet-json devnet-data/devnet.json | --rpc URL]

The story (each step prints its transaction hashes):
 1. the identity admin verifies two investors (KYC claims), names a compliance officer, an auditor and
    a regulator;
 2. the operator registers the fleet as an asset; each charging pile gets its own key and is registered
    as a device attestor;
 3. the piles sign their monthly energy and revenue (EIP-712); anyone relays the signatures;
 4. the auditor attests the fleet's report;
 5. the operator structures the revenue rights (tranche, maturity, yield, cap) and tokenizes them;
 6. the compliance officer approves, the operator opens a paid subscription: the KYC'd investors
    subscribe, an unverified one is refused;
 7. trading: a secondary trade, and a trade refused because it breaks the balance-per-holder rule;
 8. the operator distributes the attested revenue; holders claim pro rata;
 9. the regulator reads the asset, its stage history and holders with signed requests (an unsigned one
    is refused);
10. at maturity the operator funds the redemption; the holders' units are burnt and paid; closed.

Dev accounts (from devnet.json): 0 identity admin, 2 operator/issuer, 3 compliance officer, 4 auditor,
5 and 6 investors, 7 an unverified investor, 8 regulator, 9 the originator. Account 1 is the batcher.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from jovay.crypto.keccak import keccak256  # noqa: E402
from jovay.l1.anvil import DEV_KEYS  # noqa: E402
from jovay.sdk.attestations import KIND_AUDITOR, KIND_DEVICE, AttestationClient, sign_attestation  # noqa: E402
from jovay.sdk.rwa import AssetClient, IdentityClient, RegulatorClient, RegulatorError  # noqa: E402

PILES = 3
MONTHS = ("2026-08", "2026-09", "2026-10")
WEI_PER_KWH = 120_000_000_000_000  # 0.00012 ETH per kWh charged
UNIT_PRICE = 10**15  # 0.001 ETH per unit of revenue rights
INVESTOR_SHARE_PERCENT = 70  # of the attested revenue, paid to holders
REDEMPTION_PER_UNIT = 1_050_000_000_000_000  # 0.00105 ETH: principal plus 5 %
CHINA = 156  # ISO 3166 numeric; the chain gives codes no meaning


def log(step: str, receipt: TxReceipt | None = None, note: str = "") -> None:
    tx = f"  tx 0x{bytes(receipt['transactionHash']).hex()}" if receipt is not None else ""
    print(f"{step}{tx}{('  ' + note) if note else ''}", flush=True)


def refused(step: str, action: Callable[[], Any]) -> str:
    """Run an action that the chain must refuse; print and return the revert reason."""
    try:
        action()
    except ContractLogicError as error:
        reason = str(error.message or error)
        print(f"{step}  REFUSED: {reason}", flush=True)
        return reason
    raise SystemExit(f"{step}: the chain accepted what it should have refused")


def chain_time(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def wait_for_chain_time(w3: Web3, timestamp: int) -> None:
    while chain_time(w3) < timestamp:
        time.sleep(0.2)


def pile_key(asset_id: int, pile: int) -> LocalAccount:
    """Each pile's own key (in the field it lives in the pile's secure element)."""
    return Account.from_key(keccak256(f"charging pile {pile} of asset {asset_id}".encode()))


def pile_reading(pile: int, month: str) -> dict[str, Any]:
    kwh = 2_000 + 137 * pile + 53 * MONTHS.index(month)
    return {"pile": f"CP-{pile:03d}", "month": month, "kWh": kwh, "revenueWei": str(kwh * WEI_PER_KWH)}


def run(w3: Web3, keys: list[str], window_s: int, maturity_s: int) -> dict[str, Any]:
    """The whole story; returns what a test checks afterwards."""
    accounts = [Account.from_key(k) for k in keys]
    admin, operator, officer, auditor = accounts[0], accounts[2], accounts[3], accounts[4]
    alice, bob, carol, regulator, originator = accounts[5], accounts[6], accounts[7], accounts[8], accounts[9]
    chain_id = w3.eth.chain_id
    identity = IdentityClient(w3, admin)
    attest_admin = AttestationClient(w3, admin)
    relay = AttestationClient(w3, operator)  # devices need no ETH: the operator relays their signatures
    issuer = AssetClient(w3, operator)

    print(f"== Jovay RWA: charging-pile revenue rights on chain {chain_id} ==")
    # 1. identities and roles
    expiry = chain_time(w3) + 365 * 86_400
    for name, investor in (("investor A", alice), ("investor B", bob)):
        log(f"[1] KYC: allowlist {name} {investor.address}", identity.set_allowed(investor.address))
        log(
            f"[1] KYC: claims of {name} (CN, class 2)",
            identity.set_claims(investor.address, CHINA, 2, expiry),
        )
    log(f"[1] compliance officer {officer.address}", identity.set_compliance_officer(officer.address))
    log(
        f"[1] auditor {auditor.address}",
        attest_admin.register_attestor(bytes.fromhex(auditor.address[2:]), KIND_AUDITOR, 0),
    )
    log(f"[1] regulator {regulator.address}", identity.set_regulator(regulator.address))

    # 2. the fleet as an asset, and its piles as device attestors
    metadata = json.dumps({"fleet": "Shenzhen depot", "piles": PILES, "kind": "DC fast charging"}).encode()
    documents = b"revenue-rights prospectus v1"
    asset_id, receipt = issuer.register_asset(
        originator.address, 4, keccak256(metadata), keccak256(documents)
    )
    log(f"[2] fleet registered as asset {asset_id}", receipt)
    piles = [pile_key(asset_id, p) for p in range(1, PILES + 1)]
    for number, pile in enumerate(piles, 1):
        receipt = attest_admin.register_attestor(bytes.fromhex(pile.address[2:]), KIND_DEVICE, asset_id)
        log(f"[2] charging pile CP-{number:03d} registered as a device {pile.address}", receipt)

    # 3. monthly device attestations
    revenue = 0
    for month in MONTHS:
        for number, pile in enumerate(piles, 1):
            reading = pile_reading(number, month)
            revenue += int(reading["revenueWei"])
            data = json.dumps(reading, sort_keys=True).encode()
            sequence = relay.next_sequence(bytes.fromhex(pile.address[2:]), asset_id)
            signed = sign_attestation(pile.key, asset_id, sequence, data, chain_time(w3), chain_id)
            log(f"[3] CP-{number:03d} attests {month}: {reading['kWh']} kWh", relay.submit(signed))

    # 4. the auditor's attestation of the fleet report
    report = json.dumps({"asset": asset_id, "months": MONTHS, "revenueWei": str(revenue)}).encode()
    sequence = relay.next_sequence(bytes.fromhex(auditor.address[2:]), asset_id)
    signed = sign_attestation(auditor.key, asset_id, sequence, report, chain_time(w3), chain_id)
    log(f"[4] auditor attests the fleet report: revenue {revenue} wei", relay.submit(signed))

    # 5. structure and tokenize
    maturity = chain_time(w3) + maturity_s
    log(
        "[5] structured: senior tranche, 6.5 % target yield, cap 10000 units",
        issuer.structure_asset(asset_id, 1, maturity, 650, 10_000),
    )
    token_address, receipt = issuer.tokenize_asset(asset_id, "CP Fleet Revenue", "CPFR", 0)
    log(f"[5] tokenized as {token_address}", receipt)

    # 6. issuance
    log("[6] compliance officer approves the issuance", AssetClient(w3, officer).approve_issuance(asset_id))
    log(
        "[6] investors need KYC, class >= 1, jurisdiction CN",
        issuer.set_investor_requirements(asset_id, True, 1, CHINA),
    )
    start = chain_time(w3)
    log(
        f"[6] subscription open for {window_s} s at {UNIT_PRICE} wei per unit",
        issuer.open_issuance(asset_id, start, start + window_s, 100, 5_000, UNIT_PRICE),
    )
    log("[6] investor A subscribes 4000 units", AssetClient(w3, alice).subscribe(asset_id, 4_000))
    log("[6] investor B subscribes 2000 units", AssetClient(w3, bob).subscribe(asset_id, 2_000))
    refused(
        "[6] unverified investor C subscribes 1000 units",
        lambda: AssetClient(w3, carol).subscribe(asset_id, 1_000),
    )

    # 7. trading
    wait_for_chain_time(w3, start + window_s)
    log("[7] trading starts", issuer.start_trading(asset_id))
    log("[7] rule: at most 5000 units per holder", issuer.set_asset_rules(asset_id, 0, 5_000, 0))
    token_a = issuer.token(asset_id, alice)
    log("[7] investor A sells 1000 units to investor B", token_a.transfer(bob.address, 1_000))
    refused(
        "[7] investor A sells 2500 more to B (B would hold 5500)",
        lambda: token_a.transfer(bob.address, 2_500),
    )

    # 8. revenue distribution
    distributed = revenue * INVESTOR_SHARE_PERCENT // 100
    period, receipt = issuer.deposit_revenue(asset_id, distributed)
    log(f"[8] period {period}: {distributed} wei of attested revenue deposited", receipt)
    paid = {}
    for name, holder in (("A", alice), ("B", bob)):
        amount, receipt = issuer.claim_revenue(asset_id, holder.address)
        paid[name] = amount
        log(f"[8] investor {name} paid {amount} wei", receipt)

    # 9. the regulator's view
    watcher = RegulatorClient(w3, regulator.key)
    state = watcher.asset_state(asset_id)
    history = [h["stage"] for h in watcher.stage_history(asset_id)]
    holders = watcher.holders(asset_id)["holders"]
    attestations = watcher.attestations(asset_id)
    print(f"[9] regulator: stage {state['stage']}, supply {int(state['totalSupply'], 16)}, history {history}")
    print(
        f"[9] regulator: {len(holders)} holders, {len(attestations)} attestations, "
        f"{len(watcher.compliance_events(asset_id))} compliance events"
    )
    try:
        RegulatorClient(w3, carol.key).asset_state(asset_id)
        raise SystemExit("[9] a non-regulator was served")
    except RegulatorError as error:
        print(f"[9] investor C as regulator  REFUSED: {error.message}")

    # 10. redemption at maturity
    wait_for_chain_time(w3, maturity)
    supply = issuer.token(asset_id).total_supply()
    log(
        f"[10] matured: redemption pool {supply * REDEMPTION_PER_UNIT} wei",
        issuer.redeem(asset_id, supply * REDEMPTION_PER_UNIT),
    )
    for name, holder in (("A", alice), ("B", bob)):
        payout, receipt = issuer.claim_redemption(asset_id, holder.address)
        log(f"[10] investor {name} redeemed for {payout} wei", receipt)
    log("[10] asset closed", issuer.close_asset(asset_id))
    print(f"== done: asset {asset_id} is {issuer.asset(asset_id).stage} ==")
    return {"assetId": asset_id, "token": token_address, "revenuePaid": paid, "history": history}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devnet-json", type=Path, default=ROOT / "devnet-data" / "devnet.json")
    parser.add_argument("--rpc", help="L2 RPC URL (default: devnet.json's)")
    parser.add_argument("--window-s", type=int, default=6, help="subscription window, seconds")
    parser.add_argument("--maturity-s", type=int, default=30, help="maturity after structuring, seconds")
    args = parser.parse_args(argv)
    if args.devnet_json.exists():
        devnet = json.loads(args.devnet_json.read_text())
        rpc, keys = args.rpc or devnet["rpcUrl"], [a["privateKey"] for a in devnet["devAccounts"]]
    elif args.rpc:
        rpc, keys = args.rpc, list(DEV_KEYS)  # a devnet started elsewhere funds anvil's dev accounts
    else:
        parser.error(f"{args.devnet_json} not found: start `make devnet`, or pass --devnet-json or --rpc")
    run(Web3(Web3.HTTPProvider(rpc)), keys, args.window_s, args.maturity_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
