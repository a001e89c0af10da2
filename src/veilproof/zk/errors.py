"""Typed failures of the ZK engine.

EZKL reports every problem as a bare ``RuntimeError`` with a message string (and ``verify`` raises
instead of returning False). We translate them here so callers can react to the cause — refuse a
model, shrink it, ask for other calibration data, or slash a node — without parsing strings.
"""

from __future__ import annotations

from veilproof.errors import IntegrityError, VeilproofError


class ZkError(VeilproofError):
    """Base class of every ZK-engine error."""


class UnsupportedOpError(ZkError):
    """The ONNX graph uses an operator EZKL cannot turn into a circuit."""

    def __init__(self, op: str, detail: str = "") -> None:
        self.op = op
        self.detail = detail
        super().__init__(f"ONNX operator {op!r} is not supported by EZKL" + (f": {detail}" if detail else ""))


class ModelTooLargeError(ZkError):
    """The circuit would need more rows or memory than this machine has."""

    def __init__(self, logrows: int, need_bytes: int, have_bytes: int, peak_bytes: int | None = None) -> None:
        self.logrows = logrows
        self.need_bytes = need_bytes
        self.have_bytes = have_bytes
        self.peak_bytes = peak_bytes
        # Two decimals and "more than": at one decimal a refusal read "needs 20.2 GiB, 20.2 GiB available".
        why = (
            f"more than the {have_bytes / 2**30:.2f} GiB available"
            if need_bytes > have_bytes
            else "beyond the largest circuit the SRS supports"
        )
        # Say where the number comes from: the fitted peak and the safety margin on top of it.
        est = (
            f"est. {need_bytes / 2**30:.2f} GiB to prove (measured-peak fit {peak_bytes / 2**30:.2f} GiB"
            f" + {round((need_bytes / peak_bytes - 1) * 100)}% safety margin)"
            if peak_bytes
            else f"est. {need_bytes / 2**30:.2f} GiB to prove"
        )
        super().__init__(
            f"circuit needs 2^{logrows} rows, {est}, {why}: shrink the model, lower the scale "
            "(`veilproof model build --scale`) or cut it into slices (`veilproof model build --slices auto`)"
        )


class CalibrationShapeError(ZkError):
    """Calibration (or inference) data does not match the model's input shape."""

    def __init__(self, expected: tuple[int, ...], got: tuple[int, ...]) -> None:
        self.expected = expected
        self.got = got
        super().__init__(f"input data shape {got} does not match model input {expected} (batch axis free)")


class ProofInvalidError(ZkError):
    """A proof did not verify against the committed verifying key (or its instances were edited)."""


class CommitmentMismatchError(ProofInvalidError):
    """A proof verifies, but for another input than the one the client committed to."""

    def __init__(self, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"proof input commitment {actual:#x} != expected {expected:#x}")


class ArtifactHashMismatchError(ZkError, IntegrityError):
    """A ZK artifact (vk, settings, circuit, SRS...) does not hash to its recorded digest."""


class EzklError(ZkError):
    """EZKL failed for a reason we do not classify further; the message is EZKL's."""
