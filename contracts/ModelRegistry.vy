# pragma version ~=0.4.3
"""
@title Model registry
@notice Models, their price and royalty, their lineage (parent models, datasets,
        training code) and the commitments (hashes) of their ZK and FHE artifacts.
        Commitments are set once and never change, so a node or client can check
        the artifacts it fetched against the chain.
"""

interface DataSales:
    def lineage(sale_id: uint256) -> (address, uint8, uint256, bytes32, bytes32, bytes32, bytes32): view
    def royalty_terms(sale_id: uint256) -> uint256: view

SALE_DELIVERED: constant(uint8) = 2
MAX_PARENTS: constant(uint256) = 8
MAX_DATASETS: constant(uint256) = 8
MAX_BPS: constant(uint16) = 10000

struct Model:
    owner: address
    name: String[64]
    price: uint256
    royalty_bps: uint16
    onnx_hash: bytes32
    zk_settings_hash: bytes32
    zk_vk_hash: bytes32
    zk_srs_hash: bytes32
    fhe_client_hash: bytes32
    fhe_server_hash: bytes32
    training_code_hash: bytes32
    active: bool

struct Dataset:
    owner: address
    merkle_root: bytes32
    uri: String[256]

struct DataLineage:
    registry: address
    sale_id: uint256
    version_id: uint256
    record_root: bytes32
    consent_root: bytes32
    algo_hash: bytes32
    result_hash: bytes32

event DataLineageSet:
    model_id: indexed(uint256)
    registry: indexed(address)
    sale_id: uint256
    version_id: uint256
    record_root: bytes32
    consent_root: bytes32
    result_hash: bytes32

event DatasetRegistered:
    dataset_id: indexed(uint256)
    owner: indexed(address)
    merkle_root: bytes32
    uri: String[256]

event ModelRegistered:
    model_id: indexed(uint256)
    owner: indexed(address)
    name: String[64]
    price: uint256
    royalty_bps: uint16
    onnx_hash: bytes32
    training_code_hash: bytes32

event ZkCommitmentSet:
    model_id: indexed(uint256)
    settings_hash: bytes32
    vk_hash: bytes32
    srs_hash: bytes32

event FheCommitmentSet:
    model_id: indexed(uint256)
    client_hash: bytes32
    server_hash: bytes32

event PriceSet:
    model_id: indexed(uint256)
    price: uint256

event ModelRetired:
    model_id: indexed(uint256)

event ModelTransferred:
    model_id: indexed(uint256)
    previous: indexed(address)
    new_owner: indexed(address)

_models: HashMap[uint256, Model]
_parents: HashMap[uint256, DynArray[uint256, MAX_PARENTS]]
_model_datasets: HashMap[uint256, DynArray[uint256, MAX_DATASETS]]
_datasets: HashMap[uint256, Dataset]
root_used: public(HashMap[bytes32, bool])
_data_lineage: HashMap[uint256, DataLineage]
# model -> share (bps) of its royalty owed to its training data's contributors, fixed when its
# lineage is named (the dataset's terms then), so the curator cannot raise it afterwards
data_royalty_bps: public(HashMap[uint256, uint16])

model_count: public(uint256)
dataset_count: public(uint256)


@internal
@view
def _model_owner(model_id: uint256) -> address:
    owner: address = self._models[model_id].owner
    assert owner != empty(address), "unknown model"
    return owner


@external
def register_dataset(merkle_root: bytes32, uri: String[256]) -> uint256:
    """
    @notice Register a dataset by the Merkle root of its records; the caller owns it.
    @param merkle_root Root over the dataset's records; nonzero and not registered before.
    @param uri Where the dataset (or its description) can be found.
    @return The new dataset id (from 1).
    """
    assert merkle_root != empty(bytes32), "empty root"
    assert not self.root_used[merkle_root], "root exists"
    dataset_id: uint256 = self.dataset_count + 1
    self.dataset_count = dataset_id
    self.root_used[merkle_root] = True
    self._datasets[dataset_id] = Dataset(owner=msg.sender, merkle_root=merkle_root, uri=uri)
    log DatasetRegistered(dataset_id=dataset_id, owner=msg.sender, merkle_root=merkle_root, uri=uri)
    return dataset_id


