"""`jovay devnet`: the whole system on one machine, for operators, dApp developers and tests.

Starts anvil, compiles and deploys the L1 contracts, starts the sequencer node (with RPC), the batcher
(which also proposes and defends outputs) and the challenger as their own processes, funds the dev
accounts by real L1 deposits, writes `devnet.json` and waits. Ctrl-C (or SIGTERM) stops every process
it started, by PID. `faulty` (tests only) starts the batcher's proposer in a faulty mode.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
from eth_account import Account
from web3 import Web3

from jovay.errors import JovayError
from jovay.l1.anvil import Anvil
from jovay.l1.contracts import FaultProofParams, deploy
from jovay.l1.solc import compile_contracts
from jovay.l1.txmanager import L1TxManager
from jovay.memory import MALLOC_ARENAS
from jovay.params import DEFAULT_L1_CHAIN_ID, DEFAULT_L2_CHAIN_ID
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain

DEV_DEPOSIT_WEI = 1_000 * 10**18
# The devnet's L1 blocks take 200M gas (mainnet: ~45M), standing in for blob space: batches go as
# calldata at 40 gas a byte (EIP-7623), and at 5,000 L2 tx/s the batcher posts ~0.6 MB a second; one
# L2 block of 20,000 transfers (~2.3 MB) must also fit in one commit (jovay/l1/batcher.py).
DEVNET_L1_GAS_LIMIT = 200_000_000
DEPLOYER_KEY_INDEX = 0
BATCHER_KEY_INDEX = 1
CHALLENGER_KEY_INDEX = 2


@dataclass(frozen=True)
class DevnetConfig:
    data_dir: Path
    rpc_port: int = 8545
    l1_port: int = 8546
    block_time_ms: int = 250
    batch_interval_s: float = 2.0
    chain_id: int = DEFAULT_L2_CHAIN_ID
    challenge_window_s: int = 20
    clock_s: int = 60
    faulty: str | None = None  # tests only: a prover/fault/faulty.py mode for the proposer
    challenger: bool = True


class Devnet:
    """The running devnet's processes; `stop()` ends each one it started."""

    def __init__(self, config: DevnetConfig) -> None:
        self.config = config
        self.anvil: Anvil | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._commands: dict[str, list[str]] = {}
        self._logs: list[IO[bytes]] = []
        self.info: dict[str, object] = {}

    # --- start -----------------------------------------------------------------------------------
    def start(self) -> dict[str, object]:
        config = self.config
        data_dir = config.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(data_dir / "chain", ignore_errors=True)  # a fresh L1 needs a fresh L2
        self.anvil = Anvil(config.l1_port, extra_args=["--gas-limit", str(DEVNET_L1_GAS_LIMIT)]).start()
        keys = self.anvil.dev_keys
        w3 = Web3(Web3.HTTPProvider(self.anvil.url))
        genesis = Genesis(
            identity_admin=_address(keys[DEPLOYER_KEY_INDEX]),
            timestamp=int(time.time()),
            chain_id=config.chain_id,
        )
        genesis.save(data_dir / "genesis.json")
        genesis_root = _genesis_root(data_dir, genesis)
        artifacts = compile_contracts()
        deployment = deploy(
            w3,
            keys[DEPLOYER_KEY_INDEX],
            artifacts,
            batcher=_address_hex(keys[BATCHER_KEY_INDEX]),
            genesis_state_root=genesis_root,
            fault=FaultProofParams(
                challenge_window_s=config.challenge_window_s,
                clock_s=config.clock_s,
                chain_id=config.chain_id,
                block_gas_limit=genesis.gas_limit,
            ),
        )
        (data_dir / "l1.json").write_text(json.dumps(deployment.to_json(), indent=2))
        rpc_url = f"http://127.0.0.1:{config.rpc_port}"
        self._spawn(
            "node",
            [
                "node",
                "--data-dir",
                str(data_dir),
                "--rpc-port",
                str(config.rpc_port),
                "--block-time-ms",
                str(config.block_time_ms),
                *self._l1_args(),
            ],
        )
        wait_for_rpc(rpc_url, self.processes["node"])
        self._spawn(
            "batcher",
            [
                "batcher",
                "--l2-rpc",
                rpc_url,
                "--key",
                keys[BATCHER_KEY_INDEX],
                "--interval-s",
                str(config.batch_interval_s),
                "--genesis",
                str(data_dir / "genesis.json"),
                *(["--faulty", config.faulty, "--devnet"] if config.faulty else []),
                *self._l1_args(),
            ],
        )
        if config.challenger:
            self._spawn(
                "challenger",
                [
                    "challenger",
                    "--genesis",
                    str(data_dir / "genesis.json"),
                    "--key",
                    keys[CHALLENGER_KEY_INDEX],
                    *self._l1_args(),
                ],
            )
        self._fund_dev_accounts(w3, deployment.bridge(w3), keys, rpc_url)
        self.info = {
            "rpcUrl": rpc_url,
            "l1RpcUrl": self.anvil.url,
            "chainId": config.chain_id,
            "l1ChainId": DEFAULT_L1_CHAIN_ID,
            "dataDir": str(data_dir),
            "contracts": {"l1": deployment.to_json(), "l2": _l2_contracts()},
            "identityAdmin": "0x" + genesis.identity_admin.hex(),
            "batcher": _address_hex(keys[BATCHER_KEY_INDEX]),
            "proposer": _address_hex(keys[BATCHER_KEY_INDEX]),
            "challenger": _address_hex(keys[CHALLENGER_KEY_INDEX]),
            "faulty": config.faulty,
            "devAccounts": [{"address": _address_hex(k), "privateKey": k} for k in keys],
            "genesisStateRoot": "0x" + genesis_root.hex(),
            "pids": {name: proc.pid for name, proc in self.processes.items()}
            | {"anvil": self.anvil.process.pid if self.anvil.process else None},
        }
        (data_dir / "devnet.json").write_text(json.dumps(self.info, indent=2))
        return self.info

    def _l1_args(self) -> list[str]:
        assert self.anvil is not None
        data_dir = self.config.data_dir
        return ["--l1-rpc", self.anvil.url, "--l1-contracts", str(data_dir / "l1.json")]

    def _spawn(self, name: str, args: list[str]) -> None:
        self._commands[name] = args
        log_file = open(self.config.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log_file)
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "jovay", *args],
            stdin=subprocess.DEVNULL,
            env=service_env(os.environ),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )

    def _fund_dev_accounts(self, w3: Web3, bridge, keys: list[str], rpc_url: str) -> None:  # type: ignore[no-untyped-def]
        """Every dev account deposits on L1 to itself; wait until L2 credits all of them."""
        for key in keys:
            address = _address_hex(key)
            call = bridge.functions.depositETH(address)
            L1TxManager(w3, key).send(
                {"to": bridge.address, "data": call._encode_transaction_data(), "value": DEV_DEPOSIT_WEI}
            )
        last = _address_hex(keys[-1])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if _rpc(rpc_url, "eth_getBalance", [last, "latest"]) not in (None, "0x0"):
                return
            time.sleep(0.2)
        raise JovayError("dev deposits did not reach L2 within 60 s: see node.log")

    def restart(self, name: str, *, hard: bool = False) -> None:
        """Stop one role (SIGKILL when `hard`, as a crash would) and start it again as it was."""
        process = self.processes[name]
        if hard:
            process.kill()
        else:
            process.terminate()
        process.wait(timeout=10)
        self._spawn(name, self._commands[name])
        if name == "node":
            wait_for_rpc(str(self.info["rpcUrl"]), self.processes[name])

    # --- run and stop ----------------------------------------------------------------------------
    def wait(self) -> int:
        """Block until a signal or until a child process dies; returns the exit code."""
        stopping = {"flag": False}

        def on_signal(*_: object) -> None:
            stopping["flag"] = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        while not stopping["flag"]:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    print(
                        f"{name} exited with {proc.returncode}; see {self.config.data_dir / (name + '.log')}"
                    )
                    return 1
            time.sleep(0.2)
        return 0

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.anvil is not None:
            self.anvil.stop()
        for log_file in self._logs:
            log_file.close()


