# pragma version ~=0.4.3
"""
@title JobMarket's job record, shared
@notice The one definition of `Job` (what `JobMarket.job` returns) and of its mode and status
        codes. JobMarket stores it; FheQuorum and Reputation decode `JobMarket.job` into it.
@dev Each of them kept its own copy of the struct before, and they drifted (13 fields against
     JobMarket's 14): ABI decoding of a struct with another layout reads garbage or reverts.
     Importing this module is the only way to name the struct, so a field added here reaches
     every reader at the next compile. Append new fields at the end.
"""

MODE_ZK: constant(uint8) = 1
MODE_FHE: constant(uint8) = 2

OPEN: constant(uint8) = 1
SUBMITTED: constant(uint8) = 2
SETTLED: constant(uint8) = 3
REFUNDED: constant(uint8) = 4
SLASHED: constant(uint8) = 5


struct Job:
    client: address
    node: address
    model_id: uint256
    input_commitment: bytes32  # ZK: Poseidon hash of the input; FHE: sha256 of the input ciphertext
    mode: uint8
    price: uint256
    deadline: uint256
    status: uint8
    output_hash: bytes32  # ZK: keccak256(abi_encode(outputs))
    proof_hash: bytes32  # ZK: keccak256(proof)
    eval_keys_hash: bytes32  # FHE: sha256 of the client's evaluation keys, committed at open
    output_ct_hash: bytes32  # FHE: sha256 of the output ciphertext the node posted
    submitted_at: uint256
    started_at: uint256  # when the node took the job on chain; 0 = never taken
    verifier: address  # ZK: the verifier the job was opened under; its proofs are checked there