@external
def register_model(
    name: String[64],
    price: uint256,
    royalty_bps: uint16,
    onnx_hash: bytes32,
    parents: DynArray[uint256, MAX_PARENTS],
    datasets: DynArray[uint256, MAX_DATASETS],
    training_code_hash: bytes32,
) -> uint256:
    """
    @notice Register a model; the caller owns it and receives `royalty_bps` of each job's price.
    @param name Display name.
    @param price Price of one inference job, in VEIL.
    @param royalty_bps Share of the price paid to the model owner, in basis points (<= 10000).
    @param onnx_hash sha256 of the ONNX file; nonzero.
    @param parents Ids of models this one was derived from (lineage); each must exist.
    @param datasets Ids of datasets it was trained on; each must exist.
    @param training_code_hash Hash of the training code (may be zero if unknown).
    @return The new model id (from 1).
    """
    assert royalty_bps <= MAX_BPS, "royalty too high"
    assert onnx_hash != empty(bytes32), "empty onnx hash"
    count: uint256 = self.model_count
    for p: uint256 in parents:
        assert p >= 1 and p <= count, "unknown parent"
    for d: uint256 in datasets:
        assert d >= 1 and d <= self.dataset_count, "unknown dataset"
    model_id: uint256 = count + 1
    self.model_count = model_id
    self._models[model_id] = Model(
        owner=msg.sender,
        name=name,
        price=price,
        royalty_bps=royalty_bps,
        onnx_hash=onnx_hash,
        zk_settings_hash=empty(bytes32),
        zk_vk_hash=empty(bytes32),
        zk_srs_hash=empty(bytes32),
        fhe_client_hash=empty(bytes32),
        fhe_server_hash=empty(bytes32),
        training_code_hash=training_code_hash,
        active=True,
    )
    self._parents[model_id] = parents
    self._model_datasets[model_id] = datasets
    log ModelRegistered(
        model_id=model_id,
        owner=msg.sender,
        name=name,
        price=price,
        royalty_bps=royalty_bps,
        onnx_hash=onnx_hash,
        training_code_hash=training_code_hash,
    )
    return model_id


@external
def set_zk_commitment(model_id: uint256, settings_hash: bytes32, vk_hash: bytes32, srs_hash: bytes32):
    """
    @notice Commit, once, to the model's EZKL circuit settings, verifying key and SRS.
    @param model_id Model to update; caller must own it.
    @param settings_hash Hash of settings.json (all three hashes nonzero).
    @param vk_hash Hash of the verifying key.
    @param srs_hash Hash of the KZG structured reference string.
    """
    assert msg.sender == self._model_owner(model_id), "not model owner"
    assert self._models[model_id].zk_vk_hash == empty(bytes32), "zk commitment set"
    assert settings_hash != empty(bytes32) and vk_hash != empty(bytes32) and srs_hash != empty(bytes32), "empty hash"
    self._models[model_id].zk_settings_hash = settings_hash
    self._models[model_id].zk_vk_hash = vk_hash
    self._models[model_id].zk_srs_hash = srs_hash
    log ZkCommitmentSet(model_id=model_id, settings_hash=settings_hash, vk_hash=vk_hash, srs_hash=srs_hash)


@external
def set_fhe_commitment(model_id: uint256, client_hash: bytes32, server_hash: bytes32):
    """
    @notice Commit, once, to the model's FHE client specs and server circuit.
    @param model_id Model to update; caller must own it.
    @param client_hash Hash of the client artifact (both hashes nonzero).
    @param server_hash Hash of the server circuit; FHE results must name it.
    """
    assert msg.sender == self._model_owner(model_id), "not model owner"
    assert self._models[model_id].fhe_server_hash == empty(bytes32), "fhe commitment set"
    assert client_hash != empty(bytes32) and server_hash != empty(bytes32), "empty hash"
    self._models[model_id].fhe_client_hash = client_hash
    self._models[model_id].fhe_server_hash = server_hash
    log FheCommitmentSet(model_id=model_id, client_hash=client_hash, server_hash=server_hash)


@external
def set_data_lineage(model_id: uint256, registry: DataSales, sale_id: uint256):
    """
    @notice Name, once, the consented dataset version a model was trained on: a compute-to-data sale
            of `registry` (a DataRegistry) that the caller bought and its host delivered. Stores the
            version's record and consent roots and the sale's algorithm and result hashes.
    @param model_id Model owned by the caller.
    @param registry The DataRegistry the sale is in (check it is the suite's).
    @param sale_id The delivered sale whose result this model is.
    """
    assert msg.sender == self._model_owner(model_id), "not model owner"
    assert self._data_lineage[model_id].registry == empty(address), "data lineage set"
    buyer: address = empty(address)
    state: uint8 = 0
    version_id: uint256 = 0
    record_root: bytes32 = empty(bytes32)
    consent_root: bytes32 = empty(bytes32)
    algo_hash: bytes32 = empty(bytes32)
    result_hash: bytes32 = empty(bytes32)
    buyer, state, version_id, record_root, consent_root, algo_hash, result_hash = staticcall registry.lineage(sale_id)
    assert buyer == msg.sender, "not the sale's buyer"
    assert state == SALE_DELIVERED, "sale not delivered"
    self._data_lineage[model_id] = DataLineage(
        registry=registry.address,
        sale_id=sale_id,
        version_id=version_id,
        record_root=record_root,
        consent_root=consent_root,
        algo_hash=algo_hash,
        result_hash=result_hash,
    )
    bps: uint256 = staticcall registry.royalty_terms(sale_id)
    assert bps <= convert(MAX_BPS, uint256), "data royalty above 100%"
    self.data_royalty_bps[model_id] = convert(bps, uint16)
    log DataLineageSet(
        model_id=model_id,
        registry=registry.address,
        sale_id=sale_id,
        version_id=version_id,
        record_root=record_root,
        consent_root=consent_root,
        result_hash=result_hash,
    )


