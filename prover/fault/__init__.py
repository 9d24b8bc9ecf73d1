"""Optimistic fraud proofs: per-item state roots, one-step witnesses, and the services that play games.

The state machine is jovay/stf; this package only calls it (`execution.execute_item` fixes the one rule
the STF leaves to its caller: an item that may not execute is skipped, the state unchanged).
"""
