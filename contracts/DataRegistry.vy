# pragma version ~=0.4.3
"""
@title Data registry: consented datasets, versions that exclude revoked records, paid compute-to-data
@notice A curator publishes a dataset (schema hash, policy: allowed uses, price per use, expiry) and
        registers records, each with its data subject's EIP-712 consent, checked here. The subject
        can revoke at any time. A version is committed from a sorted list of registered record
        hashes: this contract computes its Merkle roots itself and refuses a revoked or expired
        record, so no version committed after a revocation can contain the revoked record; an older
        version that contains it is marked tainted by anyone holding a Merkle proof, and a tainted
        version can no longer be sold. A buyer escrows the price of one use; the dataset's host runs
        the committed algorithm and records the result hash here; the escrow is then split between
        the curator and the contributors pro rata (records, or posted quality scores), pulled.
@dev Consent is EIP-712 typed data
     Consent(address subject,uint256 datasetId,bytes32 recordHash,uint256 allowedUses,uint256 expiry,uint256 nonce)
     under domain ("VeilproofDataRegistry", "1", chain id, this registry). Merkle trees hash pairs
     sorted (OpenZeppelin's commutative hashing); an odd node is carried up unchanged; a record
     leaf is keccak256(record_hash), a consent leaf keccak256(abi_encode(record_hash, subject,
     allowed_uses, expiry)).
"""

from ethereum.ercs import IERC20
from snekmate.utils import eip712_domain_separator
from lib import signatures

initializes: eip712_domain_separator

MAX_BATCH: constant(uint256) = 64
MAX_RECORDS: constant(uint256) = 1024
MAX_CONTRIBUTORS: constant(uint256) = 16
MAX_PROOF: constant(uint256) = 16
MAX_BPS: constant(uint256) = 10000
USE_TRAINING: constant(uint256) = 1
USE_EVALUATION: constant(uint256) = 2
USE_INFERENCE: constant(uint256) = 4
ALL_USES: constant(uint256) = 7

SALE_OPEN: constant(uint8) = 1
SALE_DELIVERED: constant(uint8) = 2
SALE_REFUNDED: constant(uint8) = 3

CONSENT_TYPE_HASH: public(constant(bytes32)) = keccak256(
    "Consent(address subject,uint256 datasetId,bytes32 recordHash,uint256 allowedUses,uint256 expiry,uint256 nonce)"
)

struct Consent:
    subject: address
    dataset_id: uint256
    record_hash: bytes32
    allowed_uses: uint256
    expiry: uint256
    nonce: uint256

struct Dataset:
    curator: address
    host: address
    schema_hash: bytes32
    allowed_uses: uint256
    price: uint256
    expiry: uint256
    curator_bps: uint256
    uri: String[256]

struct Version:
    dataset_id: uint256
    parent: uint256
    record_root: bytes32
    consent_root: bytes32
    record_count: uint256
    created_at: uint256
    revoked_count: uint256

struct Sale:
    buyer: address
    version_id: uint256
    use: uint256
    algo_hash: bytes32
    price: uint256
    deadline: uint256
    state: uint8
    result_hash: bytes32

interface JobRoyalties:
    def collect_data_royalty(sale_id: uint256) -> uint256: nonpayable

event DatasetPublished:
    dataset_id: indexed(uint256)
    curator: indexed(address)
    host: address
    schema_hash: bytes32
    allowed_uses: uint256
    price: uint256
    expiry: uint256
    curator_bps: uint256
    uri: String[256]

event RoyaltySet:
    dataset_id: indexed(uint256)
    bps: uint256

event RoyaltyCollected:
    sale_id: indexed(uint256)
    market: indexed(address)
    amount: uint256

event HostSet:
    dataset_id: indexed(uint256)
    host: indexed(address)

event RecordRegistered:
    dataset_id: indexed(uint256)
    record_hash: indexed(bytes32)
    subject: indexed(address)
    allowed_uses: uint256
    expiry: uint256
    nonce: uint256

