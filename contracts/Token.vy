# pragma version ~=0.4.3
"""
@title VEIL token
@notice ERC-20 used for model prices, job escrow and node stake.
        Minting is done by `minter` (the rewards / emissions contract). During
        bootstrap the owner may mint too, until it calls `renounce_owner_minting`,
        which cannot be undone.
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable

initializes: ownable

# owner() and OwnershipTransferred(previous_owner, new_owner) come from snekmate's ownable (same
# event signature and topic as before); `transfer_ownership` below wraps it to keep this
# contract's reasons ("not owner", "zero address"). ownable's `renounce_ownership` is not exported.
# The ERC-20 body stays ours: snekmate's `erc20` brings EIP-2612 permit and a minter set
# (`set_minter(minter, status)`) with "erc20: ..." reasons, where this token has one `minter`,
# bootstrap minting by the owner until renounced, and the reasons its callers check.
exports: ownable.owner

implements: IERC20

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

event MinterSet:
    minter: indexed(address)

event OwnerMintingRenounced:
    owner: indexed(address)

name: public(constant(String[4])) = "Veil"
symbol: public(constant(String[4])) = "VEIL"
decimals: public(constant(uint8)) = 18

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)

minter: public(address)
owner_can_mint: public(bool)


@deploy
def __init__():
    ownable.__init__()
    self.owner_can_mint = True


@internal
@view
def _only_owner():
    assert msg.sender == ownable.owner, "not owner"


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "zero address"
    # underflow reverts on its own; the explicit check gives a readable reason
    assert self.balanceOf[sender] >= amount, "insufficient balance"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Send `amount` tokens from the caller to `receiver`.
    @param receiver Recipient, not the zero address.
    @param amount Amount in wei-units (18 decimals).
    @return True on success (reverts otherwise).
    """
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Send `amount` tokens from `sender` to `receiver` using the caller's allowance.
    @param sender Account whose tokens move.
    @param receiver Recipient, not the zero address.
    @param amount Amount to move.
    @return True on success (reverts otherwise).
    """
    allowed: uint256 = self.allowance[sender][msg.sender]
    assert allowed >= amount, "insufficient allowance"
    if allowed != max_value(uint256):
        # an infinite approval is never decreased (saves a write for contracts)
        self.allowance[sender][msg.sender] = allowed - amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Let `spender` move up to `amount` of the caller's tokens.
    @param spender Account allowed to spend.
    @param amount New allowance (replaces the old one).
    @return True.
    """
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def mint(receiver: address, amount: uint256):
    """
    @notice Create `amount` new tokens for `receiver`.
    @dev Only the minter, or the owner while bootstrap minting is still allowed.
    @param receiver Recipient, not the zero address.
    @param amount Amount to create, nonzero.
    """
    assert msg.sender == self.minter or (msg.sender == ownable.owner and self.owner_can_mint), "not minter"
    assert receiver != empty(address), "zero address"
    assert amount > 0, "zero amount"
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@external
def burn(amount: uint256):
    """
    @notice Destroy `amount` of the caller's tokens.
    @param amount Amount to destroy, nonzero.
    """
    assert amount > 0, "zero amount"
    assert self.balanceOf[msg.sender] >= amount, "insufficient balance"
    self.balanceOf[msg.sender] -= amount
    self.totalSupply -= amount
    log Transfer(sender=msg.sender, receiver=empty(address), value=amount)


@external
def set_minter(minter: address):
    """
    @notice Set the contract allowed to mint (e.g. the emissions contract).
    @param minter New minter; the zero address disables it.
    """
    self._only_owner()
    self.minter = minter
    log MinterSet(minter=minter)


@external
def renounce_owner_minting():
    """
    @notice End bootstrap minting by the owner, for good.
    """
    self._only_owner()
    assert self.owner_can_mint, "already renounced"
    self.owner_can_mint = False
    log OwnerMintingRenounced(owner=msg.sender)


@external
def transfer_ownership(new_owner: address):
    """
    @notice Hand the owner role to `new_owner`.
    @param new_owner New owner, not the zero address.
    """
    self._only_owner()
    assert new_owner != empty(address), "zero address"
    ownable._transfer_ownership(new_owner)
