"""The node's HTTP interface as data: routes, header names, job states, request and response bodies.

Why one module: the node (:mod:`veilproof.node.app`) and everyone who calls it (the client SDK's
:class:`veilproof.client.node_api.NodeApi`, validators through the SDK, the demo's readiness check)
used to spell routes, headers and states as string literals on both sides of the seam; a typo on one
side was a silent 404 or a poll that never ends. Both sides import these names instead, and
``docs/openapi.json`` is generated from the node app that uses them.

Error statuses are not listed here: they belong to the node's error table
(:data:`veilproof.node.app.ERROR_STATUS`) and to the client's status → exception map
(:data:`veilproof.client.errors.REFUSALS`); every error answer has the :class:`ErrorBody` shape.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

# --- routes (templates for ``str.format``; FastAPI reads the same strings) ------------------------
HEALTH = "/health"
INFO = "/info"
ARTIFACT = "/artifacts/{digest}"
ZK_JOB = "/zk/jobs/{job_id}"
FHE_KEYS = "/fhe/keys"
FHE_KEYS_DIGEST = "/fhe/keys/{digest}"
FHE_JOB = "/fhe/jobs/{job_id}"
JOB = "/jobs/{job_id}"
FHE_OUTPUT = "/fhe/jobs/{job_id}/output"
# Pay-on-proof (ReceiptMarket, docs/settlement.md): a signed order instead of a job id on chain.
ZK_ORDERS = "/zk/orders"
ZK_ORDER = "/zk/orders/{order_hash}"
ZK_ORDER_RECEIPT = "/zk/orders/{order_hash}/receipt"
# Pipelines (PipelineMarket, docs/pipelines.md "Stage dispatch"): run one stage of a pipeline job.
PIPELINE_STAGE = "/pipelines/jobs/{job_id}/stages/{stage}"

# --- headers and media types ---------------------------------------------------------------------
SIGNATURE_HEADER = "X-Veil-Signature"  # the job's client signs the request (protocol.signing)
EVAL_KEYS_HEADER = "X-Veil-Eval-Keys"  # FHE: sha256 of the evaluation keys uploaded with PUT /fhe/keys
#: ``GET /jobs/{id}?wait=S`` and ``GET /zk/orders/{hash}?wait=S``: the longest long-poll a node holds.
MAX_WAIT_S = 30.0
JOB_HEADER = "X-Veil-Job"  # PUT /fhe/keys: the client's open FHE job on this node the keys are for
CONTENT_TYPE = "Content-Type"
JSON = "application/json"
OCTET_STREAM = "application/octet-stream"

HexSig = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="0x-hex 65-byte signature")]
Hex32 = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$", description="0x-hex 32 bytes")]
Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="0x-hex 20-byte address")]
Uint256 = Annotated[int, Field(ge=0, lt=2**256)]
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="sha256, 64 lowercase hex characters")]


class JobState(StrEnum):
    """Where a job is *on the node* (the chain keeps its own status, :mod:`veilproof.chain.views`).

    ``accepted`` → ``running`` → ``submitted`` (result posted on chain) or ``failed``; a job the node
    still owed when it restarted too late for the deadline is ``abandoned`` (the client refunds).
    """

    ACCEPTED = "accepted"
    RUNNING = "running"
    SUBMITTED = "submitted"
    FAILED = "failed"
    ABANDONED = "abandoned"

    @property
    def finished(self) -> bool:
        """No further change will come from the node: a client stops polling."""
        return self in (JobState.SUBMITTED, JobState.FAILED, JobState.ABANDONED)


class _Body(BaseModel):
    # Unknown fields are ignored (not refused): a newer peer may add fields without breaking older ones.
    model_config = ConfigDict(extra="ignore")


class RefusalCode(StrEnum):
    """What a refusal is, for a program; ``ErrorBody.error`` says it for a person. Stable on the wire:
    a client acts on the code (top up its deposit, sign again at the node's price, retry later, try
    another node) instead of matching words in a sentence that may be reworded."""

    BAD_INPUT = "bad_input"  # the request's content is wrong (input, ciphertext, keys, digest, mode)
    MALFORMED_BODY = "malformed_body"  # the body, a path parameter or a header cannot be parsed
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    TOO_LARGE = "too_large"
    QUOTA_EXCEEDED = "quota_exceeded"  # the client's evaluation-key bytes on this node
    BAD_SIGNATURE = "bad_signature"
    PRICE_BELOW_OFFER = "price_below_offer"  # sign the order again at the node's price (NodeRegistry)
    DEPOSIT_TOO_LOW = "deposit_too_low"  # deposit more with this node, then send the same order again
    NOT_ASSIGNED = "not_assigned"
    UNKNOWN_JOB = "unknown_job"
    NOT_SERVED = "not_served"
    TAINTED_LINEAGE = "tainted_lineage"
    UNKNOWN_ARTIFACT = "unknown_artifact"
    JOB_NOT_OPEN = "job_not_open"
    REPLAY = "replay"
    DEADLINE_PASSED = "deadline_passed"
    KEYS_MISSING = "keys_missing"  # upload the evaluation keys first
    BUSY = "busy"  # retry later or try another node
    CHAIN_UNAVAILABLE = "chain_unavailable"  # retry later: nothing was taken on chain
    REQUEST_TIMEOUT = "request_timeout"
    INTERNAL_ERROR = "internal_error"
    NO_ROUTE = "no_route"
    METHOD_NOT_ALLOWED = "method_not_allowed"


class ErrorBody(_Body):
    """Every refusal (4xx/5xx) has this body; ``error`` says what was wrong and what was expected,
    ``code`` what kind of refusal it is (:class:`RefusalCode`)."""

    error: str
    code: RefusalCode = Field(description="what kind of refusal, for a program to act on")


class Health(_Body):
    status: str = "ok"


class ServedModelInfo(_Body):
    model_id: int
    name: str
    price: int
    zk_package: str | None = Field(description="manifest digest of the ZK package, if served")
    fhe_server: str | None = Field(description="sha256 of the FHE server.zip, if served")
    fhe_client: str | None = Field(description="sha256 of the FHE client.zip, if served")
    # the compute market (#14): what this node charges and how fast it has been, so a client can pick
    offer: int | None = Field(
        default=None,
        description="the node's own compute price for the model (NodeRegistry.offer), on top of the "
        "owner's royalty; null: no offer, a job costs the model's list price",
    )
    job_price: int | None = Field(
        default=None, description="what a job on this node costs now (list price, or royalty + offer)"
    )
    median_job_s: float | None = Field(
        default=None,
        description="median wall time of this node's recent finished jobs on the model (admission to "
        "submit, seconds); null until one finished",
    )
    recent_jobs: int = Field(default=0, description="how many finished jobs median_job_s is over")


class NodeInfo(_Body):
    address: str
    pubkey: str = Field(description="0x-hex compressed secp256k1 key to encrypt ZK inputs to")
    chain_id: int
    market: str = Field(description="JobMarket address the node settles with")
    models: list[ServedModelInfo]
    workers: int
    inflight: int
    uptime_s: float
    queue_limit: int = Field(default=0, description="jobs the node queues beyond its busy workers")
    free_slots: int = Field(
        default=0, description="jobs it would admit now (workers + queue_limit - inflight)"
    )


class ZkJobRequest(_Body):
    """Body of ``POST /zk/jobs/{job_id}`` (JSON); the signature over its exact bytes is a header."""

    # The pattern is in the spec, so generated clients (and Schemathesis) send hex, and the node refuses
    # anything else as a malformed body (422) before it tries to decode it.
    encrypted_input: str = Field(
        pattern=r"^0x([0-9a-fA-F]{2})*$",
        description="0x-hex ECIES envelope of the JSON input, to the node's pubkey",
    )

    def encode(self) -> bytes:
        """The bytes to sign and send: the node checks the signature over exactly these."""
        return self.model_dump_json().encode()


class FheJobRequest(_Body):
    """``POST /fhe/jobs/{job_id}``: the body is the raw input ciphertext (``application/octet-stream``);
    the evaluation-keys digest and the client's signature travel as headers (see
    :func:`veilproof.protocol.fhe_payload.fhe_signed_payload` for what is signed)."""

    ciphertext: bytes
    eval_keys_sha256: Hex64
    signature: str


class EvalKeysUpload(_Body):
    """``PUT /fhe/keys``: the body is the raw serialized evaluation keys (``application/octet-stream``).

    Only for a job: ``X-Veil-Job`` names an open FHE job of the signer on this node, ``X-Veil-Eval-Keys``
    the keys' sha256, and ``X-Veil-Signature`` is the job's client's signature over
    :func:`veilproof.protocol.fhe_payload.fhe_keys_signed_payload` (checked before the body is read).
    The node keeps keys within a per-client quota, and only until the job is over; jobs name them by
    sha256 in ``X-Veil-Eval-Keys``."""

    keys: bytes
    job_id: int
    eval_keys_sha256: Hex64
    signature: str


class Accepted(_Body):
    """``202``: the job was checked against the chain, taken on chain (``start_job``) and queued."""

    job_id: int
    state: JobState


class KeysStored(_Body):
    digest: Hex64
    size: int


class ZkClaim(_Body):
    """The node's signed result: if the chain rejects the proof, the client takes this to ``challenge_zk``."""

    outputs: list[float]
    instances: list[str] = Field(description="0x-hex public instances (input hash, then outputs)")
    proof: str = Field(description="0x-hex proof bytes")
    node_signature: str


