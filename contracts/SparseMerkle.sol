// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./Poseidon.sol";

/// @title Proofs against the L2 state root: circomlib's sparse Merkle tree (jovay/state/smt.py)
/// @notice A key's path is its bits, least significant first; a leaf hashes as Poseidon(key, value, 1),
///         an inner node as Poseidon(left, right); an empty subtree is 0 and a subtree holding one leaf
///         is that leaf. Given a root and one key's proof, `read`/`verify` show the key's value (0 when
///         absent) and `update` computes the root after setting it (insert, update, or delete = set 0),
///         keeping the canonical shape, so the result equals the Python tree's root.
/// @dev Proofs are produced by jovay/state/smt_proofs.py. Soundness rests on Poseidon's collision
///      resistance: a proof whose hashes reach the root describes the real nodes on the key's path.
library SparseMerkle {
    using Poseidon for Poseidon.Hashers;

    uint256 internal constant MAX_DEPTH = 256;

    /// @notice One key's path. `siblings[i]` is the sibling met at level i (the root's child level is
    ///         0), root side first. The path ends in an empty subtree (`leafValue == 0`) or in a leaf:
    ///         the key's own (`leafKey == key`) or another key's leaf sharing the path (the key is
    ///         absent). Only deleting needs the last sibling opened: a leaf (`siblingIsLeaf`, then
    ///         `siblingLeft, siblingRight` = its key and value) moves up once its neighbour goes, an inner
    ///         node (`siblingLeft, siblingRight` = its children) stays.
    struct Proof {
        uint256[] siblings;
        uint256 leafKey;
        uint256 leafValue;
        bool siblingIsLeaf;
        uint256 siblingLeft;
        uint256 siblingRight;
    }

    /// @notice The value at `key` under `root` (0 when absent); reverts unless the proof reaches root.
    function read(Poseidon.Hashers memory h, uint256 root, uint256 key, Proof memory p)
        internal
        view
        returns (uint256)
    {
        require(_wellFormed(key, p), "SparseMerkle: malformed proof");
        require(_hashUp(h, key, p.siblings, p.siblings.length, _endNode(h, p)) == root, "SparseMerkle: proof does not match root");
        return _valueAtEnd(key, p);
    }

    /// @notice Whether the proof shows `key -> value` under `root`; value 0 claims the key is absent.
    function verify(Poseidon.Hashers memory h, uint256 root, uint256 key, uint256 value, Proof memory p)
        internal
        view
        returns (bool)
    {
        if (value >= Poseidon.FIELD_MODULUS || !_wellFormed(key, p) || _valueAtEnd(key, p) != value) {
            return false;
        }
        return _hashUp(h, key, p.siblings, p.siblings.length, _endNode(h, p)) == root;
    }

    /// @notice The root after setting `key` from `oldValue` to `newValue` (0 deletes); reverts unless
    ///         the proof shows `key -> oldValue` under `root`.
    function update(
        Poseidon.Hashers memory h,
        uint256 root,
        uint256 key,
        uint256 oldValue,
        uint256 newValue,
        Proof memory p
    ) internal view returns (uint256) {
        require(newValue < Poseidon.FIELD_MODULUS, "SparseMerkle: value out of field");
        require(read(h, root, key, p) == oldValue, "SparseMerkle: wrong old value");
        if (oldValue == newValue) {
            return root;
        }
        if (newValue == 0) {
            return _delete(h, key, p);
        }
        uint256 node = h.hash3(key, newValue, 1);
        if (oldValue == 0 && p.leafValue != 0) {
            node = _split(h, key, node, p);
        }
        return _hashUp(h, key, p.siblings, p.siblings.length, node);
    }

    // --- internals -----------------------------------------------------------------------------------

    function _wellFormed(uint256 key, Proof memory p) private pure returns (bool) {
        uint256 depth = p.siblings.length;
        if (key >= Poseidon.FIELD_MODULUS || depth > MAX_DEPTH) {
            return false;
        }
        if (p.leafValue == 0) {
            return true;
        }
        if (p.leafKey >= Poseidon.FIELD_MODULUS || p.leafValue >= Poseidon.FIELD_MODULUS) {
            return false;
        }
        uint256 mask = depth == MAX_DEPTH ? type(uint256).max : (uint256(1) << depth) - 1;
        return (p.leafKey ^ key) & mask == 0; // a leaf on the key's path shares its first `depth` bits
    }

    function _valueAtEnd(uint256 key, Proof memory p) private pure returns (uint256) {
        return p.leafValue != 0 && p.leafKey == key ? p.leafValue : 0;
    }

    function _endNode(Poseidon.Hashers memory h, Proof memory p) private view returns (uint256) {
        return p.leafValue == 0 ? 0 : h.hash3(p.leafKey, p.leafValue, 1);
    }

    /// @dev The root from `node` at depth `depth` on key's path, hashed with siblings[depth-1..0].
    function _hashUp(Poseidon.Hashers memory h, uint256 key, uint256[] memory siblings, uint256 depth, uint256 node)
        private
        view
        returns (uint256)
    {
        for (uint256 level = depth; level > 0; ) {
            unchecked {
                --level;
            }
            uint256 sibling = siblings[level];
            require(sibling < Poseidon.FIELD_MODULUS, "SparseMerkle: sibling out of field");
            node = (key >> level) & 1 == 1 ? h.hash2(sibling, node) : h.hash2(node, sibling);
        }
        return node;
    }

    /// @dev Inserting next to another key's leaf that ends the path: both go down to where their keys
    ///      part, under inner nodes with one empty side.
    function _split(Poseidon.Hashers memory h, uint256 key, uint256 leaf, Proof memory p)
        private
        view
        returns (uint256 node)
    {
        uint256 otherLeaf = h.hash3(p.leafKey, p.leafValue, 1);
        uint256 diff = key ^ p.leafKey;
        uint256 depth = p.siblings.length;
        uint256 level = depth;
        while ((diff >> level) & 1 == 0) {
            ++level; // ends below 254: the keys differ and agree on the first `depth` bits
        }
        node = (key >> level) & 1 == 1 ? h.hash2(otherLeaf, leaf) : h.hash2(leaf, otherLeaf);
        while (level > depth) {
            --level;
            node = (key >> level) & 1 == 1 ? h.hash2(0, node) : h.hash2(node, 0);
        }
    }

    /// @dev Deleting the key's leaf at the end of the path: a lone leaf left behind rises past the empty
    ///      levels above it; an inner neighbour keeps the tree's shape.
    function _delete(Poseidon.Hashers memory h, uint256 key, Proof memory p) private view returns (uint256) {
        uint256 depth = p.siblings.length;
        if (depth == 0) {
            return 0;
        }
        uint256 last = p.siblings[depth - 1];
        if (!p.siblingIsLeaf) {
            require(h.hash2(p.siblingLeft, p.siblingRight) == last, "SparseMerkle: wrong sibling opening");
            return _hashUp(h, key, p.siblings, depth, 0);
        }
        require(h.hash3(p.siblingLeft, p.siblingRight, 1) == last, "SparseMerkle: wrong sibling opening");
        uint256 level = depth - 1;
        while (level > 0 && p.siblings[level - 1] == 0) {
            --level;
        }
        return _hashUp(h, key, p.siblings, level, last);
    }
}
