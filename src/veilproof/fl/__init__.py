"""Federated learning on Flower (issue #16): the data stays on each client, every round is committed on chain.

Flower (``flwr``) runs the rounds: a SuperLink and one SuperNode per client as separate processes, the
:mod:`server_app` and :mod:`client_app` loaded from this package. veilproof adds what Flower does not have:
a commitment to every round's updates (:mod:`commit`), a contribution score per client measured on the public
validation set (:mod:`contrib`), and the on-chain TrainingMarket that escrows the bounty and pays by it.
"""