class FheOutput(_Body):
    output_sha256: Hex64
    size: int


class JobTimings(_Body):
    """Where the job's wall time went inside the node (see :mod:`veilproof.node.timings`)."""

    total_s: float = Field(description="from the request's admission to the job's last state change")
    phases: dict[str, float] = Field(
        description="seconds per phase, in the order they happened; disjoint, and with 'other' they add up "
        "to total_s (e.g. admission, chain_reads, decrypt, start_job, queue, witness, prove, verify, "
        "check, submit)"
    )
    prover: dict[str, Any] = Field(
        default_factory=dict,
        description="the prover process that ran the job: pid, package_loads (loads of a model package "
        "since the process started: a model's second job adds none), loaded_for_job",
    )
    complete: bool = Field(description="false while the job is still running")


class JobReport(_Body):
    """``GET /jobs/{job_id}``. ``zk`` / ``fhe`` are present only once the node has a result; ``timings``
    once the node has started the job (and only on the node that ran it: not persisted across chains)."""

    job_id: int
    state: JobState
    tx_hash: str | None
    error: str | None
    zk: ZkClaim | None = None
    fhe: FheOutput | None = None
    timings: JobTimings | None = None


# --- pipelines (PipelineMarket) ---------------------------------------------------------------------
class StageRequest(_Body):
    """Body of ``POST /pipelines/jobs/{job_id}/stages/{stage}`` (JSON); the pipeline job's client signs
    its exact bytes (``X-Veil-Signature``, :class:`veilproof.protocol.signing.RequestSig` over the
    PipelineMarket's address). ``stage`` repeats the path's so the signature binds it too."""

    stage: int = Field(ge=0, lt=8, description="the stage index (must equal the path's)")
    encrypted_input: str = Field(
        pattern=r"^0x([0-9a-fA-F]{2})*$",
        description="0x-hex ECIES envelope, to the node's pubkey, of the JSON stage input: for stage 0 "
        "the model input followed by the client's salt (as the stage-0 circuit takes it), for a later "
        "stage the previous stage's output values",
    )

    def encode(self) -> bytes:
        """The bytes to sign and send: the node checks the signature over exactly these."""
        return self.model_dump_json().encode()


