# pragma version 0.4.3
"""
@title ZkVerifierAdapter
@license Apache-2.0
@notice Verifies EZKL (Halo2 + KZG) proofs for registered models on behalf of the JobMarket.
@dev One EZKL `Halo2VerifierReusable` contract serves every model; each model registers its
     verifying-key artifact (VKA). The VKA words (~210 x 32 bytes) are needed on every verification,
     so we keep them as the code of a tiny data contract (SSTORE2-like: reading it costs a few
     thousand gas, reading 210 storage slots would cost ~440k).
     Instances layout (EZKL, input hashed / output public / params fixed):
       instances[0]  = Poseidon commitment of the input
       instances[1:] = public outputs as BN254 field elements
     `verify` never reverts on a bad proof: it returns False, so the JobMarket can refund and slash.
     Registration is permissionless but bound: only a model's owner (ModelRegistry) may register its
     VKA, only on the one verifier fixed at deployment, and only if the VKA digest equals the
     `zk_vk_hash` committed in ModelRegistry — so the key JobMarket verifies against is exactly the
     committed one, and nobody can point a model at a verifier that accepts anything.
"""

MAX_PROOF_BYTES: constant(uint256) = 32768
MAX_INSTANCES: constant(uint256) = 64
# A data contract is limited to 24576 bytes of code (EIP-170): 11 bytes of reader + 767 words.
MAX_VKA_WORDS: constant(uint256) = 767
MAX_VKA_BYTES: constant(uint256) = MAX_VKA_WORDS * 32
# Gas the adapter itself needs after the verifier returns (decode + compare), used to tell an
# out-of-gas failure of the verifier from a rejection.
OOG_MARGIN: constant(uint256) = 5000
VERIFY_PROOF: constant(bytes4) = method_id("verifyProof(bytes,uint256[],bytes32[])", output_type=bytes4)


interface ReusableVerifier:
    def registerVka(vka: DynArray[bytes32, MAX_VKA_WORDS]) -> bytes32: nonpayable


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


interface ModelRegistry:
    def model(model_id: uint256) -> Model: view


struct ModelVerifier:
    verifier: address  # the Halo2VerifierReusable contract
    vka_store: address  # data contract whose code is a tiny reader ++ VKA words
    vka_digest: bytes32  # keccak256 of the VKA words, as registered on the verifier
    vka_words: uint256


event ModelVerifierSet:
    model_id: indexed(uint256)
    verifier: indexed(address)
    vka_digest: bytes32
    vka_store: address
    vka_words: uint256


registry: public(ModelRegistry)
verifier: public(address)
models: public(HashMap[uint256, ModelVerifier])


@deploy
def __init__(_registry: ModelRegistry, _verifier: address):
    """
    @param _registry The ModelRegistry holding each model's owner and `zk_vk_hash` (= VKA digest).
    @param _verifier The deployed EZKL `Halo2VerifierReusable` every model is verified with.
    """
    assert _verifier.is_contract, "adapter: verifier has no code"
    self.registry = _registry
    self.verifier = _verifier


@external
def register_model(model_id: uint256, vka: DynArray[bytes32, MAX_VKA_WORDS]) -> bytes32:
    """
    @notice Register a model's VKA on the verifier. Once per model, by the model's owner, and only
            for the VKA whose digest the model committed to in ModelRegistry.
    @dev Registers the VKA on the verifier (its `registerVka`) and stores the words as contract code.
    @param model_id The ModelRegistry id.
    @param vka The model's VKA words (EZKL `create_evm_vka`, 8-byte header stripped).
    @return The VKA digest (keccak256 of the words), as the verifier records it.
    """
    m: Model = staticcall self.registry.model(model_id)
    assert m.owner != empty(address), "adapter: unknown model"
    assert msg.sender == m.owner, "adapter: not model owner"
    assert self.models[model_id].verifier == empty(address), "adapter: model already registered"
    assert len(vka) > 0, "adapter: empty vka"

    data: Bytes[MAX_VKA_BYTES + 64] = slice(abi_encode(vka), 64, len(vka) * 32)
    assert keccak256(data) == m.zk_vk_hash, "adapter: vka does not match committed vk"
    verifier: address = self.verifier
    digest: bytes32 = extcall ReusableVerifier(verifier).registerVka(vka)
    assert digest == keccak256(data), "adapter: verifier returned another vka digest"

    # init code (10 bytes): PUSH2 size, DUP1, PUSH1 10, RETURNDATASIZE, CODECOPY, RETURNDATASIZE, RETURN.
    # runtime (11 bytes + words): return code[11:] to any caller —
    #   PUSH1 11, DUP1, CODESIZE, SUB, DUP1, SWAP2, PUSH0, CODECOPY, PUSH0, RETURN.
    # (Vyper's slice(addr.code, ...) needs a constant length, so we read it with a static call.)
    size: uint256 = len(data) + 11
    initcode: Bytes[MAX_VKA_BYTES + 85] = concat(
        b"\x61",
        slice(convert(size, bytes32), 30, 2),
        b"\x80\x60\x0a\x3d\x39\x3d\xf3",
        b"\x60\x0b\x80\x38\x03\x80\x91\x5f\x39\x5f\xf3",
        data,
    )
    store: address = raw_create(initcode)

    self.models[model_id] = ModelVerifier(
        verifier=verifier, vka_store=store, vka_digest=digest, vka_words=len(vka)
    )
    log ModelVerifierSet(
        model_id=model_id, verifier=verifier, vka_digest=digest, vka_store=store, vka_words=len(vka)
    )
    return digest


