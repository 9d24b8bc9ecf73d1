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


def _checked_string(raw: bytes, what: str, gas: int) -> str:
    """A name or symbol: 1 to MAX_STRING_BYTES bytes, then valid UTF-8, in that order.

    The ABI decoder hands the argument over as raw bytes (see `decode_token_strings`), so a string
    of any length is judged by its length alone and UTF-8 is only ever checked on at most
    MAX_STRING_BYTES bytes: the one-step proof on L1 applies exactly this rule."""
    if not raw or len(raw) > MAX_STRING_BYTES:
        raise Revert(f"AssetRegistry: {what} must be 1 to {MAX_STRING_BYTES} bytes", gas)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Revert(f"AssetRegistry: {what} is not valid UTF-8", gas) from None


def decode_token_strings(types: list[str], data: bytes) -> tuple:
    """The arguments of createToken / tokenizeAsset with each `string` decoded as `bytes` (the same
    encoding: strict offsets, lengths and zero padding), so UTF-8 is left to `_checked_string`."""
    return abi.decode_args(["bytes" if t == "string" else t for t in types], data)


def new_token(
    state: StateOverlay, issuer: bytes, name: bytes, symbol: bytes, decimals: int, gas: int
) -> tuple[bytes, Log]:
    """Create the next token for `issuer`; returns its address and `TokenCreated` log (shared with
    the asset lifecycle's tokenizeAsset, so both kinds of token sit in one numbering). `name` and
    `symbol` are the raw argument bytes, checked here."""
    name_text = _checked_string(name, "name", gas)
    symbol_text = _checked_string(symbol, "symbol", gas)
    token_id = token_count(state) + 1
    address = token_address(token_id)
    state.set(system_field_key(TOKEN_COUNT_FIELD), token_id)
    state.set(token_field_key(address, token.FIELD_ISSUER), int.from_bytes(issuer, "big"))
    state.set(token_field_key(address, token.FIELD_NAME), pack_string(name))
    state.set(token_field_key(address, token.FIELD_SYMBOL), pack_string(symbol))
    state.set(token_field_key(address, token.FIELD_DECIMALS), decimals)
    topics = [TOKEN_CREATED, abi.address_word(address), abi.address_word(issuer)]
    log = Log(
        ASSET_REGISTRY,
        topics,
        abi.encode_values(["string", "string", "uint8"], [name_text, symbol_text, decimals]),
    )
    return address, log


def create_token(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    """Create a token whose issuer is the caller; returns its address."""
    gas = OP_GAS["registry.createToken"]
    name, symbol, decimals = decode_token_strings(["string", "string", "uint8"], data)
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
