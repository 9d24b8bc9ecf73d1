// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Strict decoding and sender recovery of signed Ethereum transactions
/// @notice Accepts exactly what jovay/codec/transactions.py `decode_transaction` accepts: legacy with
///         EIP-155, EIP-2930 (type 1) and EIP-1559 (type 2); canonical RLP only (the rules of
///         jovay/codec/_rlp.py); field sizes, nonce and fee ranges, the chain id, and a canonical low-s
///         signature recovered with `ecrecover`. Anything else is "invalid" (`ok == false`), never a revert:
///         an invalid transaction has a defined result (it is skipped).
library TxDecoder {
    uint256 internal constant MAX_TX_SIZE = 128 * 1024;
    uint256 internal constant MAX_NONCE = type(uint64).max - 1;
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    struct Tx {
        uint8 txType;
        uint256 chainId;
        uint256 nonce;
        uint256 maxPriorityFeePerGas;
        uint256 maxFeePerGas;
        uint256 gasLimit;
        bool hasTo;
        address to;
        uint256 value;
        bytes data;
        uint256 accessListAddresses;
        uint256 accessListKeys;
        address sender;
    }

    /// @dev Bounds of one RLP item: payload [start, stop); next item at `stop`.
    struct Item {
        bool isList;
        uint256 start;
        uint256 stop;
    }

    // --- RLP ------------------------------------------------------------------------------------------

    /// @dev The item at `pos`, whose encoding must end by `end`; ok=false on any non-canonical form.
    function _item(bytes memory b, uint256 pos, uint256 end) private pure returns (bool ok, Item memory it) {
        if (pos >= end) {
            return (false, it);
        }
        uint256 b0 = uint8(b[pos]);
        if (b0 < 0x80) {
            return (true, Item(false, pos, pos + 1));
        }
        if (b0 < 0xB8) {
            uint256 size = b0 - 0x80;
            if (pos + 1 + size > end) {
                return (false, it);
            }
            if (size == 1 && uint8(b[pos + 1]) < 0x80) {
                return (false, it);
            }
            return (true, Item(false, pos + 1, pos + 1 + size));
        }
        if (b0 >= 0xC0 && b0 < 0xF8) {
            uint256 size = b0 - 0xC0;
            if (pos + 1 + size > end) {
                return (false, it);
            }
            return (true, Item(true, pos + 1, pos + 1 + size));
        }
        uint256 sizeLen = b0 < 0xC0 ? b0 - 0xB7 : b0 - 0xF7;
        if (sizeLen > 4 || pos + 1 + sizeLen > end || uint8(b[pos + 1]) == 0) {
            return (false, it);
        }
        uint256 longSize = 0;
        for (uint256 i = 0; i < sizeLen; ++i) {
            longSize = (longSize << 8) | uint8(b[pos + 1 + i]);
        }
        uint256 start = pos + 1 + sizeLen;
        if (longSize < 56 || start + longSize > end) {
            return (false, it);
        }
        return (true, Item(b0 >= 0xC0, start, start + longSize));
    }

    /// @dev The items of the list payload [start, stop), at most `max` of them.
    function _children(bytes memory b, Item memory list, uint256 max) private pure returns (bool, Item[] memory) {
        Item[] memory out = new Item[](max);
        uint256 n = 0;
        uint256 pos = list.start;
        while (pos < list.stop) {
            if (n == max) {
                return (false, out);
            }
            (bool ok, Item memory it) = _item(b, pos, list.stop);
            if (!ok) {
                return (false, out);
            }
            out[n++] = it;
            pos = it.stop;
        }
        if (n != max) {
            return (false, out);
        }
        return (true, out);
    }

    /// @dev A canonical unsigned integer of at most `maxBytes` bytes (no leading zero).
    function _uint(bytes memory b, Item memory it, uint256 maxBytes) private pure returns (bool, uint256 v) {
        uint256 len = it.stop - it.start;
        if (it.isList || len > maxBytes || (len > 0 && uint8(b[it.start]) == 0)) {
            return (false, 0);
        }
        for (uint256 i = it.start; i < it.stop; ++i) {
            v = (v << 8) | uint8(b[i]);
        }
        return (true, v);
    }

    function _slice(bytes memory b, uint256 start, uint256 stop) private pure returns (bytes memory out) {
        out = new bytes(stop - start);
        for (uint256 i = 0; i < out.length; ++i) {
            out[i] = b[start + i];
        }
    }

    /// @dev Access list: [[address(20), [key(32)...]]...]; returns (ok, addresses, keys).
    function _accessList(bytes memory b, Item memory it) private pure returns (bool, uint256 addrs, uint256 keys) {
        if (!it.isList) {
            return (false, 0, 0);
        }
        uint256 pos = it.start;
        while (pos < it.stop) {
            (bool ok, Item memory entry) = _item(b, pos, it.stop);
            if (!ok || !entry.isList) {
                return (false, 0, 0);
            }
            Item[] memory pair;
            (ok, pair) = _children(b, entry, 2);
            if (!ok || pair[0].isList || pair[0].stop - pair[0].start != 20 || !pair[1].isList) {
                return (false, 0, 0);
            }
            uint256 kpos = pair[1].start;
            while (kpos < pair[1].stop) {
                Item memory key;
                (ok, key) = _item(b, kpos, pair[1].stop);
                if (!ok || key.isList || key.stop - key.start != 32) {
                    return (false, 0, 0);
                }
                ++keys;
                kpos = key.stop;
            }
            ++addrs;
            pos = entry.stop;
        }
        return (true, addrs, keys);
    }

    function _rlpLength(uint256 payloadLength, uint8 base) private pure returns (bytes memory) {
        if (payloadLength < 56) {
            return abi.encodePacked(uint8(base + payloadLength));
        }
        uint256 n = 0;
        for (uint256 x = payloadLength; x > 0; x >>= 8) {
            ++n;
        }
        bytes memory out = new bytes(1 + n);
        out[0] = bytes1(uint8(base + 55 + n));
        for (uint256 i = 0; i < n; ++i) {
            out[n - i] = bytes1(uint8(payloadLength >> (8 * i)));
        }
        return out;
    }

    function _rlpUint(uint256 v) private pure returns (bytes memory) {
        if (v == 0) {
            return hex"80";
        }
        if (v < 0x80) {
            return abi.encodePacked(uint8(v));
        }
        uint256 n = 0;
        for (uint256 x = v; x > 0; x >>= 8) {
            ++n;
        }
        bytes memory out = new bytes(1 + n);
        out[0] = bytes1(uint8(0x80 + n));
        for (uint256 i = 0; i < n; ++i) {
            out[n - i] = bytes1(uint8(v >> (8 * i)));
        }
        return out;
    }

    // --- transactions -----------------------------------------------------------------------------------

    /// @notice Decodes and authenticates `raw` for chain `chainId`; ok=false where Python rejects it.
    function decode(bytes memory raw, uint256 chainId) internal pure returns (bool ok, Tx memory t) {
        if (raw.length == 0 || raw.length > MAX_TX_SIZE) {
            return (false, t);
        }
        uint8 first = uint8(raw[0]);
        if (first >= 0xC0) {
            return _decodeLegacy(raw, chainId);
        }
        if (first == 1 || first == 2) {
            return _decodeTyped(raw, chainId, first);
        }
        return (false, t);
    }

    function _top(bytes memory raw, uint256 offset, uint256 count) private pure returns (bool, Item memory, Item[] memory f) {
        (bool ok, Item memory list) = _item(raw, offset, raw.length);
        if (!ok || !list.isList || list.stop != raw.length) {
            return (false, list, f);
        }
        (ok, f) = _children(raw, list, count);
        return (ok, list, f);
    }

    function _to(bytes memory raw, Item memory it, Tx memory t) private pure returns (bool) {
        uint256 len = it.stop - it.start;
        if (it.isList || (len != 0 && len != 20)) {
            return false;
        }
        if (len == 20) {
            t.hasTo = true;
            uint256 a = 0;
            for (uint256 i = it.start; i < it.stop; ++i) {
                a = (a << 8) | uint8(raw[i]);
            }
            t.to = address(uint160(a));
        }
        return true;
    }

    /// @dev Fields common to every type: gas, to, value, data (indices from `i`); nonce checked by caller.
    function _body(bytes memory raw, Item[] memory f, uint256 i, Tx memory t) private pure returns (bool ok) {
        (ok, t.gasLimit) = _uint(raw, f[i], 8);
        if (!ok || !_to(raw, f[i + 1], t)) {
            return false;
        }
        (ok, t.value) = _uint(raw, f[i + 2], 32);
        if (!ok || f[i + 3].isList) {
            return false;
        }
        t.data = _slice(raw, f[i + 3].start, f[i + 3].stop);
        return true;
    }

    function _decodeLegacy(bytes memory raw, uint256 chainId) private pure returns (bool ok, Tx memory t) {
        Item memory list;
        Item[] memory f;
        (ok, list, f) = _top(raw, 0, 9);
        if (!ok) {
            return (false, t);
        }
        (ok, t.nonce) = _uint(raw, f[0], 8);
        if (!ok) {
            return (false, t);
        }
        (ok, t.maxFeePerGas) = _uint(raw, f[1], 32);
        if (!ok || !_body(raw, f, 2, t)) {
            return (false, t);
        }
        t.maxPriorityFeePerGas = t.maxFeePerGas;
        Sig memory sig;
        (ok, sig) = _sig(raw, f, 6);
        if (!ok || t.nonce > MAX_NONCE || sig.v < 35 || (sig.v - 35) / 2 != chainId) {
            return (false, t);
        }
        t.chainId = chainId;
        t.sender = _recover(_legacySigningHash(raw, list.start, f[6], chainId), (sig.v - 35) % 2, sig.r, sig.s);
        return (t.sender != address(0), t);
    }

    /// @dev keccak(rlp([first six fields..., chainId, 0, 0])): the fields sliced, not re-encoded.
    function _legacySigningHash(bytes memory raw, uint256 start, Item memory v, uint256 chainId)
        private
        pure
        returns (bytes32)
    {
        bytes memory tail = abi.encodePacked(_rlpUint(chainId), hex"8080");
        uint256 bodyLength = v.start - start - _headerLength(raw, v);
        return keccak256(abi.encodePacked(_rlpLength(bodyLength + tail.length, 0xC0), _slice(raw, start, start + bodyLength), tail));
    }

    /// @dev keccak(type || rlp([fields before the signature])).
    function _typedSigningHash(bytes memory raw, uint256 start, Item memory v, uint8 txType)
        private
        pure
        returns (bytes32)
    {
        uint256 bodyLength = v.start - start - _headerLength(raw, v);
        return keccak256(abi.encodePacked(bytes1(txType), _rlpLength(bodyLength, 0xC0), _slice(raw, start, start + bodyLength)));
    }

    struct Sig {
        uint256 v;
        uint256 r;
        uint256 s;
    }

    function _sig(bytes memory raw, Item[] memory f, uint256 i) private pure returns (bool ok, Sig memory sig) {
        (ok, sig.v) = _uint(raw, f[i], 32);
        if (ok) {
            (ok, sig.r) = _uint(raw, f[i + 1], 32);
        }
        if (ok) {
            (ok, sig.s) = _uint(raw, f[i + 2], 32);
        }
    }

    function _decodeTyped(bytes memory raw, uint256 chainId, uint8 txType) private pure returns (bool ok, Tx memory t) {
        bool dynamic = txType == 2;
        Item memory list;
        Item[] memory f;
        (ok, list, f) = _top(raw, 1, dynamic ? 12 : 11);
        if (!ok) {
            return (false, t);
        }
        t.txType = txType;
        (ok, t.chainId) = _uint(raw, f[0], 32);
        if (!ok) {
            return (false, t);
        }
        (ok, t.nonce) = _uint(raw, f[1], 8);
        if (!ok) {
            return (false, t);
        }
        uint256 i = 3;
        (ok, t.maxPriorityFeePerGas) = _uint(raw, f[2], 32);
        if (!ok) {
            return (false, t);
        }
        if (dynamic) {
            (ok, t.maxFeePerGas) = _uint(raw, f[3], 32);
            if (!ok) {
                return (false, t);
            }
            i = 4;
        } else {
            t.maxFeePerGas = t.maxPriorityFeePerGas;
        }
        if (!_body(raw, f, i, t)) {
            return (false, t);
        }
        (ok, t.accessListAddresses, t.accessListKeys) = _accessList(raw, f[i + 4]);
        if (!ok) {
            return (false, t);
        }
        Sig memory sig;
        (ok, sig) = _sig(raw, f, i + 5);
        if (!ok || t.nonce > MAX_NONCE || t.maxPriorityFeePerGas > t.maxFeePerGas || t.chainId != chainId) {
            return (false, t);
        }
        if (sig.v > 1) {
            return (false, t);
        }
        t.sender = _recover(_typedSigningHash(raw, list.start, f[i + 5], txType), sig.v, sig.r, sig.s);
        return (t.sender != address(0), t);
    }

    /// @dev Bytes of an item's header: where its encoding starts is `start - header`.
    function _headerLength(bytes memory raw, Item memory it) private pure returns (uint256) {
        uint256 len = it.stop - it.start;
        if (len == 1 && !it.isList && uint8(raw[it.start]) < 0x80 && it.start > 0) {
            // A single byte below 0x80 is its own encoding, unless written 0x81 xx (refused as non-canonical).
            return 0;
        }
        if (len < 56) {
            return 1;
        }
        uint256 n = 0;
        for (uint256 x = len; x > 0; x >>= 8) {
            ++n;
        }
        return 1 + n;
    }

    /// @dev ecrecover with geth's Homestead checks (0 < r < n, 0 < s <= n/2, parity 0 or 1).
    function _recover(bytes32 digest, uint256 parity, uint256 r, uint256 s) private pure returns (address) {
        if (parity > 1 || r == 0 || r >= SECP256K1_N || s == 0 || s > SECP256K1_N / 2) {
            return address(0);
        }
        return ecrecover(digest, uint8(27 + parity), bytes32(r), bytes32(s));
    }
}
