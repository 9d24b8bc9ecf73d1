"""Asset registry system contract: creates RWA tokens at deterministic addresses.

Token `n` (from 1) lives at `TOKEN_ADDRESS_PREFIX || n` (14 bytes), so anyone can tell a token address
from its number without reading state. The asset lifecycle (assets.py, same address) creates its
tokens through `new_token`, in the same numbering.
"""

from __future__ import annotations

from jovay.codec import abi
from jovay.params import ASSET_REGISTRY, DISPATCH_GAS, MAX_STRING_BYTES, OP_GAS, TOKEN_ADDRESS_PREFIX
from jovay.state.keys import pack_string, system_field_key, token_field_key
from jovay.state.overlay import StateOverlay
from jovay.stf import token
from jovay.stf.results import CallResult, Log, Revert

TOKEN_COUNT_FIELD = 1
TOKEN_ID_BYTES = 20 - len(TOKEN_ADDRESS_PREFIX)

TOKEN_CREATED = abi.event_topic("TokenCreated(address,address,string,string,uint8)")


def token_address(token_id: int) -> bytes:
    return TOKEN_ADDRESS_PREFIX + token_id.to_bytes(TOKEN_ID_BYTES, "big")


def token_count(state: StateOverlay) -> int:
    return state.get(system_field_key(TOKEN_COUNT_FIELD))


def is_token(state: StateOverlay, address: bytes) -> bool:
    """True when `address` is a token that has been created."""
    if not address.startswith(TOKEN_ADDRESS_PREFIX):
        return False
    token_id = int.from_bytes(address[len(TOKEN_ADDRESS_PREFIX) :], "big")
    return 1 <= token_id <= token_count(state)


def _checked_string(value: str, what: str, gas: int) -> bytes:
    encoded = value.encode("utf-8")
    if not encoded or len(encoded) > MAX_STRING_BYTES:
        raise Revert(f"AssetRegistry: {what} must be 1 to {MAX_STRING_BYTES} bytes", gas)
    return encoded


def new_token(
    state: StateOverlay, issuer: bytes, name: str, symbol: str, decimals: int, gas: int
) -> tuple[bytes, Log]:
    """Create the next token for `issuer`; returns its address and `TokenCreated` log (shared with
    the asset lifecycle's tokenizeAsset, so both kinds of token sit in one numbering)."""
    name_bytes = _checked_string(name, "name", gas)
    symbol_bytes = _checked_string(symbol, "symbol", gas)
    token_id = token_count(state) + 1
    address = token_address(token_id)
    state.set(system_field_key(TOKEN_COUNT_FIELD), token_id)
    state.set(token_field_key(address, token.FIELD_ISSUER), int.from_bytes(issuer, "big"))
    state.set(token_field_key(address, token.FIELD_NAME), pack_string(name_bytes))
    state.set(token_field_key(address, token.FIELD_SYMBOL), pack_string(symbol_bytes))
    state.set(token_field_key(address, token.FIELD_DECIMALS), decimals)
    topics = [TOKEN_CREATED, abi.address_word(address), abi.address_word(issuer)]
    log = Log(
        ASSET_REGISTRY, topics, abi.encode_values(["string", "string", "uint8"], [name, symbol, decimals])
    )
    return address, log


def create_token(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    """Create a token whose issuer is the caller; returns its address."""
    gas = OP_GAS["registry.createToken"]
    name, symbol, decimals = abi.decode_args(["string", "string", "uint8"], data)
    address, log = new_token(state, sender, name, symbol, decimals, gas)
    return CallResult(gas, abi.address_word(address), [log])


def view_token_count(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    abi.words(data, 0)
    return CallResult(DISPATCH_GAS, abi.uint_word(token_count(state)))


def view_token_at(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    (id_word,) = abi.words(data, 1)
    token_id = abi.word_uint(id_word)
    if not 1 <= token_id <= token_count(state):
        raise Revert("AssetRegistry: no such token", DISPATCH_GAS)
    return CallResult(DISPATCH_GAS, abi.address_word(token_address(token_id)))


FUNCTIONS = {
    abi.selector("createToken(string,string,uint8)"): create_token,
    abi.selector("tokenCount()"): view_token_count,
    abi.selector("tokenAt(uint256)"): view_token_at,
}