@view
@internal
def _vka(m: ModelVerifier) -> DynArray[bytes32, MAX_VKA_WORDS]:
    blob: Bytes[MAX_VKA_BYTES] = raw_call(m.vka_store, b"", max_outsize=MAX_VKA_BYTES, is_static_call=True)
    assert len(blob) == m.vka_words * 32, "adapter: vka store damaged"
    encoded: Bytes[MAX_VKA_BYTES + 64] = concat(convert(32, bytes32), convert(m.vka_words, bytes32), blob)
    return abi_decode(encoded, DynArray[bytes32, MAX_VKA_WORDS])


@view
@external
def vka_of(model_id: uint256) -> DynArray[bytes32, MAX_VKA_WORDS]:
    """
    @notice The VKA words registered for `model_id` (empty if none).
    @param model_id The ModelRegistry id.
    @return The VKA words, as passed to `register_model`.
    """
    m: ModelVerifier = self.models[model_id]
    if m.verifier == empty(address):
        return []
    return self._vka(m)


@view
@external
def is_registered(model_id: uint256) -> bool:
    """
    @notice Whether `model_id` has a VKA registered here (so `verify` can accept its proofs).
    @param model_id The ModelRegistry id.
    @return True once `register_model` succeeded for it.
    """
    return self.models[model_id].verifier != empty(address)


@view
@external
def verify(
    model_id: uint256, proof: Bytes[MAX_PROOF_BYTES], instances: DynArray[uint256, MAX_INSTANCES]
) -> bool:
    """
    @notice True iff `proof` is a valid proof for `model_id` with public `instances`.
    @dev Never reverts on a bad proof: a revert (or short/odd return) of the verifier reads as False.
         It does revert when the verifier ran out of gas (so a too-low gas limit cannot fail an honest
         proof); give the calling transaction enough gas (~0.5M + calldata for the verification).
         The caller checks instances[0] against the job's input commitment.
    @param model_id The ModelRegistry id (must be registered, else False).
    @param proof Raw Halo2 proof bytes (EZKL proof.json `proof`).
    @param instances Public instances: [poseidon(input), outputs...] as uint256 field elements.
    @return True if the verifier accepted the proof under the model's registered VKA.
    """
    m: ModelVerifier = self.models[model_id]
    if m.verifier == empty(address) or len(instances) == 0:
        return False
    vka: DynArray[bytes32, MAX_VKA_WORDS] = self._vka(m)
    ok: bool = False
    resp: Bytes[64] = b""
    gas_before: uint256 = msg.gas
    ok, resp = raw_call(
        m.verifier,
        abi_encode(proof, instances, vka, method_id=VERIFY_PROOF),
        max_outsize=64,
        is_static_call=True,
        revert_on_failure=False,
    )
    if not ok:
        # EIP-150 forwards at most 63/64 of the gas. If the callee used (nearly) all of it, it ran out
        # of gas rather than rejecting the proof: revert, so the caller's gas estimate is raised
        # instead of an honest node's proof being read as invalid.
        assert msg.gas > gas_before // 64 + OOG_MARGIN, "adapter: out of gas in verifier"
        return False
    if len(resp) < 64:
        return False
    success: uint256 = convert(slice(resp, 0, 32), uint256)
    digest: bytes32 = convert(slice(resp, 32, 32), bytes32)
    return success == 1 and digest == m.vka_digest
