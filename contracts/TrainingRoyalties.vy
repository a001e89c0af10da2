# pragma version ~=0.4.3
"""
@title Training royalties (issue #16): a federated model's owner share flows back to its trainers
@notice Registered as the owner of a model trained by TrainingMarket job `job_id`, this contract is
        where JobMarket credits the model's royalties. Anyone `sweep`s them out of JobMarket; each
        participant of the job `claim`s its part, pro rata to its summed contribution score in the job
        (a participant that scored 0, e.g. a free-rider or a poisoner, gets 0). Pull-based: what a
        participant is owed is (everything this contract ever received) * score / total_score minus what
        it already took, so late claimers lose nothing and no loop over participants is needed.
@dev Everything received counts: token.balanceOf(self) + total_paid (royalties swept from JobMarket or
     sent directly). Rounding dust (< number of scorers, in token units) stays here.
"""

from ethereum.ercs import IERC20


interface Training:
    def contribution(job_id: uint256, account: address) -> (uint256, uint256): view


interface Market:
    def pending(account: address) -> uint256: view
    def withdraw(): nonpayable


event Swept:
    amount: uint256

event RoyaltyClaimed:
    account: indexed(address)
    amount: uint256

token: public(immutable(IERC20))
market: public(immutable(Market))
training: public(immutable(Training))
job_id: public(immutable(uint256))
total_paid: public(uint256)
paid: public(HashMap[address, uint256])


@deploy
def __init__(token_: address, market_: address, training_: address, job_id_: uint256):
    """
    @notice Bind the splitter to the royalty token, the JobMarket that credits royalties, and one
            finished TrainingMarket job whose scores set the split.
    @param token_ The token royalties are paid in (VEIL).
    @param market_ The JobMarket (royalties are credited to this contract's address there).
    @param training_ The TrainingMarket.
    @param job_id_ The training job the model came from.
    """
    assert token_ != empty(address) and market_ != empty(address), "zero address"
    assert training_ != empty(address), "zero address"
    token = IERC20(token_)
    market = Market(market_)
    training = Training(training_)
    job_id = job_id_
    s: uint256 = 0
    total: uint256 = 0
    s, total = staticcall Training(training_).contribution(job_id_, empty(address))
    assert total > 0, "job has no contributions"


@internal
@view
def _owed(account: address) -> uint256:
    s: uint256 = 0
    total: uint256 = 0
    s, total = staticcall training.contribution(job_id, account)
    received: uint256 = staticcall token.balanceOf(self) + self.total_paid
    return received * s // total - self.paid[account]


@external
def sweep() -> uint256:
    """
    @notice Pull this contract's pending royalties out of JobMarket (anyone may call).
    @return The amount swept (0 when nothing was pending).
    """
    amount: uint256 = staticcall market.pending(self)
    if amount > 0:
        extcall market.withdraw()
        log Swept(amount=amount)
    return amount


@external
@view
def owed(account: address) -> uint256:
    """
    @notice What `account` can claim now from royalties already held here (sweep first for more).
    @param account A participant of the training job.
    @return The amount in token units.
    """
    return self._owed(account)


@external
def claim() -> uint256:
    """
    @notice Sweep pending royalties and pay the caller its share by contribution score.
    @return The amount paid.
    """
    pending: uint256 = staticcall market.pending(self)
    if pending > 0:
        extcall market.withdraw()
        log Swept(amount=pending)
    amount: uint256 = self._owed(msg.sender)
    assert amount > 0, "nothing owed"
    self.paid[msg.sender] += amount
    self.total_paid += amount
    assert extcall token.transfer(msg.sender, amount), "payout failed"
    log RoyaltyClaimed(account=msg.sender, amount=amount)
    return amount