def _genesis_root(data_dir: Path, genesis: Genesis) -> bytes:
    chain = Chain(data_dir, genesis)
    try:
        return chain.head.state_root
    finally:
        chain.close()


def _address(key: str) -> bytes:
    return bytes.fromhex(Account.from_key(key).address[2:])


def _address_hex(key: str) -> str:
    return Account.from_key(key).address


def _l2_contracts() -> dict[str, str]:
    from jovay import params

    return {
        "identityRegistry": Web3.to_checksum_address(params.IDENTITY_REGISTRY),
        "assetRegistry": Web3.to_checksum_address(params.ASSET_REGISTRY),
        "attestationRegistry": Web3.to_checksum_address(params.ATTESTATION_REGISTRY),
        "l2Bridge": Web3.to_checksum_address(params.L2_BRIDGE),
        "feeVault": Web3.to_checksum_address(params.FEE_VAULT),
    }


def _rpc(url: str, method: str, params: list[object]) -> object:
    try:
        body = httpx.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=5
        ).json()
    except (httpx.HTTPError, ValueError):
        return None
    return body.get("result")


def service_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment a devnet service runs in: the caller's, with glibc's malloc arenas capped at
    MALLOC_ARENAS (jovay/memory.py says why) unless the caller chose a MALLOC_ARENA_MAX itself. The
    Python roles also cap them for themselves at start; the variable covers them from the first thread."""
    env = dict(base)
    env.setdefault("MALLOC_ARENA_MAX", str(MALLOC_ARENAS))
    return env


def wait_for_rpc(url: str, process: subprocess.Popen[bytes] | None = None, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise JovayError(f"process exited with {process.returncode} before {url} answered")
        if _rpc(url, "eth_chainId", []) is not None:
            return
        time.sleep(0.2)
    raise JovayError(f"{url} did not answer within {timeout_s} s")


def print_banner(info: dict[str, object]) -> None:
    print("Jovay devnet is running")
    print(f"  L2 RPC:    {info['rpcUrl']}   chain id {info['chainId']}")
    print(f"  L1 (anvil): {info['l1RpcUrl']}   chain id {info['l1ChainId']}")
    contracts: dict[str, dict[str, object]] = info["contracts"]  # type: ignore[assignment]
    print(f"  L1 contracts (deployed in L1 block {contracts['l1'].get('deployBlock')}):")
    for name, address in contracts["l1"].items():
        if name != "deployBlock":
            print(f"    {name + ':':<22}{address}")
    print("  L2 system contracts:")
    for name, address in contracts["l2"].items():
        print(f"    {name + ':':<22}{address}")
    print(f"  devnet.json: {Path(str(info['dataDir'])) / 'devnet.json'}")
    print(f"  Proposer (batcher key): {info['proposer']}   challenger: {info['challenger']}")
    if info.get("faulty"):
        print(f"  FAULTY PROPOSER ({info['faulty']}): for tests only, its first wrong output must lose")
    print("  Funded dev accounts (1000 ETH each on L2, deposited from L1):")
    for account in info["devAccounts"]:  # type: ignore[attr-defined]
        print(f"    {account['address']}  {account['privateKey']}")
    print("Press Ctrl-C to stop.", flush=True)


def run_devnet(config: DevnetConfig) -> int:
    devnet = Devnet(config)
    try:
        print_banner(devnet.start())
        return devnet.wait()
    finally:
        devnet.stop()