@external
@view
def data_lineage(model_id: uint256) -> DataLineage:
    """
    @notice The consented dataset version a model was trained on (zero registry if none was named).
    @param model_id Model id.
    @return The DataLineage struct.
    """
    self._model_owner(model_id)
    return self._data_lineage[model_id]


@external
def set_price(model_id: uint256, price: uint256):
    """
    @notice Change the price of future jobs (open jobs keep the price they escrowed).
    @param model_id Model to update; caller must own it.
    @param price New price in VEIL.
    """
    assert msg.sender == self._model_owner(model_id), "not model owner"
    assert self._models[model_id].active, "model retired"
    self._models[model_id].price = price
    log PriceSet(model_id=model_id, price=price)


@external
def retire(model_id: uint256):
    """
    @notice Stop new jobs for this model, for good. Open jobs still complete.
    @param model_id Model to retire; caller must own it.
    """
    assert msg.sender == self._model_owner(model_id), "not model owner"
    assert self._models[model_id].active, "model retired"
    self._models[model_id].active = False
    log ModelRetired(model_id=model_id)


@external
def transfer_model(model_id: uint256, to: address):
    """
    @notice Hand the model (and its future royalties) to `to`.
    @param model_id Model to transfer; caller must own it.
    @param to New owner, not the zero address.
    """
    owner: address = self._model_owner(model_id)
    assert msg.sender == owner, "not model owner"
    assert to != empty(address), "zero address"
    self._models[model_id].owner = to
    log ModelTransferred(model_id=model_id, previous=owner, new_owner=to)


@external
@view
def model(model_id: uint256) -> Model:
    """
    @notice Everything stored about a model.
    @param model_id Model id.
    @return The Model struct.
    """
    self._model_owner(model_id)
    return self._models[model_id]


@external
@view
def job_terms(model_id: uint256) -> (bool, uint256, bytes32, bytes32):
    """
    @notice What a market checks to open a job, without copying the whole model (a `model`
            call reads all twelve slots of its struct, ~25k gas cold; this reads four).
    @param model_id Model id; reverts "unknown model" if never registered.
    @return (active, price, zk_vk_hash, fhe_server_hash).
    """
    self._model_owner(model_id)
    return (
        self._models[model_id].active,
        self._models[model_id].price,
        self._models[model_id].zk_vk_hash,
        self._models[model_id].fhe_server_hash,
    )


@external
@view
def royalty_info(model_id: uint256) -> (address, uint16):
    """
    @notice Who earns a model's royalty and how much of a job's price (after the protocol fee).
    @param model_id Model id.
    @return (owner, royalty_bps); the zero address for an unknown model (never reverts, so a
            batch of receipts can skip one instead of failing as a whole).
    """
    return (self._models[model_id].owner, self._models[model_id].royalty_bps)


@external
@view
def royalty_split(model_id: uint256) -> (address, uint16, address, uint256, uint16):
    """
    @notice royalty_info plus where part of the royalty goes: the model's training data (issue #15).
    @param model_id Model id.
    @return (owner, royalty_bps, data registry, sale id, data_bps); data_bps of the owner's royalty is
            owed to the sale's contributors; the zero registry when the model names no data lineage.
    """
    reg: address = self._data_lineage[model_id].registry
    if reg == empty(address):
        return (self._models[model_id].owner, self._models[model_id].royalty_bps, empty(address), 0, 0)
    return (
        self._models[model_id].owner,
        self._models[model_id].royalty_bps,
        reg,
        self._data_lineage[model_id].sale_id,
        self.data_royalty_bps[model_id],
    )


@external
@view
def parents(model_id: uint256) -> DynArray[uint256, MAX_PARENTS]:
    """
    @notice Models this one was derived from.
    @param model_id Model id.
    @return Parent model ids.
    """
    self._model_owner(model_id)
    return self._parents[model_id]


@external
@view
def datasets(model_id: uint256) -> DynArray[uint256, MAX_DATASETS]:
    """
    @notice Datasets this model was trained on.
    @param model_id Model id.
    @return Dataset ids.
    """
    self._model_owner(model_id)
    return self._model_datasets[model_id]


@external
@view
def dataset(dataset_id: uint256) -> Dataset:
    """
    @notice Everything stored about a dataset.
    @param dataset_id Dataset id.
    @return The Dataset struct.
    """
    assert dataset_id >= 1 and dataset_id <= self.dataset_count, "unknown dataset"
    return self._datasets[dataset_id]


@external
@view
def exists(model_id: uint256) -> bool:
    """
    @notice Whether `model_id` was ever registered.
    @param model_id Model id.
    @return True if registered (retired models still exist).
    """
    return self._models[model_id].owner != empty(address)


@external
@view
def is_active(model_id: uint256) -> bool:
    """
    @notice Whether new jobs may be opened for this model.
    @param model_id Model id.
    @return True if registered and not retired.
    """
    return self._models[model_id].active


@external
@view
def owner_of(model_id: uint256) -> address:
    """
    @notice Current owner of a model (receives royalties).
    @param model_id Model id.
    @return Owner address; reverts if unknown.
    """
    return self._model_owner(model_id)
