// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Bond payments that a recipient cannot block
/// @notice A bond is sent with a bounded gas stipend; if the recipient refuses it (or runs out of gas),
///         the amount is credited instead and the recipient withdraws it later. So a contract that
///         rejects ETH cannot stop a game from resolving or an output from being reverted.
abstract contract BondPayments {
    /// @notice Bonds owed to recipients that refused a direct payment.
    mapping(address => uint256) public credits;

    function _pay(address to, uint256 amount) internal {
        (bool ok,) = to.call{value: amount, gas: 50_000}("");
        if (!ok) {
            credits[to] += amount;
        }
    }

    /// @notice Withdraws bonds that could not be paid directly.
    function withdrawCredit() external {
        uint256 amount = credits[msg.sender];
        credits[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "BondPayments: withdrawal failed");
    }
}
