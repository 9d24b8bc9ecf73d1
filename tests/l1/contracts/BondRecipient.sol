// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Test-only bond recipient: a contract that proposes outputs through `forward` and, while
///         `refuse` is set, reverts on receiving ETH, or, while `burnGas` is set, spends more gas on
///         receiving it than BondPayments' stipend allows (and succeeds when given enough).
contract BondRecipient {
    bool public refuse;
    bool public burnGas;
    uint256 public sink;

    function setMode(bool refuse_, bool burnGas_) external {
        refuse = refuse_;
        burnGas = burnGas_;
    }

    /// @notice Calls `target` with `data` and `msg.value`, bubbling up its revert reason.
    function forward(address target, bytes calldata data) external payable {
        (bool ok, bytes memory ret) = target.call{value: msg.value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    receive() external payable {
        require(!refuse, "BondRecipient: refused");
        if (burnGas) {
            uint256 x = sink;
            for (uint256 i = 0; i < 600; i++) {
                x = uint256(keccak256(abi.encode(x, i)));
            }
            sink = x; // a cold storage write alone (20k) plus the loop passes the 50k stipend
        }
    }
}
