"""Fixtures for the contract tests; the world they build and its helpers live in market_world.py.

(Test modules import helpers from ``market_world``, not from ``conftest``: several test folders have a
conftest.py, and ``from conftest import`` resolves to whichever was imported first.)
"""

from __future__ import annotations

import pytest
from market_world import CONFIG, ONE, World

from veilproof.chain import Network
from veilproof.chain.deploy import deploy_suite


@pytest.fixture
def bare(net: Network) -> World:
    """A fresh deployment and actors, with nothing registered."""
    owner, client, author, node, other, arbiter = net.new_accounts(6)
    d = deploy_suite(net, owner, CONFIG)
    contracts = [
        net.contract(name, addr)
        for name, addr in [
            ("Token", d.token),
            ("ModelRegistry", d.models),
            ("NodeRegistry", d.nodes),
            ("JobMarket", d.market),
        ]
    ]
    return World(net, *contracts, owner, client, author, node, other, arbiter)


@pytest.fixture
def w(bare: World) -> World:
    """A ready market: a model with ZK and FHE commitments, a staked node serving it, a funded client."""
    bare.model_id = bare.register_model()
    bare.add_node(bare.node, [bare.model_id])
    bare.mint(bare.client, 100 * ONE)
    bare.approve(bare.client, bare.market)
    bare.tx(bare.market.functions.set_arbiter(bare.arbiter.address), bare.owner)
    bare.use_verifier("RejectingVerifier")  # ZK jobs open only under a verifier (fault injector)
    return bare
