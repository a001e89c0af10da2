"""Server side of private inference: evaluate a committed circuit on ciphertexts from strangers.

What Concrete ML / Concrete do with bad input (measured with concrete-ml 1.9.0, see tests/fhe):

* random / truncated / empty ciphertext  -> ``RuntimeError: Failed to deserialize TransportValue``
* ciphertext encrypted for another circuit -> ``RuntimeError: ... incompatible variance`` (at run)
* random / truncated / empty evaluation keys -> ``RuntimeError: Failed to deserialize server keyset``
* well-formed evaluation keys of **another circuit** (e.g. logreg keys given to the xgb circuit)
  -> C++ assertion ``__n < this->size()`` then **SIGSEGV: the whole process dies**.
* evaluation keys of another *client* for the same circuit -> runs normally; output is garbage to
  everyone (undetectable by the server by design — it holds no secret key).
* a ciphertext with flipped payload bytes -> runs normally (garbage output; LWE has no integrity).
* nothing we tried made evaluation hang; a time limit is enforced anyway.
* outputs of circuits with PBS (xgb, nn) are byte-identical within one process but not across processes
  (runtime-chosen FFT plan); see veilproof/fhe/reexecute.py.

Because native code can kill the process, evaluation runs by default in a **separate worker process**
(``multiprocessing`` "spawn"), which is restarted if it dies; a crash becomes
:class:`EvaluationCrashed`, a hang :class:`EvaluationTimeout`. Before any native parsing, the parent
also checks types and sizes: the exact serialized sizes of a valid ciphertext and a valid evaluation-key
set for this circuit are learnt once at start-up from a throwaway *probe* keyset generated in the worker
(that probe is never used for anything else and is freed immediately; the server never needs, receives
or holds any client secret key). Size mismatches are rejected as typed errors without touching Concrete,
which is what turns the known segfault into an :class:`EvaluationKeyError`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from veilproof.artifacts import sha256_hex
from veilproof.fhe.bundle import circuit_is_deterministic
from veilproof.fhe.errors import (
    CiphertextError,
    CircuitMismatch,
    CommitmentMismatch,
    EvaluationCrashed,
    EvaluationError,
    EvaluationKeyError,
    EvaluationTimeout,
    FheError,
    PayloadTooLarge,
)

_ERRORS: dict[str, type[FheError]] = {
    c.__name__: c
    for c in (CiphertextError, CircuitMismatch, EvaluationKeyError, EvaluationError, PayloadTooLarge)
}


@dataclass(frozen=True)
class ServerLimits:
    """Size and time limits. Defaults fit the reference models (inputs ~1 KB, keys up to ~60 MB)."""

    max_ciphertext_bytes: int = 1 << 20
    max_evaluation_key_bytes: int = 512 << 20
    timeout_s: float = 600.0
    startup_timeout_s: float = 300.0
    #: Deserialized evaluation-key sets kept by the worker (re-parsing 60 MB costs ~0.1-0.3 s).
    key_cache_size: int = 2


@dataclass(frozen=True)
class CircuitInfo:
    """Facts about the loaded circuit learnt from the probe, used for cheap pre-validation."""

    input_ciphertext_bytes: int
    evaluation_key_bytes: int


class _Evaluator:
    """Owns the Concrete server object; runs inside the worker (or in-process when isolate=False)."""

    def __init__(self, zip_path: str, key_cache_size: int) -> None:
        import numpy as np
        from concrete import fhe
        from concrete.ml.deployment.fhe_client_server import check_concrete_versions

        check_concrete_versions(Path(zip_path))
        self.server = fhe.Server.load(Path(zip_path))
        # Probe: learn the serialized sizes of a valid input and of valid evaluation keys.
        specs = self.server.client_specs
        probe = fhe.Client(specs)
        probe.keygen()
        shape = specs.program_info.get_circuits()[0].get_inputs()[0].get_raw_info().get_shape()
        zeros = np.zeros(tuple(shape[:-1]), dtype=np.int64)
        ct_size = len(probe.encrypt(zeros).serialize())
        ek_size = len(probe.evaluation_keys.serialize())
        del probe
        self.info = CircuitInfo(input_ciphertext_bytes=ct_size, evaluation_key_bytes=ek_size)
        self._keys: OrderedDict[str, Any] = OrderedDict()
        self._cache_size = max(1, key_cache_size)
        self.phases: dict[str, float] = {}  # of the latest run: what a node reports per job

    def has_keys(self, ek_hash: str) -> bool:
        return ek_hash in self._keys

    def run(self, ct: bytes, ek_hash: str, ek: bytes | None) -> bytes:
        from concrete import fhe

        t0 = time.perf_counter()
        keys = self._keys.get(ek_hash)
        if keys is None:
            if ek is None:
                raise EvaluationError("evaluation keys not cached in worker and not sent")
            try:
                keys = fhe.EvaluationKeys.deserialize(ek)
            except (RuntimeError, ValueError) as e:
                raise EvaluationKeyError(f"evaluation keys malformed: {e}") from None
            self._keys[ek_hash] = keys
            while len(self._keys) > self._cache_size:
                self._keys.popitem(last=False)
        self._keys.move_to_end(ek_hash)
        t1 = time.perf_counter()
        try:
            value = fhe.Value.deserialize(ct)
        except (RuntimeError, ValueError) as e:
            raise CiphertextError(f"ciphertext malformed: {e}") from None
        t2 = time.perf_counter()
        try:
            out = self.server.run(value, evaluation_keys=keys)
        except (RuntimeError, ValueError) as e:
            msg = str(e)
            if "incompatible" in msg or "shape" in msg:
                raise CircuitMismatch(f"ciphertext does not fit this circuit: {msg}") from None
            raise EvaluationError(f"evaluation failed: {msg}") from None
        t3 = time.perf_counter()
        data = out.serialize()
        self.phases = {"keys_deserialize": t1 - t0, "ct_deserialize": t2 - t1, "run": t3 - t2,
                       "serialize": time.perf_counter() - t3}  # fmt: skip
        return data


def _worker_main(conn: Connection, zip_path: str, key_cache_size: int) -> None:
    """Worker loop: ("run", ct, ek_hash, ek|None) -> ("ok", out) | ("err", ErrorName, message)."""
    try:
        ev = _Evaluator(zip_path, key_cache_size)
    except BaseException as e:  # report, then exit
        conn.send(("err", "EvaluationError", f"cannot load circuit: {type(e).__name__}: {e}"))
        return
    conn.send(("ready", ev.info))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "stop":
            return
        _, ct, ek_hash, ek = msg
        try:
            out = ev.run(ct, ek_hash, ek)
            conn.send(("ok", out, ev.phases))
        except FheError as e:
            conn.send(("err", type(e).__name__, str(e)))
        except Exception as e:
            conn.send(("err", "EvaluationError", f"{type(e).__name__}: {e}"))


class _Worker:
    """A spawned worker process plus the parent's mirror of which keys it has cached."""

    def __init__(self, zip_path: Path, limits: ServerLimits) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_worker_main,
            args=(child, str(zip_path), limits.key_cache_size),
            daemon=True,
            name="veilproof-fhe-worker",
        )
        self.proc.start()
        child.close()
        self.cached: OrderedDict[str, None] = OrderedDict()
        self.cache_size = max(1, limits.key_cache_size)
        if not self.conn.poll(limits.startup_timeout_s):
            self.kill()
            raise EvaluationTimeout(f"FHE worker did not start within {limits.startup_timeout_s}s")
        try:
            msg = self.conn.recv()
        except EOFError:
            self.kill()
            raise EvaluationCrashed(f"FHE worker died at start-up (exit code {self.proc.exitcode})") from None
        if msg[0] != "ready":
            self.kill()
            raise _ERRORS.get(msg[1], EvaluationError)(msg[2])
        self.info: CircuitInfo = msg[1]

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=10)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(("stop",))
            self.proc.join(timeout=5)
        except (OSError, BrokenPipeError):
            pass
        self.kill()


