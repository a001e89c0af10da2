# pragma version ~=0.4.3
"""
@title Agent wallet
@notice Holds an agent's capital (one ERC-20, e.g. VEIL). The agent's key may spend
        only within the owner's policy: a cap per payment, a cap per UTC day (by day
        index, block.timestamp // 86400), calls only to allowed contracts, and not
        while paused. The owner (who deployed and funded it) can change the policy,
        pause, and withdraw at any time.
@dev Spending is measured as the drop of this wallet's token balance across each
     agent action, so every path (job escrow, direct or stealth payment, calls) is
     capped the same way. Allowances to job markets exist only inside `pay_job`.
     ERC-1271 with ERC-7739's defensive rehashing (PersonalSign workflow): the agent key
     signs `keccak256(0x1901 || this wallet's EIP-712 domain separator ||
     keccak256(abi.encode(keccak256("PersonalSign(bytes prefixed)"), hash)))`, never the raw
     hash, so a signature made for this wallet (address + chain id) is valid for no other
     wallet of the same key. This lets AgentRegistry bind this wallet to its agent, and nodes
     accept requests the agent key signs for the wallet.
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable
from snekmate.utils import eip712_domain_separator
from lib import signatures

initializes: ownable
initializes: eip712_domain_separator

# owner() and the OwnershipTransferred event come from snekmate's ownable; `transfer_ownership`
# below wraps it to keep this contract's reasons ("not owner", "zero address") and its RoleSet log.
# ownable's `renounce_ownership` is not exported.
# Pausing stays ours: snekmate's `pausable` logs Paused(account)/Unpaused(account) and reverts with
# its own reasons, where this wallet's callers read Paused(paused) and "wallet paused".
# ERC-5267 `eip712Domain()`: how a signer finds the domain ERC-7739 wraps every hash in.
exports: (ownable.owner, eip712_domain_separator.eip712Domain)

MAX_CALLDATA: constant(uint256) = 2048
MAX_RETURN: constant(uint256) = 256
MAX_METADATA: constant(uint256) = 1024
DAY: constant(uint256) = 86400
SCHEME_SECP256K1: constant(uint256) = 1
ERC1271_MAGIC: constant(bytes4) = 0x1626ba7e
# ERC-7739: keccak256("PersonalSign(bytes prefixed)")
PERSONAL_SIGN_TYPEHASH: constant(bytes32) = keccak256("PersonalSign(bytes prefixed)")

interface Market:
    def open_job(
        model_id: uint256, node: address, input_commitment: bytes32, mode: uint8, deadline: uint256
    ) -> uint256: nonpayable

interface Announcer:
    def announce(
        schemeId: uint256, stealthAddress: address, ephemeralPubKey: Bytes[65], metadata: Bytes[MAX_METADATA]
    ): nonpayable

event Spent:
    kind: indexed(String[16])
    target: indexed(address)
    amount: uint256
    day: uint256
    spent_today: uint256

event PolicySet:
    per_payment_cap: uint256
    daily_cap: uint256

event TargetSet:
    target: indexed(address)
    allowed: bool

event RoleSet:
    role: String[16]
    account: indexed(address)

event Paused:
    paused: bool

event Withdrawal:
    token: indexed(address)
    to: indexed(address)
    amount: uint256

agent: public(address)
token: public(address)
announcer: public(address)
per_payment_cap: public(uint256)
daily_cap: public(uint256)
paused: public(bool)
allowed_target: public(HashMap[address, bool])
spent_on_day: public(HashMap[uint256, uint256])


@deploy
def __init__(_agent: address, _token: address, _per_payment_cap: uint256, _daily_cap: uint256, _announcer: address):
    """
    @param _agent The agent's key (EOA) allowed to spend within the policy.
    @param _token The one token the agent may spend.
    @param _per_payment_cap Largest single payment.
    @param _daily_cap Largest total per day index.
    @param _announcer ERC-5564 announcer used by `pay_stealth` (zero disables stealth payments).
    """
    assert _agent != empty(address) and _token != empty(address), "zero address"
    ownable.__init__()
    eip712_domain_separator.__init__("VeilproofAgentWallet", "1")
    self.agent = _agent
    self.token = _token
    self.announcer = _announcer
    self.per_payment_cap = _per_payment_cap
    self.daily_cap = _daily_cap
    log RoleSet(role="owner", account=msg.sender)
    log RoleSet(role="agent", account=_agent)
    log RoleSet(role="token", account=_token)
    log RoleSet(role="announcer", account=_announcer)
    log PolicySet(per_payment_cap=_per_payment_cap, daily_cap=_daily_cap)


# ------------------------------------------------------------------ internal
@internal
@view
def _only_owner():
    assert msg.sender == ownable.owner, "not owner"


@internal
@view
def _balance() -> uint256:
    return staticcall IERC20(self.token).balanceOf(self)


@internal
@view
def _check_agent():
    assert msg.sender == self.agent, "not agent"
    assert not self.paused, "wallet paused"


@internal
def _record(kind: String[16], target: address, before: uint256):
    """Charge the balance drop since `before` against both caps."""
    after: uint256 = self._balance()
    if after >= before:
        return
    amount: uint256 = before - after
    assert amount <= self.per_payment_cap, "over payment cap"
    day: uint256 = block.timestamp // DAY
    total: uint256 = self.spent_on_day[day] + amount
    assert total <= self.daily_cap, "over daily cap"
    self.spent_on_day[day] = total
    log Spent(kind=kind, target=target, amount=amount, day=day, spent_today=total)


# ------------------------------------------------------------------ agent actions
@external
@nonreentrant
def pay_job(
    market: address,
    model_id: uint256,
    node: address,
    input_commitment: bytes32,
    mode: uint8,
    deadline: uint256,
    max_price: uint256,
) -> uint256:
    """
    @notice Open a JobMarket job paid from this wallet (the wallet becomes the job's
            client, so refunds and feedback rights come back here).
    @dev Approves exactly `max_price` for the call and resets the allowance after.
    @param market An allowed JobMarket.
    @param model_id Model to run.
    @param node Node to run it.
    @param input_commitment As JobMarket.open_job.
    @param mode 1 = ZK, 2 = FHE.
    @param deadline As JobMarket.open_job.
    @param max_price Most the agent accepts to escrow (the model's price).
    @return The job id.
    """
    self._check_agent()
    assert self.allowed_target[market], "target not allowed"
    before: uint256 = self._balance()
    assert extcall IERC20(self.token).approve(market, max_price), "approve failed"
    job_id: uint256 = extcall Market(market).open_job(model_id, node, input_commitment, mode, deadline)
    assert extcall IERC20(self.token).approve(market, 0), "approve failed"
    self._record("job", market, before)
    return job_id


@external
@nonreentrant
def pay(to: address, amount: uint256):
    """
    @notice Pay `amount` of the wallet's token to `to` within the caps.
    @param to Recipient (any address, e.g. a stealth address).
    @param amount Token amount, nonzero.
    """
    self._check_agent()
    assert to != empty(address), "zero address"
    assert amount > 0, "zero amount"
    before: uint256 = self._balance()
    assert extcall IERC20(self.token).transfer(to, amount), "transfer failed"
    self._record("pay", to, before)


@external
@nonreentrant
def pay_stealth(stealth_address: address, amount: uint256, ephemeral_pubkey: Bytes[65], metadata: Bytes[MAX_METADATA]):
    """
    @notice Pay a one-time stealth address and announce it (ERC-5564) in one transaction.
    @param stealth_address Address derived from the recipient's stealth meta-address.
    @param amount Token amount, nonzero, within the caps.
    @param ephemeral_pubkey The payer's ephemeral public key (33 bytes compressed).
    @param metadata View tag first, then ERC-5564 token metadata.
    """
    self._check_agent()
    assert self.announcer != empty(address), "no announcer"
    assert stealth_address != empty(address), "zero address"
    assert amount > 0, "zero amount"
    before: uint256 = self._balance()
    assert extcall IERC20(self.token).transfer(stealth_address, amount), "transfer failed"
    extcall Announcer(self.announcer).announce(SCHEME_SECP256K1, stealth_address, ephemeral_pubkey, metadata)
    self._record("stealth", stealth_address, before)


@external
@nonreentrant
def execute(target: address, data: Bytes[MAX_CALLDATA]) -> Bytes[MAX_RETURN]:
    """
    @notice Call an allowed contract from the wallet (e.g. JobMarket.accept/withdraw,
            Reputation.give_feedback). Any token the call takes counts against the caps.
    @dev The token itself is never a valid target: approvals and transfers go through
         `pay`, `pay_job` and `pay_stealth` only. No ETH is sent.
    @param target An allowed contract.
    @param data ABI-encoded call.
    @return The call's return data (at most 256 bytes).
    """
    self._check_agent()
    assert self.allowed_target[target], "target not allowed"
    assert target != self.token, "target not allowed"
    before: uint256 = self._balance()
    response: Bytes[MAX_RETURN] = raw_call(target, data, max_outsize=MAX_RETURN)
    self._record("call", target, before)
    return response


# ------------------------------------------------------------------ owner
@external
def set_policy(per_payment_cap: uint256, daily_cap: uint256):
    """
    @notice Change the spending caps (take effect at once, today's spending kept).
    @param per_payment_cap Largest single payment.
    @param daily_cap Largest total per day.
    """
    self._only_owner()
    self.per_payment_cap = per_payment_cap
    self.daily_cap = daily_cap
    log PolicySet(per_payment_cap=per_payment_cap, daily_cap=daily_cap)


@external
def set_target(target: address, allowed: bool):
    """
    @notice Allow or forbid a contract for `pay_job` and `execute`.
    @param target Contract address (the wallet's token is always refused by `execute`).
    @param allowed True to allow.
    """
    self._only_owner()
    assert target != empty(address), "zero address"
    self.allowed_target[target] = allowed
    log TargetSet(target=target, allowed=allowed)


@external
def set_agent(agent: address):
    """
    @notice Rotate the agent key (e.g. after a leak).
    @param agent New agent key.
    """
    self._only_owner()
    assert agent != empty(address), "zero address"
    self.agent = agent
    log RoleSet(role="agent", account=agent)


@external
def set_token(token: address):
    """
    @notice Change which token the agent may spend.
    @param token ERC-20 address.
    """
    self._only_owner()
    assert token != empty(address), "zero address"
    self.token = token
    log RoleSet(role="token", account=token)


@external
def set_announcer(announcer: address):
    """
    @notice Set the ERC-5564 announcer used by `pay_stealth`.
    @param announcer Announcer contract (zero disables stealth payments).
    """
    self._only_owner()
    self.announcer = announcer
    log RoleSet(role="announcer", account=announcer)


@external
def pause():
    """
    @notice Stop all agent spending until `unpause`.
    """
    self._only_owner()
    self.paused = True
    log Paused(paused=True)


@external
def unpause():
    """
    @notice Let the agent spend again.
    """
    self._only_owner()
    self.paused = False
    log Paused(paused=False)


@external
@nonreentrant
def withdraw(token: address, amount: uint256):
    """
    @notice Owner takes funds back (any ERC-20, e.g. refunds pulled from JobMarket).
    @param token ERC-20 to withdraw.
    @param amount Amount; the whole balance when zero.
    """
    self._only_owner()
    value: uint256 = amount
    if value == 0:
        value = staticcall IERC20(token).balanceOf(self)
    assert value > 0, "nothing to withdraw"
    log Withdrawal(token=token, to=msg.sender, amount=value)
    assert extcall IERC20(token).transfer(msg.sender, value), "transfer failed"


@external
def transfer_ownership(new_owner: address):
    """
    @notice Hand the owner role to `new_owner`.
    @param new_owner New owner, not the zero address.
    """
    self._only_owner()
    assert new_owner != empty(address), "zero address"
    ownable._transfer_ownership(new_owner)
    log RoleSet(role="owner", account=new_owner)


# ------------------------------------------------------------------ views
@external
@view
def spent_today() -> uint256:
    """
    @notice Amount spent in the current day index.
    @return Amount.
    """
    return self.spent_on_day[block.timestamp // DAY]


@external
@view
def remaining_today() -> uint256:
    """
    @notice How much more the agent may spend today (ignores the per-payment cap and balance).
    @return Amount.
    """
    spent: uint256 = self.spent_on_day[block.timestamp // DAY]
    if spent >= self.daily_cap:
        return 0
    return self.daily_cap - spent


@external
@view
def isValidSignature(_hash: bytes32, _signature: Bytes[65]) -> bytes4:
    """
    @notice ERC-1271: the wallet signs with its agent key, bound to this wallet and chain.
    @dev ERC-7739 PersonalSign workflow: the agent key must have signed this wallet's
         EIP-712 typed hash of PersonalSign(prefixed = `_hash`); a signature of the bare
         `_hash` (or one made for another wallet or chain) is refused. The TypedDataSign
         workflow (longer signatures carrying the app's domain) is not supported, so the
         ERC-7739 detection hash 0x7739...7739 is not answered.
    @param _hash Digest the caller checks (e.g. an EIP-712 or EIP-191 hash of its message).
    @param _signature 65-byte (r, s, v) signature of the wrapped digest.
    @return 0x1626ba7e when the agent key signed the wrapped `_hash`, else 0xffffffff.
    """
    wrapped: bytes32 = eip712_domain_separator._hash_typed_data_v4(
        keccak256(abi_encode(PERSONAL_SIGN_TYPEHASH, _hash))
    )
    signer: address = signatures._recover(wrapped, _signature)
    if signer == empty(address) or signer != self.agent:
        return 0xffffffff
    return ERC1271_MAGIC
