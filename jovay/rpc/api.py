"""All JSON-RPC methods of a node, gathered from the API classes that implement them."""

from __future__ import annotations

from jovay.rpc.events import EventHub
from jovay.rpc.logs import LogsApi
from jovay.rpc.methods import EthApi, HeadTracker
from jovay.rpc.regulator import RegulatorApi
from jovay.rpc.rollup import RollupApi
from jovay.rpc.server import Method
from jovay.sequencer.sequencer import Sequencer
from jovay.storage.chain import Chain


def rpc_methods(
    chain: Chain, sequencer: Sequencer | None, heads: HeadTracker | None, hub: EventHub
) -> dict[str, Method]:
    """Every method the node serves over HTTP and WebSocket."""
    eth = EthApi(chain, sequencer, heads)
    methods = eth.methods()
    methods |= LogsApi(chain, sequencer, hub, eth).methods()
    methods |= RollupApi(chain, heads, eth).methods()
    methods |= RegulatorApi(chain, eth).methods()
    return methods


def connect_events(chain: Chain, sequencer: Sequencer | None, hub: EventHub) -> None:
    """Feed sealed blocks and admitted transactions into the hub."""
    chain.listeners.append(hub.publish_block)
    if sequencer is not None:
        sequencer.pending_listeners.append(hub.publish_pending)