event ConsentRevoked:
    dataset_id: indexed(uint256)
    record_hash: indexed(bytes32)
    subject: indexed(address)

event ConsentsCancelled:
    subject: indexed(address)
    min_nonce: uint256

event VersionCommitted:
    version_id: indexed(uint256)
    dataset_id: indexed(uint256)
    parent: uint256
    record_root: bytes32
    consent_root: bytes32
    record_count: uint256

event VersionTainted:
    version_id: indexed(uint256)
    record_hash: indexed(bytes32)
    revoked_count: uint256

event ScoresPosted:
    version_id: indexed(uint256)
    scorer: indexed(address)
    scores: DynArray[int256, MAX_CONTRIBUTORS]

event Bought:
    sale_id: indexed(uint256)
    version_id: indexed(uint256)
    buyer: indexed(address)
    use: uint256
    algo_hash: bytes32
    price: uint256
    deadline: uint256

event ResultRecorded:
    sale_id: indexed(uint256)
    version_id: indexed(uint256)
    host: indexed(address)
    record_root: bytes32
    algo_hash: bytes32
    result_hash: bytes32

event Refunded:
    sale_id: indexed(uint256)
    buyer: indexed(address)
    amount: uint256

event Credited:
    account: indexed(address)
    sale_id: indexed(uint256)
    amount: uint256

event Withdrawal:
    account: indexed(address)
    amount: uint256

event RoleSet:
    role: String[32]
    account: indexed(address)

token: public(immutable(IERC20))
delivery_window: public(immutable(uint256))
owner: public(address)
scorer: public(address)

_datasets: HashMap[uint256, Dataset]
dataset_count: public(uint256)
# (dataset, record) -> subject | expiry << 160 | allowed_uses << 224 (one slot per record); 0 = none
_records: HashMap[uint256, HashMap[bytes32, uint256]]
# keccak256(dataset, record, subject) -> revoked by that subject (also before registration)
_revoked: HashMap[bytes32, bool]
# consents with a lower nonce were cancelled by their subject before use
min_nonce: public(HashMap[address, uint256])

_versions: HashMap[uint256, Version]
version_count: public(uint256)
_contributors: HashMap[uint256, DynArray[address, MAX_CONTRIBUTORS]]
_counts: HashMap[uint256, DynArray[uint256, MAX_CONTRIBUTORS]]
_weights: HashMap[uint256, DynArray[uint256, MAX_CONTRIBUTORS]]
_flagged: HashMap[uint256, HashMap[bytes32, bool]]

_sales: HashMap[uint256, Sale]
sale_count: public(uint256)
pending: public(HashMap[address, uint256])
escrowed: public(uint256)
# dataset -> share (bps) of the royalty of every paid inference of a model trained on it that its
# contributors earn (issue #15); a model fixes the value when it names its lineage
royalty_bps: public(HashMap[uint256, uint256])


@deploy
def __init__(_token: IERC20, _delivery_window: uint256):
    """
    @notice Fix the token, the host's delivery window and the EIP-712 domain
            ("VeilproofDataRegistry", "1", chain id, this registry).
    @param _token The VEIL token sales are paid in.
    @param _delivery_window Seconds a host has to record a result before the buyer may take a refund.
    """
    assert _delivery_window > 0, "zero delivery window"
    token = _token
    delivery_window = _delivery_window
    self.owner = msg.sender
    self.scorer = msg.sender
    eip712_domain_separator.__init__("VeilproofDataRegistry", "1")


# ------------------------------------------------------------------ internals
@internal
@view
def _dataset(dataset_id: uint256) -> Dataset:
    assert dataset_id >= 1 and dataset_id <= self.dataset_count, "unknown dataset"
    return self._datasets[dataset_id]


@internal
@view
def _version(version_id: uint256) -> Version:
    assert version_id >= 1 and version_id <= self.version_count, "unknown version"
    return self._versions[version_id]


