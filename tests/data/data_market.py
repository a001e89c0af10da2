"""A consented data market on a real chain, for the compute-to-data and quality tests: the core suite
plus DataRegistry, a curator, a data host with an encrypted store, a buyer and contributors holding
rows of scikit-learn's breast-cancer table (a quarter held out by the scorer)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from veilproof.chain import Network
from veilproof.chain.data_registry import USE_EVALUATION, USE_TRAINING, SignedConsent
from veilproof.chain.deploy import SuiteParams, deploy_data_market, deploy_suite
from veilproof.chain.suite import Suite
from veilproof.data.host import DataHost
from veilproof.data.records import DemoSplit, Record, breast_cancer_split
from veilproof.data.store import EncryptedStore

ONE = 10**18
PRICE = 20 * ONE
USES = USE_TRAINING | USE_EVALUATION


@dataclass
class Market:
    net: Network
    suite: Suite
    owner: LocalAccount
    curator: LocalAccount
    host_acct: LocalAccount
    buyer: LocalAccount
    subjects: list[LocalAccount]
    split: DemoSplit
    host: DataHost
    dataset_id: int

    @classmethod
    def build(cls, net: Network, store_dir: Path, n_contributors: int = 3) -> Market:
        owner, curator, host_acct, buyer, *subjects = net.new_accounts(4 + n_contributors)
        d = deploy_suite(net, owner, SuiteParams.dev())
        deploy_data_market(net, owner, d, delivery_window=3600)
        suite = Suite.attach(net, d)
        split = breast_cancer_split(n_contributors)
        store = EncryptedStore(store_dir, n_features=split.held_out_x.shape[1])
        host = DataHost(suite.data, host_acct, store)
        dataset_id = suite.data.publish(
            keccak(b"breast-cancer:30xf64+label"), USES, PRICE, net.now() + 90 * 86400, 1000, host_acct.address,
            "sklearn:breast_cancer", sender=curator,
        )  # fmt: skip
        suite.token.mint(buyer.address, 1_000 * ONE, sender=owner)
        return cls(net, suite, owner, curator, host_acct, buyer, subjects, split, host, dataset_id)

    def consent(self, subject: LocalAccount, recs: list[Record], nonce0: int = 1) -> list[SignedConsent]:
        reg = self.suite.data
        exp = self.net.now() + 60 * 86400
        return [
            reg.sign_consent(
                reg.consent(subject.address, self.dataset_id, r.record_hash, USES, exp, nonce0 + i), subject
            )
            for i, r in enumerate(recs)
        ]

    def contribute(self, contributions: list[list[Record]]) -> list[bytes]:
        """Each subject signs its rows' consents, hands the rows to the host, the curator registers them."""
        signed = []
        for s, recs in zip(self.subjects, contributions, strict=True):
            signed += self.consent(s, recs)
            for r in recs:
                self.host.ingest(r)
        self.suite.data.register_records(self.dataset_id, signed, sender=self.curator)
        return [r.record_hash for recs in contributions for r in recs]
