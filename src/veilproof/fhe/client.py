"""Client side of private inference: keys, encryption, decryption.

Why it is shaped like this:

* Secret keys are generated **once per (client, model)** and live only under ``key_dir``, in a 0700
  directory named by the client.zip hash, in a 0600 file created with those permissions from the first
  byte (never chmod-ed after the fact). Concrete's own ``KeysetCache`` writes secret keys world-readable
  (0644), so it is deliberately not used.
* Nothing this class returns for the network contains secret material: :meth:`evaluation_keys` is the
  server keyset only (tests check no secret-key bytes occur in it), ciphertexts are LWE ciphertexts.
* Key generation uses explicit 128-bit seeds from :mod:`secrets`; encryption randomness is fresh per
  process and per call (checked: identical plaintexts encrypt to different bytes, also after reload).
* client.zip is loaded only after its sha256 matched ``expected_client_hash`` when one is given (the
  on-chain ``fhe_client_hash``), because it carries the quantizers that decide what gets encrypted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from veilproof.artifacts import sha256_file, sha256_hex
from veilproof.errors import InputError
from veilproof.fhe.errors import CiphertextError, CommitmentMismatch, KeyStoreError

_KEYSET_FILE = "keyset.bin"


def _resolve_zip(bundle_dir_or_zip: str | os.PathLike[str], name: str) -> Path:
    p = Path(bundle_dir_or_zip)
    if p.is_dir():
        p = p / name
    if not p.is_file():
        raise InputError(name, "an existing file (or a directory containing it)", str(p))
    return p


def _check_commitment(name: str, actual: str, expected: str | None) -> None:
    if expected is not None and actual != expected.lower().removeprefix("0x"):
        raise CommitmentMismatch(name, expected, actual)


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def _write_private_exclusive(target: Path, data: bytes) -> bool:
    """Write ``data`` to ``target`` with mode 0600; return False if another writer got there first.

    The temp file is created 0600 with O_EXCL, then hard-linked into place (link never overwrites), so
    two processes generating keys for the same model at once end up sharing one keyset.
    """
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, target)
            return True
        except FileExistsError:
            return False
    finally:
        tmp.unlink(missing_ok=True)


class FheClient:
    """Keygen / encrypt / decrypt for one model, for one client identity (``key_dir``).

    ``encrypt`` takes **one** standardised sample (shape ``(n_features,)`` or ``(1, n_features)``);
    the compiled circuits evaluate one row per ciphertext.
    """

    def __init__(
        self,
        bundle_dir_or_client_zip: str | os.PathLike[str],
        key_dir: str | os.PathLike[str],
        *,
        expected_client_hash: str | None = None,
    ) -> None:
        from concrete.ml.deployment import FHEModelClient

        src = _resolve_zip(bundle_dir_or_client_zip, "client.zip")
        self.client_zip_hash = sha256_file(src)
        _check_commitment("client.zip", self.client_zip_hash, expected_client_hash)
        from veilproof.artifacts.sandbox import check_zip

        check_zip(src, "client.zip")  # data only: no native library or code rides along

        self.key_dir = Path(key_dir)
        _private_dir(self.key_dir)
        self.model_dir = self.key_dir / self.client_zip_hash
        _private_dir(self.model_dir)
        local_zip = self.model_dir / "client.zip"
        if not local_zip.is_file() or sha256_file(local_zip) != self.client_zip_hash:
            shutil.copyfile(src, local_zip)
        # Re-check the copy: the source could have changed between hashing and copying.
        _check_commitment("client.zip", sha256_file(local_zip), self.client_zip_hash)

        self._fmc = FHEModelClient(str(self.model_dir), key_dir=None)
        self._load_or_generate_keys()
        self._eval_keys: bytes | None = None
        shape = (
            self._fmc.client.specs.program_info.get_circuits()[0].get_inputs()[0].get_raw_info().get_shape()
        )
        # Raw shape is (*logical shape, lwe words); the logical shape of built-in models is (1, n_features).
        self.n_features = int(np.prod(shape[:-1])) if len(shape) > 1 else int(shape[0])

    # --- keys ---------------------------------------------------------------------------------------
    @property
    def keyset_path(self) -> Path:
        return self.model_dir / _KEYSET_FILE

    def _load_or_generate_keys(self) -> None:
        from concrete import fhe

        path = self.keyset_path
        if not path.exists():
            keys = fhe.Keys(self._fmc.client.specs)
            keys.generate(secret_seed=secrets.randbits(128), encryption_seed=secrets.randbits(128))
            if _write_private_exclusive(path, keys.serialize()):
                self._fmc.client.keys = keys
                self.generated_keys = True
                return
        self.generated_keys = False
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyStoreError(
                f"{path}: secret keyset has mode {oct(mode)}; expected 0600 (fix with chmod 600)"
            )
        try:
            self._fmc.client.keys = fhe.Keys.deserialize(path)
        except RuntimeError as e:
            raise KeyStoreError(f"{path}: keyset unreadable ({e})") from e

    def evaluation_keys(self) -> bytes:
        """Serialized *public* evaluation keys (server keyset), to upload to nodes. Cached."""
        if self._eval_keys is None:
            self._eval_keys = self._fmc.client.evaluation_keys.serialize()
        return self._eval_keys

    def evaluation_keys_hash(self) -> str:
        return sha256_hex(self.evaluation_keys())

    # --- data ---------------------------------------------------------------------------------------
    def encrypt(self, x: np.ndarray) -> bytes:
        """Quantize + encrypt + serialize one standardised sample."""
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.shape != (1, self.n_features):
            raise InputError(
                "x", f"one sample of shape ({self.n_features},) or (1, {self.n_features})", arr.shape
            )
        if not np.all(np.isfinite(arr)):
            raise InputError("x", "finite values", "NaN/inf")
        ct = self._fmc.quantize_encrypt_serialize(arr)
        assert isinstance(ct, bytes)
        return ct

    def decrypt(self, ct: bytes) -> np.ndarray:
        """Decrypt a server output -> class probabilities, shape ``(n_classes,)``."""
        out = self._decrypt_with(self._fmc.deserialize_decrypt_dequantize, ct)
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def decrypt_raw(self, ct: bytes) -> np.ndarray:
        """Decrypt a server output to the circuit's integers, before dequantization.

        Privacy checks compare these: dequantized probabilities are a many-to-one function of them (a
        sum over trees, then a sigmoid), so two unrelated integer vectors can map to equal probabilities.
        """
        return np.asarray(self._decrypt_with(self._fmc.deserialize_decrypt, ct), dtype=np.int64).reshape(-1)

    @staticmethod
    def _decrypt_with(decrypt: Callable[[bytes], Any], ct: bytes) -> Any:
        if not isinstance(ct, bytes | bytearray) or not ct:
            raise CiphertextError("output ciphertext must be non-empty bytes")
        try:
            return decrypt(bytes(ct))
        except (RuntimeError, ValueError) as e:
            raise CiphertextError(f"cannot decrypt output ciphertext: {e}") from e

    @property
    def output_bit_width(self) -> int:
        """Width in bits of the circuit's encrypted output integers (the message space of the output)."""
        import json

        info = json.loads(self._fmc.client.specs.program_info.serialize())
        return int(
            info["circuits"][0]["outputs"][0]["typeInfo"]["lweCiphertext"]["encoding"]["integer"]["width"]
        )

    def decrypt_label(self, ct: bytes) -> int:
        """Decrypt and return the predicted class index."""
        return int(np.argmax(self.decrypt(ct)))

    def forget_keys(self) -> None:
        """Delete this client's secret keyset for this model (a new identity is made on next init)."""
        with contextlib.suppress(FileNotFoundError):
            self.keyset_path.unlink()