class FheServer:
    """Evaluate one committed FHE circuit. Thread-safe (one evaluation at a time per instance).

    ``expected_hash`` is the on-chain ``fhe_server_hash``; the circuit is loaded only if the bytes
    hash to it, and the bytes that were hashed are the bytes that get loaded (private copy, no TOCTOU).
    ``isolate=False`` evaluates in-process: faster start, but a native crash on hostile input that
    passes the size checks would take the caller down — only for trusted inputs / benchmarks.
    """

    def __init__(
        self,
        server_zip_path: str | os.PathLike[str],
        expected_hash: str | None = None,
        *,
        limits: ServerLimits | None = None,
        isolate: bool = True,
    ) -> None:
        src = Path(server_zip_path)
        if src.is_dir():
            src = src / "server.zip"
        data = src.read_bytes()
        self.server_zip_hash = sha256_hex(data)
        if expected_hash is not None and self.server_zip_hash != expected_hash.lower().removeprefix("0x"):
            raise CommitmentMismatch("server.zip", expected_hash, self.server_zip_hash)
        # Before Concrete sees it: a server.zip with a precompiled sharedlib.so would be dlopen'ed.
        from veilproof.artifacts.sandbox import check_zip

        check_zip(src, "server.zip")
        #: False for circuits with programmable bootstrapping: their output bytes differ between
        #: processes, so a re-execution's hash proves nothing (see ``circuit_is_deterministic``).
        self.deterministic = circuit_is_deterministic(data)
        self.limits = limits or ServerLimits()
        self.isolate = isolate
        self._tmp = tempfile.TemporaryDirectory(prefix="veilproof-fhe-server-")
        self._zip = Path(self._tmp.name) / "server.zip"
        self._zip.write_bytes(data)
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self._local: _Evaluator | None = None
        self.crashes = 0
        #: Seconds per step of the latest run (keys/ciphertext deserialization, run, serialization, and
        #: ``ipc``: the hand-over to the worker process and back): what a node reports per job.
        self.phases: dict[str, float] = {}
        if isolate:
            self._worker = _Worker(self._zip, self.limits)
            self.info = self._worker.info
        else:
            self._local = _Evaluator(str(self._zip), self.limits.key_cache_size)
            self.info = self._local.info

    # --- validation ---------------------------------------------------------------------------------
    def _validate(self, ciphertext: object, evaluation_keys: object) -> None:
        # Order: types, then the size limits of both, then the exact sizes (a too-large input is
        # PayloadTooLarge whatever else is wrong with it).
        self._validate_ct(ciphertext, keys=evaluation_keys)

    def _validate_ct(self, ciphertext: object, *, keys: object = None) -> None:
        """Checks of the ciphertext, and of ``keys`` unless None (keys the worker already holds)."""
        if not isinstance(ciphertext, bytes | bytearray | memoryview):
            raise CiphertextError(f"ciphertext must be bytes, got {type(ciphertext).__name__}")
        if keys is not None and not isinstance(keys, bytes | bytearray | memoryview):
            raise EvaluationKeyError(f"evaluation keys must be bytes, got {type(keys).__name__}")
        n_ct = len(ciphertext)
        n_ek = len(keys) if keys is not None else None
        if n_ct > self.limits.max_ciphertext_bytes:
            raise PayloadTooLarge("ciphertext", n_ct, self.limits.max_ciphertext_bytes)
        if n_ek is not None and n_ek > self.limits.max_evaluation_key_bytes:
            raise PayloadTooLarge("evaluation_keys", n_ek, self.limits.max_evaluation_key_bytes)
        if n_ct != self.info.input_ciphertext_bytes:
            raise CiphertextError(
                f"ciphertext is {n_ct} bytes; this circuit takes {self.info.input_ciphertext_bytes}-byte "
                "inputs (truncated, or encrypted for another circuit)"
            )
        if n_ek is not None and n_ek != self.info.evaluation_key_bytes:
            raise EvaluationKeyError(
                f"evaluation keys are {n_ek} bytes; this circuit needs {self.info.evaluation_key_bytes} "
                "(truncated, or generated for another circuit)"
            )

    # --- evaluation ---------------------------------------------------------------------------------
    def run(self, ciphertext: bytes, evaluation_keys: bytes) -> bytes:
        """Evaluate the circuit on one encrypted input; returns the serialized encrypted output.

        Raises a subclass of :class:`~veilproof.fhe.errors.FheError` for any bad input; the server
        object stays usable afterwards.
        """
        self._validate(ciphertext, evaluation_keys)
        ct, ek = bytes(ciphertext), bytes(evaluation_keys)
        ek_hash = sha256_hex(ek)
        with self._lock:
            if self._local is not None:
                out = self._local.run(ct, ek_hash, ek)
                self.phases = dict(self._local.phases)
                return out
            return self._run_isolated(ct, ek_hash, ek)

    def run_keyed(self, ciphertext: bytes, keys_sha256: str, load_keys: Callable[[], bytes]) -> bytes:
        """:meth:`run` with the evaluation keys named by their sha256, read by ``load_keys()`` only if
        the worker does not hold them already (then checked against the name and the circuit).

        Why: a node's keys are tens of MB (66 MB for the NN); reading them from its store, re-hashing
        them (twice) and checking their size on every job cost ~0.3 s per job although the worker had
        them deserialized since the client's first job."""
        ek_hash = keys_sha256.lower()
        with self._lock:
            w = self._worker
            if w is not None and ek_hash in w.cached:
                self._validate_ct(ciphertext)  # the keys were checked when the worker took them
                return self._run_isolated(bytes(ciphertext), ek_hash, None)
        ek = load_keys()
        if sha256_hex(ek) != ek_hash:
            raise EvaluationKeyError(f"evaluation keys do not hash to {ek_hash}")
        return self.run(ciphertext, ek)

    def _run_isolated(self, ct: bytes, ek_hash: str, ek: bytes | None) -> bytes:
        if self._worker is None:
            self._worker = _Worker(self._zip, self.limits)
        w = self._worker
        send_keys = ek_hash not in w.cached
        if send_keys and ek is None:
            raise EvaluationError("evaluation keys not held by the worker (it restarted): send them")
        t = time.perf_counter()
        try:
            w.conn.send(("run", ct, ek_hash, ek if send_keys else None))
            if not w.conn.poll(self.limits.timeout_s):
                self._drop_worker()
                raise EvaluationTimeout(f"FHE evaluation exceeded {self.limits.timeout_s}s; worker killed")
            msg = w.conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            w.proc.join(timeout=10)
            code = w.proc.exitcode
            self._drop_worker()
            self.crashes += 1
            raise EvaluationCrashed(
                f"FHE worker died during evaluation (exit code {code}); input rejected, worker restarted"
            ) from None
        if msg[0] == "ok":
            w.cached[ek_hash] = None
            w.cached.move_to_end(ek_hash)
            while len(w.cached) > w.cache_size:
                w.cached.popitem(last=False)
            self.phases = dict(msg[2])
            self.phases["ipc"] = max(time.perf_counter() - t - sum(self.phases.values()), 0.0)
            return msg[1]
        raise _ERRORS.get(msg[1], EvaluationError)(msg[2])

    def _drop_worker(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    @property
    def worker_pid(self) -> int | None:
        return self._worker.proc.pid if self._worker is not None else None

    def close(self) -> None:
        with self._lock:
            if self._worker is not None:
                self._worker.stop()
                self._worker = None
            self._local = None
        self._tmp.cleanup()

    def __enter__(self) -> FheServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
