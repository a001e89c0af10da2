"""Bundles: hashes are the store's names for the zips, accuracy figures hold, metadata round-trips."""

from __future__ import annotations

import hashlib

import pytest

from veilproof.artifacts import sha256_file
from veilproof.fhe import FheBundle, job_hashes


def test_logreg_bundle_is_content_addressed(fhe_world) -> None:
    b = fhe_world.bundle("logreg")
    assert b.kind == "logreg" and b.n_features == 30 and b.n_classes == 2
    assert sha256_file(b.client_zip_path) == b.client_zip_hash
    assert sha256_file(b.server_zip_path) == b.server_zip_hash
    assert fhe_world.store.has(b.client_zip_hash) and fhe_world.store.has(b.server_zip_hash)
    assert b.deterministic


def test_bundle_json_roundtrip(fhe_world, tmp_path) -> None:
    b = fhe_world.bundle("logreg")
    assert FheBundle.load(b.save(tmp_path / "bundle.json")) == b


def test_standardise_matches_dataset(fhe_world) -> None:
    from sklearn.datasets import load_breast_cancer

    b = fhe_world.bundle("logreg")
    x_raw = load_breast_cancer().data[:3]
    z = b.standardise(x_raw)
    assert z.shape == (3, 30) and abs(float(z.mean())) < 3


@pytest.mark.parametrize(
    "kind",
    ["logreg", pytest.param("xgb", marks=pytest.mark.slow), pytest.param("nn", marks=pytest.mark.slow)],
)
def test_quantized_accuracy_within_one_point_of_float(fhe_world, kind: str) -> None:
    acc = fhe_world.bundle(kind).accuracy
    assert acc.n_test == 143
    assert acc.quantized_accuracy >= acc.float_accuracy - 0.01, acc
    assert acc.float_accuracy > 0.9, acc


def test_job_hashes() -> None:
    h = job_hashes(b"ek", b"in", b"out", "0x" + "AB" * 32)
    assert set(h) == {"eval_keys_hash", "input_hash", "output_hash", "server_zip_hash"}
    assert h["input_hash"] == hashlib.sha256(b"in").hexdigest()
    assert h["eval_keys_hash"] == hashlib.sha256(b"ek").hexdigest()
    assert h["output_hash"] == hashlib.sha256(b"out").hexdigest()
    assert h["server_zip_hash"] == "ab" * 32