class StageAccepted(_Body):
    """``202``: the node checked the job on chain, claimed the stage (``claim_stage``) and computed the
    stage's output; it proves and submits in the background. ``output`` is the next stage's input."""

    job_id: int
    stage: int
    output: list[float] = Field(description="the stage's output values (a witness pass, not yet proven)")
    input_commitment: Hex32 = Field(
        description="poseidon of the input this node will prove on: the previous stage's committed "
        "output (the job's input commitment for stage 0) if the hand-off was faithful"
    )
    claim_until: int = Field(description="chain time until which the stage is this node's to submit")


# --- pay-on-proof (ReceiptMarket) -------------------------------------------------------------------
class WireOrder(_Body):
    """A ReceiptMarket ``Order`` (ZK mode) as JSON; :meth:`fields` are the keyword arguments of
    :class:`veilproof.chain.receipt_market.Order` (both sides build it from them: one spelling)."""

    client: Address
    node: Address
    model_id: Uint256
    input_commitment: Hex32 = Field(description="EZKL hashed input (instances[0]), big-endian")
    max_price: Uint256
    deadline: Uint256 = Field(description="chain time the result is due by")
    nonce: Uint256 = Field(description="unique per (client, node)")
    royalty: Uint256 = Field(default=0, description="the model owner's amount (list price x royalty_bps)")

    def fields(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "node": self.node,
            "model_id": self.model_id,
            "input_commitment": bytes.fromhex(self.input_commitment[2:]),
            "max_price": self.max_price,
            "deadline": self.deadline,
            "nonce": self.nonce,
            "royalty": self.royalty,
        }