@internal
@pure
def _revoke_key(dataset_id: uint256, record_hash: bytes32, subject: address) -> bytes32:
    return keccak256(abi_encode(dataset_id, record_hash, subject))


@internal
@pure
def _hash_pair(a: bytes32, b: bytes32) -> bytes32:
    if convert(a, uint256) < convert(b, uint256):
        return keccak256(concat(a, b))
    return keccak256(concat(b, a))


@internal
@pure
def _root(leaves: bytes32[MAX_RECORDS], count: uint256) -> bytes32:
    """
    @dev Merkle root of the first `count` leaves (count >= 1): sorted-pair hashing, an odd node
         carried up unchanged. Reduces in place.
    """
    layer: bytes32[MAX_RECORDS] = leaves
    n: uint256 = count
    for _level: uint256 in range(11):
        if n <= 1:
            break
        half: uint256 = n // 2
        for i: uint256 in range(half, bound=MAX_RECORDS // 2):
            layer[i] = self._hash_pair(layer[2 * i], layer[2 * i + 1])
        if n % 2 == 1:
            layer[half] = layer[n - 1]
            n = half + 1
        else:
            n = half
    return layer[0]


@internal
def _credit(account: address, amount: uint256, sale_id: uint256):
    if amount > 0:
        self.pending[account] += amount
        log Credited(account=account, sale_id=sale_id, amount=amount)


@internal
def _split(sale_id: uint256, version_id: uint256, amount: uint256):
    """Curator's share, then contributors by weight; the rounding remainder to the curator."""
    dataset_id: uint256 = self._versions[version_id].dataset_id
    curator_cut: uint256 = amount * self._datasets[dataset_id].curator_bps // MAX_BPS
    pool: uint256 = amount - curator_cut
    weights: DynArray[uint256, MAX_CONTRIBUTORS] = self._weights[version_id]
    total: uint256 = 0
    for w: uint256 in weights:
        total += w
    paid: uint256 = 0
    if total > 0:
        who: DynArray[address, MAX_CONTRIBUTORS] = self._contributors[version_id]
        for j: uint256 in range(len(who), bound=MAX_CONTRIBUTORS):
            share: uint256 = pool * weights[j] // total
            self._credit(who[j], share, sale_id)
            paid += share
    self._credit(self._datasets[dataset_id].curator, amount - paid, sale_id)


# ------------------------------------------------------------------ datasets and consent
@external
def publish(
    schema_hash: bytes32,
    allowed_uses: uint256,
    price: uint256,
    expiry: uint256,
    curator_bps: uint256,
    host: address,
    uri: String[256],
) -> uint256:
    """
    @notice Publish a dataset curated by the caller, with its policy.
    @param schema_hash Hash of the record schema; nonzero.
    @param allowed_uses Bitmask of uses sold: 1 training, 2 evaluation, 4 inference-only; nonzero.
    @param price Price of one use, in VEIL.
    @param expiry Unix time after which no use can be bought; in the future.
    @param curator_bps The curator's share of each sale, in basis points; the rest goes to contributors.
    @param host The data host that holds the records and records results; nonzero.
    @param uri Where the dataset's description lives.
    @return The new dataset id (from 1).
    """
    assert schema_hash != empty(bytes32), "empty schema hash"
    assert allowed_uses != 0 and allowed_uses & ALL_USES == allowed_uses, "bad uses"
    assert expiry > block.timestamp, "expiry in the past"
    assert curator_bps <= MAX_BPS, "curator share too high"
    assert host != empty(address), "zero host"
    dataset_id: uint256 = self.dataset_count + 1
    self.dataset_count = dataset_id
    self._datasets[dataset_id] = Dataset(
        curator=msg.sender,
        host=host,
        schema_hash=schema_hash,
        allowed_uses=allowed_uses,
        price=price,
        expiry=expiry,
        curator_bps=curator_bps,
        uri=uri,
    )
    log DatasetPublished(
        dataset_id=dataset_id,
        curator=msg.sender,
        host=host,
        schema_hash=schema_hash,
        allowed_uses=allowed_uses,
        price=price,
        expiry=expiry,
        curator_bps=curator_bps,
        uri=uri,
    )
    return dataset_id


@external
def set_host(dataset_id: uint256, host: address):
    """
    @notice Move the dataset to another data host (sales already open stay with the new host).
    @param dataset_id Dataset curated by the caller.
    @param host New host; nonzero.
    """
    assert self._dataset(dataset_id).curator == msg.sender, "not curator"
    assert host != empty(address), "zero host"
    self._datasets[dataset_id].host = host
    log HostSet(dataset_id=dataset_id, host=host)


@external
def set_royalty(dataset_id: uint256, bps: uint256):
    """
    @notice Set the share of a model's inference royalty owed to the dataset's contributors (and
            curator, split like a sale) for models that name a sale of it from now on.
    @param dataset_id Dataset curated by the caller.
    @param bps Share of the model owner's royalty, in basis points (at most 10000).
    """
    assert self._dataset(dataset_id).curator == msg.sender, "not curator"
    assert bps <= MAX_BPS, "royalty above 100%"
    self.royalty_bps[dataset_id] = bps
    log RoyaltySet(dataset_id=dataset_id, bps=bps)


@external
def collect_royalty(market: JobRoyalties, sale_id: uint256):
    """
    @notice Pull a market's inference royalties owed to a sale and split them like the sale itself
            (curator's share, then contributors by weight), to be withdrawn as usual. Anyone may call.
    @param market A JobMarket holding royalties for this registry (only tokens that arrive count).
    @param sale_id A delivered sale.
    """
    sale: Sale = self._sales[sale_id]
    assert sale.state == SALE_DELIVERED, "sale not delivered"
    before: uint256 = staticcall token.balanceOf(self)
    extcall market.collect_data_royalty(sale_id)
    amount: uint256 = staticcall token.balanceOf(self) - before
    assert amount > 0, "no royalty owed"
    log RoyaltyCollected(sale_id=sale_id, market=market.address, amount=amount)
    self._split(sale_id, sale.version_id, amount)


@external
def register_records(dataset_id: uint256, consents: DynArray[Consent, MAX_BATCH], sigs: DynArray[Bytes[65], MAX_BATCH]):
    """
    @notice Register records, each with its subject's signed consent, checked here.
    @dev Reasons: "consent for another dataset" (a consent signed for dataset A replayed on B),
         "bad consent signature" (forged or altered), "consent expired", "consent revoked"
         (revoked or cancelled by nonce), "consent replayed" (the record is registered already),
         "consent does not cover uses" (the consent allows less than the dataset's policy sells).
    @param dataset_id Dataset curated by the caller.
    @param consents The consents, one per record.
    @param sigs 65-byte EIP-712 signatures by each consent's subject, aligned with `consents`.
    """
    ds: Dataset = self._dataset(dataset_id)
    assert ds.curator == msg.sender, "not curator"
    assert len(consents) == len(sigs), "length mismatch"
    for i: uint256 in range(len(consents), bound=MAX_BATCH):
        c: Consent = consents[i]
        assert c.dataset_id == dataset_id, "consent for another dataset"
        struct_hash: bytes32 = keccak256(
            abi_encode(CONSENT_TYPE_HASH, c.subject, c.dataset_id, c.record_hash, c.allowed_uses, c.expiry, c.nonce)
        )
        digest: bytes32 = eip712_domain_separator._hash_typed_data_v4(struct_hash)
        assert c.subject != empty(address), "bad consent signature"
        assert signatures._is_valid_signature_now(c.subject, digest, sigs[i]), "bad consent signature"
        assert c.expiry > block.timestamp, "consent expired"
        assert c.nonce >= self.min_nonce[c.subject], "consent revoked"
        assert not self._revoked[self._revoke_key(dataset_id, c.record_hash, c.subject)], "consent revoked"
        assert self._records[dataset_id][c.record_hash] == 0, "consent replayed"
        assert c.allowed_uses & ds.allowed_uses == ds.allowed_uses, "consent does not cover uses"
        assert c.expiry < 2**64 and c.allowed_uses < 2**32, "consent out of range"
        self._records[dataset_id][c.record_hash] = (
            convert(c.subject, uint256) | (c.expiry << 160) | (c.allowed_uses << 224)
        )
        log RecordRegistered(
            dataset_id=dataset_id,
            record_hash=c.record_hash,
            subject=c.subject,
            allowed_uses=c.allowed_uses,
            expiry=c.expiry,
            nonce=c.nonce,
        )


@external
def revoke(dataset_id: uint256, record_hash: bytes32):
    """
    @notice Revoke, for good, the caller's consent for one record of a dataset (before or after
            it was registered). Versions committed later cannot include it; a version that does
            can be marked tainted with `flag_revoked`.
    @param dataset_id The dataset.
    @param record_hash The record.
    """
    self._dataset(dataset_id)
    key: bytes32 = self._revoke_key(dataset_id, record_hash, msg.sender)
    assert not self._revoked[key], "already revoked"
    self._revoked[key] = True
    log ConsentRevoked(dataset_id=dataset_id, record_hash=record_hash, subject=msg.sender)


@external
def cancel_consents(min_nonce: uint256):
    """
    @notice Void every consent the caller signed with a nonce below `min_nonce` that is not
            registered yet (e.g. signatures handed to a curator who has not used them).
    @param min_nonce New lowest valid nonce; above the current one.
    """
    assert min_nonce > self.min_nonce[msg.sender], "nonce not raised"
    self.min_nonce[msg.sender] = min_nonce
    log ConsentsCancelled(subject=msg.sender, min_nonce=min_nonce)


# ------------------------------------------------------------------ versions
@external
def commit_version(dataset_id: uint256, parent: uint256, records: DynArray[bytes32, MAX_RECORDS]) -> uint256:
    """
    @notice Commit a version of the dataset made of `records`; this contract computes its record
            root and consent root and counts each contributor's records.
    @dev Every record must be registered in the dataset, not revoked by its subject and within its
         consent's expiry: a revoked record cannot enter any version committed after revocation.
    @param dataset_id Dataset curated by the caller.
    @param parent Version this one replaces (0 for the first); a version of the same dataset.
    @param records Record hashes, strictly increasing (so none twice); 1 to 1024.
    @return The new version id (from 1).
    """
    assert self._dataset(dataset_id).curator == msg.sender, "not curator"
    if parent != 0:
        assert self._version(parent).dataset_id == dataset_id, "parent of another dataset"
    n: uint256 = len(records)
    assert n > 0, "no records"
    record_leaves: bytes32[MAX_RECORDS] = empty(bytes32[MAX_RECORDS])
    consent_leaves: bytes32[MAX_RECORDS] = empty(bytes32[MAX_RECORDS])
    who: DynArray[address, MAX_CONTRIBUTORS] = []
    counts: DynArray[uint256, MAX_CONTRIBUTORS] = []
    prev: uint256 = 0
    for i: uint256 in range(n, bound=MAX_RECORDS):
        r: bytes32 = records[i]
        assert i == 0 or convert(r, uint256) > prev, "records not sorted"
        prev = convert(r, uint256)
        packed: uint256 = self._records[dataset_id][r]
        assert packed != 0, "unknown record"
        subject: address = convert(convert(packed & (2**160 - 1), uint160), address)
        expiry: uint256 = (packed >> 160) & (2**64 - 1)
        uses: uint256 = packed >> 224
        assert not self._revoked[self._revoke_key(dataset_id, r, subject)], "record revoked"
        assert expiry > block.timestamp, "consent expired"
        record_leaves[i] = keccak256(r)
        consent_leaves[i] = keccak256(abi_encode(r, subject, uses, expiry))
        found: bool = False
        for j: uint256 in range(len(who), bound=MAX_CONTRIBUTORS):
            if who[j] == subject:
                counts[j] += 1
                found = True
                break
        if not found:
            assert len(who) < MAX_CONTRIBUTORS, "too many contributors"
            who.append(subject)
            counts.append(1)
    version_id: uint256 = self.version_count + 1
    self.version_count = version_id
    record_root: bytes32 = self._root(record_leaves, n)
    consent_root: bytes32 = self._root(consent_leaves, n)
    self._versions[version_id] = Version(
        dataset_id=dataset_id,
        parent=parent,
        record_root=record_root,
        consent_root=consent_root,
        record_count=n,
        created_at=block.timestamp,
        revoked_count=0,
    )
    self._contributors[version_id] = who
    self._counts[version_id] = counts
    self._weights[version_id] = counts
    log VersionCommitted(
        version_id=version_id,
        dataset_id=dataset_id,
        parent=parent,
        record_root=record_root,
        consent_root=consent_root,
        record_count=n,
    )
    return version_id


@external
def flag_revoked(version_id: uint256, record_hash: bytes32, proof: DynArray[bytes32, MAX_PROOF]):
    """
    @notice Mark a version tainted: it contains a record whose consent was revoked (shown by a
            Merkle proof against its record root). A tainted version cannot be sold again.
    @param version_id The version.
    @param record_hash The revoked record.
    @param proof Sibling hashes from the record's leaf up to the root (sorted-pair hashing).
    """
    v: Version = self._version(version_id)
    packed: uint256 = self._records[v.dataset_id][record_hash]
    assert packed != 0, "unknown record"
    subject: address = convert(convert(packed & (2**160 - 1), uint160), address)
    assert self._revoked[self._revoke_key(v.dataset_id, record_hash, subject)], "record not revoked"
    assert not self._flagged[version_id][record_hash], "already flagged"
    node: bytes32 = keccak256(record_hash)
    for sibling: bytes32 in proof:
        node = self._hash_pair(node, sibling)
    assert node == v.record_root, "bad proof"
    self._flagged[version_id][record_hash] = True
    count: uint256 = v.revoked_count + 1
    self._versions[version_id].revoked_count = count
    log VersionTainted(version_id=version_id, record_hash=record_hash, revoked_count=count)


@external
def post_scores(version_id: uint256, scores: DynArray[int256, MAX_CONTRIBUTORS]):
    """
    @notice Post measured quality scores of a version's contributors (e.g. leave-one-out held-out
            accuracy); sales delivered from now on are split by max(score, 0) instead of record count.
    @param version_id The version.
    @param scores One score per contributor, in the order of `contributors(version_id)`.
    """
    assert msg.sender == self.scorer, "not scorer"
    self._version(version_id)
    assert len(scores) == len(self._contributors[version_id]), "score count mismatch"
    weights: DynArray[uint256, MAX_CONTRIBUTORS] = []
    for s: int256 in scores:
        if s > 0:
            weights.append(convert(s, uint256))
        else:
            weights.append(0)
    self._weights[version_id] = weights
    log ScoresPosted(version_id=version_id, scorer=msg.sender, scores=scores)


# ------------------------------------------------------------------ sales (compute-to-data)
@external
def buy(version_id: uint256, use: uint256, algo_hash: bytes32) -> uint256:
    """
    @notice Escrow the price of one use of a version: the host runs the algorithm `algo_hash` on
            it and records the result hash (`deliver`), or the buyer takes a refund after the window.
    @param version_id Version to use; not tainted, dataset not expired.
    @param use One use bit the dataset's policy allows (1 training, 2 evaluation, 4 inference).
    @param algo_hash Hash of the committed algorithm (code and parameters) to run; nonzero.
    @return The sale id (from 1).
    """
    v: Version = self._version(version_id)
    ds: Dataset = self._datasets[v.dataset_id]
    assert v.revoked_count == 0, "version has revoked records"
    assert block.timestamp < ds.expiry, "dataset expired"
    assert use != 0 and use & (use - 1) == 0 and use & ds.allowed_uses == use, "use not allowed"
    assert algo_hash != empty(bytes32), "empty algorithm hash"
    sale_id: uint256 = self.sale_count + 1
    self.sale_count = sale_id
    deadline: uint256 = block.timestamp + delivery_window
    self._sales[sale_id] = Sale(
        buyer=msg.sender,
        version_id=version_id,
        use=use,
        algo_hash=algo_hash,
        price=ds.price,
        deadline=deadline,
        state=SALE_OPEN,
        result_hash=empty(bytes32),
    )
    self.escrowed += ds.price
    log Bought(
        sale_id=sale_id,
        version_id=version_id,
        buyer=msg.sender,
        use=use,
        algo_hash=algo_hash,
        price=ds.price,
        deadline=deadline,
    )
    if ds.price > 0:
        assert extcall token.transferFrom(msg.sender, self, ds.price), "transfer failed"
    return sale_id


@external
def deliver(sale_id: uint256, result_hash: bytes32):
    """
    @notice Record, as the dataset's host, the hash of the result of the sale's algorithm on the
            version (the receipt binds record root, algorithm hash and result hash), and split the
            escrow: curator's share, then contributors by weight (remainder to the curator).
    @param sale_id An open sale of a dataset this caller hosts.
    @param result_hash sha256 of the result package handed to the buyer; nonzero.
    """
    sale: Sale = self._sales[sale_id]
    assert sale.state == SALE_OPEN, "sale not open"
    v: Version = self._versions[sale.version_id]
    ds: Dataset = self._datasets[v.dataset_id]
    assert msg.sender == ds.host, "not data host"
    assert v.revoked_count == 0, "version has revoked records"
    assert result_hash != empty(bytes32), "empty result hash"
    self._sales[sale_id].state = SALE_DELIVERED
    self._sales[sale_id].result_hash = result_hash
    self.escrowed -= sale.price
    log ResultRecorded(
        sale_id=sale_id,
        version_id=sale.version_id,
        host=msg.sender,
        record_root=v.record_root,
        algo_hash=sale.algo_hash,
        result_hash=result_hash,
    )
    self._split(sale_id, sale.version_id, sale.price)


@external
def refund(sale_id: uint256):
    """
    @notice Take back the escrow of a sale the host did not deliver within the window.
    @param sale_id An open sale bought by the caller, past its deadline.
    """
    sale: Sale = self._sales[sale_id]
    assert sale.state == SALE_OPEN, "sale not open"
    assert msg.sender == sale.buyer, "not buyer"
    assert block.timestamp > sale.deadline, "window open"
    self._sales[sale_id].state = SALE_REFUNDED
    self.escrowed -= sale.price
    log Refunded(sale_id=sale_id, buyer=msg.sender, amount=sale.price)
    self._credit(msg.sender, sale.price, sale_id)


@external
def withdraw():
    """
    @notice Pull the caller's pending balance (sale shares, curator cuts, refunds).
    """
    amount: uint256 = self.pending[msg.sender]
    assert amount > 0, "nothing to withdraw"
    self.pending[msg.sender] = 0
    log Withdrawal(account=msg.sender, amount=amount)
    assert extcall token.transfer(msg.sender, amount), "transfer failed"


# ------------------------------------------------------------------ admin
@external
def set_scorer(scorer: address):
    """
    @notice Set who may post quality scores (a validator or the network's scoring service).
    @param scorer New scorer; zero disables scoring.
    """
    assert msg.sender == self.owner, "not owner"
    self.scorer = scorer
    log RoleSet(role="scorer", account=scorer)


@external
def transfer_ownership(new_owner: address):
    """
    @notice Hand the owner role to `new_owner`.
    @param new_owner New owner, not the zero address.
    """
    assert msg.sender == self.owner, "not owner"
    assert new_owner != empty(address), "zero address"
    self.owner = new_owner
    log RoleSet(role="owner", account=new_owner)


# ------------------------------------------------------------------ views
@external
@view
def dataset(dataset_id: uint256) -> Dataset:
    """
    @notice Everything stored about a dataset.
    @param dataset_id Dataset id.
    @return The Dataset struct.
    """
    return self._dataset(dataset_id)


@external
@view
def version(version_id: uint256) -> Version:
    """
    @notice Everything stored about a version.
    @param version_id Version id.
    @return The Version struct.
    """
    return self._version(version_id)


@external
@view
def contributors(version_id: uint256) -> (DynArray[address, MAX_CONTRIBUTORS], DynArray[uint256, MAX_CONTRIBUTORS], DynArray[uint256, MAX_CONTRIBUTORS]):
    """
    @notice A version's contributors, their record counts and their current payout weights.
    @param version_id Version id.
    @return (subjects, record counts, weights).
    """
    self._version(version_id)
    return self._contributors[version_id], self._counts[version_id], self._weights[version_id]


@external
@view
def record(dataset_id: uint256, record_hash: bytes32) -> (address, uint256, uint256, bool):
    """
    @notice The consent a record was registered under.
    @param dataset_id Dataset id.
    @param record_hash Record hash.
    @return (subject, allowed uses, expiry, revoked); the zero subject if not registered.
    """
    packed: uint256 = self._records[dataset_id][record_hash]
    subject: address = convert(convert(packed & (2**160 - 1), uint160), address)
    revoked: bool = packed != 0 and self._revoked[self._revoke_key(dataset_id, record_hash, subject)]
    return subject, packed >> 224, (packed >> 160) & (2**64 - 1), revoked


@external
@view
def is_revoked(dataset_id: uint256, record_hash: bytes32, subject: address) -> bool:
    """
    @notice Whether `subject` revoked its consent for this record.
    @param dataset_id Dataset id.
    @param record_hash Record hash.
    @param subject Data subject.
    @return True if revoked.
    """
    return self._revoked[self._revoke_key(dataset_id, record_hash, subject)]


@external
@view
def sale(sale_id: uint256) -> Sale:
    """
    @notice Everything stored about a sale.
    @param sale_id Sale id.
    @return The Sale struct (state 0 = none, 1 open, 2 delivered, 3 refunded).
    """
    assert sale_id >= 1 and sale_id <= self.sale_count, "unknown sale"
    return self._sales[sale_id]


@external
@view
def lineage(sale_id: uint256) -> (address, uint8, uint256, bytes32, bytes32, bytes32, bytes32):
    """
    @notice What a model trained through a sale can name as its data lineage (ModelRegistry reads it).
    @param sale_id Sale id (an unknown sale returns the zero buyer).
    @return (buyer, state, version id, record root, consent root, algorithm hash, result hash).
    """
    sale: Sale = self._sales[sale_id]
    v: Version = self._versions[sale.version_id]
    return sale.buyer, sale.state, sale.version_id, v.record_root, v.consent_root, sale.algo_hash, sale.result_hash


@external
@view
def royalty_terms(sale_id: uint256) -> uint256:
    """
    @notice The data royalty (bps of a model's inference royalty) a model trained through this sale owes.
    @param sale_id Sale id.
    @return The sale's dataset's royalty_bps now (ModelRegistry fixes it when the lineage is named).
    """
    return self.royalty_bps[self._versions[self._sales[sale_id].version_id].dataset_id]


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @notice EIP-712 domain separator of this registry on this chain.
    @return The separator.
    """
    return eip712_domain_separator._domain_separator_v4()
