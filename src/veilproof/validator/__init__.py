"""Validators: audit queries that look like user traffic, scoring, commit–reveal weights, FHE re-execution.

v = Validator(suite, account, workdir, [ModelAudit(model_id, inputs), ModelAudit(fhe_id, xs, private=True)])
v.ensure_registered(); v.run()                      # the service loop (``veilproof validator start``)
# one whole epoch on a dev chain is demo orchestration: veilproof.demo.epoch.run_epoch
"""

from veilproof.validator.audits import Auditor, ModelAudit
from veilproof.validator.disclosure import DisclosureBox, Reexecution, Reexecutor
from veilproof.validator.references import ReferenceBook, matches
from veilproof.validator.scoring import AuditRecord, NodeStats, ScoringPolicy, WeightedPolicy
from veilproof.validator.service import EpochAudit, Validator, ValidatorConfig

__all__ = [
    "AuditRecord",
    "Auditor",
    "DisclosureBox",
    "EpochAudit",
    "ModelAudit",
    "NodeStats",
    "Reexecution",
    "Reexecutor",
    "ReferenceBook",
    "ScoringPolicy",
    "Validator",
    "ValidatorConfig",
    "WeightedPolicy",
    "matches",
]