class ZkOrderRequest(_Body):
    """``POST /zk/orders``: the order, the client's EIP-712 signature of it, the encrypted input."""

    order: WireOrder
    client_signature: HexSig
    encrypted_input: str = Field(
        pattern=r"^0x([0-9a-fA-F]{2})*$",
        description="0x-hex ECIES envelope of the JSON input, to the node's pubkey",
    )


class OrderAccepted(_Body):
    """``202``: the node checked the order against the chain and signed its ``Acceptance`` (from now
    on a missed delivery is slashable through ``demand``)."""

    order_hash: Hex32
    acceptance_signature: HexSig
    state: JobState


class SignedDelivery(_Body):
    """The node's result and its signed ``Delivery`` (evidence for ``challenge`` if the proof fails).
    ``proof_json`` is EZKL's proof file, for the client's local verification: its instances and proof
    must equal ``instances`` and ``proof``, which the signature covers."""

    outputs: list[float]
    instances: list[str] = Field(description="0x-hex public instances (input hash, then outputs)")
    proof: str = Field(description="0x-hex proof bytes")
    proof_json: str = Field(description="EZKL proof.json")
    node_signature: HexSig


class OrderReport(_Body):
    """``GET /zk/orders/{order_hash}``. ``delivery`` once proven; ``settled_tx`` once paid on chain
    (by a batch of receipts, or by the node's proof claim)."""

    order_hash: Hex32
    state: JobState
    error: str | None = None
    delivery: SignedDelivery | None = None
    receipt: bool = Field(default=False, description="the client's receipt is held by the node")
    settled_tx: str | None = None
    timings: JobTimings | None = Field(
        default=None,
        description="where the order's wall time went inside the node, from the order's arrival to its "
        "signed delivery (kept in memory for the node's recent jobs, not across restarts)",
    )


class ReceiptPost(_Body):
    """``POST /zk/orders/{order_hash}/receipt``: the client's EIP-712 ``Receipt`` after it verified."""

    output_hash: Hex32 = Field(description="keccak256(abi.encode(uint256[] outputs)) over instances[1:]")
    price: Uint256
    client_signature: HexSig


class ReceiptStored(_Body):
    order_hash: Hex32
    pending: int = Field(description="receipts this node holds that are not settled yet")


def json_body(model: type[BaseModel], description: str) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a JSON body the route reads itself (to size-check and sign raw bytes)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {JSON: {"schema": _inline_defs(model.model_json_schema())}},
        }
    }


def _inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """A body schema with its nested models (``$defs``) inlined: the ``#/$defs/...`` references
    pydantic writes would not resolve inside the OpenAPI document (no cycles in these models)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out: dict[str, Any] = walk(schema)
    return out


def binary_body(description: str) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a raw octet-stream body (FastAPI cannot infer one from ``Request``)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}},
        }
    }


def binary_response(description: str) -> dict[str, Any]:
    """OpenAPI ``200`` for a raw octet-stream response."""
    return {
        "description": description,
        "content": {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}},
    }
