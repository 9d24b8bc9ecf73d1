"""Profile of the in-process sequencer: where admitting and sealing signed transfers spends its time.

Same workload as benchmarks/sequencer_tps.py (one pre-signed transfer per funded account), under
cProfile: all admitted, then sealed back to back in blocks of the node's default size (20,000);
prints the top entries by own time. `JOVAY_PURE=1` profiles the pure-Python path.

    .venv/bin/python benchmarks/profile_sequencer.py [--accounts 100000] [--kind eth|token] [--top 12]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sequencer_tps as bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--kind", choices=("eth", "token"), default="eth")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--sort", choices=("tottime", "cumulative"), default="tottime")
    args = parser.parse_args()
    keys = [(i + 1).to_bytes(32, "big") for i in range(args.accounts)]
    with tempfile.TemporaryDirectory() as tmp:
        seq = bench.new_sequencer(Path(tmp), keys)
        if args.kind == "token":
            bench.setup_token(seq, keys)
        raws = bench.workload(seq, keys, args.kind)
        profile = cProfile.Profile()
        profile.enable()
        for raw in raws:
            seq.submit(raw)
        bench.drain(seq)
        profile.disable()
        seq.chain.close()
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
