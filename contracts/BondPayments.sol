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

    /// @notice Withdraws the caller's bonds that could not be paid directly (all gas is forwarded);
    ///         reverts when the caller has none, so a credit is paid once and only to its owner.
    function withdrawCredit() external {
        uint256 amount = credits[msg.sender];
        require(amount > 0, "BondPayments: no credit");
        credits[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "BondPayments: withdrawal failed");
    }
}
