"""Whether a model's data lineage is still good: the policy a node (or a buyer of inference) applies
before serving a model trained by compute-to-data (issue #15).

Why a check and not a flag on the model: consent is revoked on the data, not on the model. A model
names the sale, version and consent root it was trained under (``ModelRegistry.set_data_lineage``);
once someone proves that version holds a revoked record (``DataRegistry.flag_revoked``), the version
is tainted and every model trained on it should be retrained on a clean version. This reads both
registries and says which case holds; refusing is the caller's policy.
"""

from __future__ import annotations

from enum import StrEnum

from eth_utils import to_checksum_address

from veilproof.chain.data_registry import DataRegistry
from veilproof.chain.model_registry import ModelRegistry


class LineageStatus(StrEnum):
    NONE = "none"  # the model names no data lineage (trained elsewhere; nothing to check)
    CURRENT = "current"  # trained on a version with no proven revoked record
    TAINTED = "tainted"  # its version holds a revoked record: retrain before serving
    FOREIGN = "foreign"  # it names another DataRegistry than the network's: cannot be vouched for
    MISMATCH = "mismatch"  # its stored roots differ from the version's (should be impossible)


def lineage_status(models: ModelRegistry, data: DataRegistry, model_id: int) -> LineageStatus:
    lin = models.data_lineage(model_id)
    if not lin.named:
        return LineageStatus.NONE
    if to_checksum_address(lin.registry) != to_checksum_address(data.address):
        return LineageStatus.FOREIGN
    v = data.read_version(lin.version_id)
    if (v.record_root, v.consent_root) != (lin.record_root, lin.consent_root):
        return LineageStatus.MISMATCH
    return LineageStatus.TAINTED if v.tainted else LineageStatus.CURRENT
