"""`jovay`: the one entry point for every role (also `python -m jovay`)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from jovay import CLIENT_VERSION


def _add_l1_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--l1-rpc", required=True, help="L1 JSON-RPC URL (anvil)")
    parser.add_argument("--l1-contracts", required=True, type=Path, help="l1.json written by the deployer")


def _block_count(text: str) -> int:
    count = int(text)
    if count < 0:
        raise argparse.ArgumentTypeError(f"a count is at least 0, got {count}")
    return count


def build_parser() -> argparse.ArgumentParser:
    from jovay.storage.chain import DEFAULT_MAX_HISTORY_NODES, DEFAULT_RETENTION_BLOCKS
    from prover.fault.faulty import FAULTY_MODES

    parser = argparse.ArgumentParser(prog="jovay", description="Jovay L2 rollup node")
    parser.add_argument("--version", action="version", version=CLIENT_VERSION)
    parser.add_argument("--log-level", default="INFO")
    roles = parser.add_subparsers(dest="role", required=True)

    devnet = roles.add_parser("devnet", help="anvil + contracts + sequencer/RPC + batcher, funded dev keys")
    devnet.add_argument("--data-dir", type=Path, default=Path("devnet-data"))
    devnet.add_argument("--rpc-port", type=int, default=8545)
    devnet.add_argument("--l1-port", type=int, default=8546)
    devnet.add_argument("--block-time-ms", type=int, default=250)
    devnet.add_argument("--batch-interval-s", type=float, default=2.0)
    devnet.add_argument("--challenge-window-s", type=int, default=20, help="seconds an output stays open")
    devnet.add_argument("--clock-s", type=int, default=60, help="each side's time in a dispute game")
    devnet.add_argument("--faulty", choices=FAULTY_MODES, help="TESTS ONLY: the proposer posts wrong outputs")

    node = roles.add_parser("node", help="sequencer node with JSON-RPC, or a replica with --replica")
    node.add_argument("--data-dir", type=Path, required=True)
    node.add_argument("--genesis", type=Path, help="genesis.json (default: DATA_DIR/genesis.json)")
    node.add_argument(
        "--rpc-host", default="127.0.0.1", help="listen address (0.0.0.0 only inside a container)"
    )
    node.add_argument("--rpc-port", type=int, default=8545)
    node.add_argument("--block-time-ms", type=int, default=250)
    node.add_argument("--replica", action="store_true", help="derive the chain from L1 data only")
    node.add_argument(
        "--state-retention",
        type=_block_count,
        default=DEFAULT_RETENTION_BLOCKS,
        metavar="BLOCKS",
        help="keep the states of the BLOCKS blocks up to the finalized one and all after; 0: all",
    )
    node.add_argument(
        "--state-history-nodes",
        type=_block_count,
        default=DEFAULT_MAX_HISTORY_NODES,
        metavar="NODES",
        help="but keep fewer recent states when they need more than NODES old tree nodes (~160 B each)",
    )
    _add_l1_args(node)

    batcher = roles.add_parser("batcher", help="post L2 blocks as batches to the L1 Rollup contract")
    batcher.add_argument("--l2-rpc", required=True)
    batcher.add_argument("--key", required=True, help="the batcher's L1 private key (hex)")
    batcher.add_argument("--interval-s", type=float, default=2.0)
    batcher.add_argument("--genesis", type=Path, help="genesis.json: also propose (and defend) outputs")
    batcher.add_argument(
        "--faulty", choices=FAULTY_MODES, help="TESTS ONLY: post wrong outputs this way (needs --devnet)"
    )
    batcher.add_argument(
        "--devnet", action="store_true", help="confirm L1 is the local devnet (for --faulty)"
    )
    _add_l1_args(batcher)

    challenger = roles.add_parser("challenger", help="dispute wrong outputs on L1 and play the games")
    challenger.add_argument("--genesis", type=Path, required=True)
    challenger.add_argument("--key", required=True, help="the challenger's L1 private key (hex)")
    challenger.add_argument("--interval-s", type=float, default=0.5)
    _add_l1_args(challenger)

    roles.add_parser("compile", help="compile contracts/ with solcjs into the artifact cache")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per L2 request would drown the logs
    if args.role == "devnet":
        from jovay.devnet import DevnetConfig, run_devnet

        return run_devnet(
            DevnetConfig(
                args.data_dir,
                args.rpc_port,
                args.l1_port,
                args.block_time_ms,
                args.batch_interval_s,
                challenge_window_s=args.challenge_window_s,
                clock_s=args.clock_s,
                faulty=args.faulty,
            )
        )
    if args.role == "node":
        from jovay.node import NodeConfig, run_node

        run_node(
            NodeConfig(
                data_dir=args.data_dir,
                genesis_path=args.genesis or args.data_dir / "genesis.json",
                l1_rpc=args.l1_rpc,
                l1_contracts_path=args.l1_contracts,
                rpc_host=args.rpc_host,
                rpc_port=args.rpc_port,
                replica=args.replica,
                block_time_ms=args.block_time_ms,
                state_retention=args.state_retention or None,
                state_history_nodes=args.state_history_nodes,
            )
        )
        return 0
    if args.role == "batcher":
        from jovay.node import BatcherRoleConfig, run_batcher

        run_batcher(
            BatcherRoleConfig(
                args.l1_rpc,
                args.l1_contracts,
                args.l2_rpc,
                args.key,
                args.interval_s,
                args.genesis,
                args.faulty,
                args.devnet,
            )
        )
        return 0
    if args.role == "challenger":
        from jovay.node import ChallengerRoleConfig, run_challenger

        run_challenger(
            ChallengerRoleConfig(args.l1_rpc, args.l1_contracts, args.genesis, args.key, args.interval_s)
        )
        return 0
    if args.role == "compile":
        from jovay.l1.solc import main as compile_main

        return compile_main([])
    return 2


if __name__ == "__main__":
    sys.exit(main())
