"""Model packages: ONNX + ZK circuit + keys + commitments, built with the engines, stored by sha256."""

from veilproof.models.package import ModelPackage, ZkResult, build_zk_package, circuit_outputs, prove, verify

__all__ = ["ModelPackage", "ZkResult", "build_zk_package", "circuit_outputs", "prove", "verify"]
