"""The node's data-lineage serving policy (issue #15): refuse a model trained on data whose consent
was revoked and which was not retrained.

Why at the node and not only in the registry: consent is revoked on the data, long after the model was
published; nothing on chain stops a paid inference of that model. The network's answer is that its
nodes (by default) stop serving it, so a data subject's revocation reaches the models trained on their
data within ``recheck_s`` seconds. A model is checked when the node starts (it refuses to start with a
tainted model) and when a job for it is admitted; each model's reading is cached for ``recheck_s``
(one or two chain reads per model per interval, not per job).
"""

from __future__ import annotations

import threading
import time

from veilproof.chain.suite import Suite
from veilproof.data.lineage import LineageStatus, lineage_status
from veilproof.errors import ConfigError
from veilproof.node.errors import TaintedLineage

#: Statuses a node serves under the policy: no lineage named, or a version with no proven revoked record.
SERVABLE = frozenset({LineageStatus.NONE, LineageStatus.CURRENT})


class LineagePolicy:
    """Cached ``lineage_status`` per model; ``require`` raises :class:`TaintedLineage` when refused."""

    def __init__(self, suite: Suite, enforce: bool, recheck_s: float) -> None:
        self.suite = suite
        self.enforce = enforce
        self.recheck_s = recheck_s
        self._seen: dict[int, tuple[float, LineageStatus]] = {}
        self._lock = threading.Lock()

    def status(self, model_id: int, max_age_s: float | None = None) -> LineageStatus:
        """The model's lineage status, read from the chain at most every ``max_age_s`` seconds."""
        age = self.recheck_s if max_age_s is None else max_age_s
        now = time.monotonic()
        with self._lock:
            hit = self._seen.get(model_id)
        if hit is not None and now - hit[0] < age:
            return hit[1]
        models = self.suite.models
        if not models.data_lineage(model_id).named:
            st = LineageStatus.NONE
        else:
            try:
                data = self.suite.data
            except ConfigError:  # the network has no DataRegistry: the named one is not ours
                st = LineageStatus.FOREIGN
            else:
                st = lineage_status(models, data, model_id)
        with self._lock:
            self._seen[model_id] = (now, st)
        return st

    def require(self, model_id: int, max_age_s: float | None = None) -> None:
        """Raise :class:`TaintedLineage` when the policy is on and the model's lineage is not servable."""
        if not self.enforce:
            return
        st = self.status(model_id, max_age_s)
        if st not in SERVABLE:
            why = {
                LineageStatus.TAINTED: "its training data version holds a record whose consent was revoked "
                "(retrain on a clean version and publish the new model)",
                LineageStatus.FOREIGN: "it names a DataRegistry other than this network's, which the node "
                "cannot check",
                LineageStatus.MISMATCH: "its recorded data roots differ from the version's on chain",
            }[st]
            raise TaintedLineage(
                f"model {model_id}: data lineage {st.value}: {why}; this node does not serve it"
            )
