"""NodeRegistry: registration, models served, staking, unbonding, and slashing by authorised contracts."""

from __future__ import annotations

from market_world import MIN_STAKE, ONE, UNBOND_DELAY, World, h, reverts

ZERO = "0x" + "00" * 20


def _pubkey(prefix: bytes = b"\x02") -> bytes:
    return prefix + h("key")


def test_register_and_views(bare: World) -> None:
    n = bare.nodes.functions
    m1 = bare.register_model(name="a")
    m2 = bare.register_model(name="b")
    rcpt = bare.tx(n.register("http://node", _pubkey(b"\x03"), [m1, m2]), bare.node)
    ev = bare.events(bare.nodes, "NodeRegistered", rcpt)[0]
    assert ev["node"] == bare.node.address and ev["endpoint"] == "http://node"
    info = bare.node_info(bare.node)
    assert (info["endpoint"], info["pubkey"], info["registered"], info["stake"]) == (
        "http://node",
        _pubkey(b"\x03"),
        True,
        0,
    )
    assert bare.call(n.models_of(bare.node.address)) == [m1, m2]
    assert bare.call(n.serves(bare.node.address, m1)) is True
    assert bare.call(n.is_active(bare.node.address)) is False  # registered, not staked
    assert bare.call(n.node_count()) == 1
    assert bare.call(n.node_at(0)) == bare.node.address
    with reverts("index out of range"):
        bare.call(n.node_at(1))
    with reverts("already registered"):
        bare.tx(n.register("http://node", _pubkey(), []), bare.node)


def test_register_rejects_bad_input(bare: World) -> None:
    n = bare.nodes.functions
    mid = bare.register_model()
    with reverts("empty endpoint"):
        bare.tx(n.register("", _pubkey(), []), bare.node)
    with reverts("bad pubkey"):
        bare.tx(n.register("http://n", h("key"), []), bare.node)  # 32 bytes
    with reverts("bad pubkey"):
        bare.tx(n.register("http://n", _pubkey(b"\x04"), []), bare.node)
    with reverts("unknown model"):
        bare.tx(n.register("http://n", _pubkey(), [mid + 1]), bare.node)
    with reverts("duplicate model"):
        bare.tx(n.register("http://n", _pubkey(), [mid, mid]), bare.node)
    with reverts():  # 33 models: over DynArray[uint256, 32]
        bare.tx(n.register("http://n", _pubkey(), [mid] * 33), bare.node)
    bare.tx(bare.models.functions.retire(mid), bare.author)
    with reverts("unknown model"):  # a retired model cannot be announced
        bare.tx(n.register("http://n", _pubkey(), [mid]), bare.node)


def test_set_endpoint_and_models(bare: World) -> None:
    n = bare.nodes.functions
    m1 = bare.register_model(name="a")
    m2 = bare.register_model(name="b")
    with reverts("not registered"):
        bare.tx(n.set_endpoint("http://x"), bare.node)
    with reverts("not registered"):
        bare.tx(n.set_models([m1]), bare.node)
    bare.tx(n.register("http://a", _pubkey(), [m1]), bare.node)
    with reverts("empty endpoint"):
        bare.tx(n.set_endpoint(""), bare.node)
    bare.tx(n.set_endpoint("http://b"), bare.node)
    assert bare.node_info(bare.node)["endpoint"] == "http://b"
    bare.tx(n.set_models([m2]), bare.node)
    assert bare.call(n.serves(bare.node.address, m1)) is False
    assert bare.call(n.serves(bare.node.address, m2)) is True
    with reverts("duplicate model"):
        bare.tx(n.set_models([m1, m2, m1]), bare.node)


def test_stake_and_activity(bare: World) -> None:
    n = bare.nodes.functions
    with reverts("not registered"):
        bare.tx(n.stake(1), bare.node)
    bare.tx(n.register("http://a", _pubkey(), []), bare.node)
    with reverts("zero amount"):
        bare.tx(n.stake(0), bare.node)
    bare.mint(bare.node, MIN_STAKE)
    with reverts("insufficient allowance"):
        bare.tx(n.stake(MIN_STAKE), bare.node)
    bare.approve(bare.node, bare.nodes)
    bare.tx(n.stake(MIN_STAKE - 1), bare.node)
    assert bare.call(n.is_active(bare.node.address)) is False
    bare.tx(n.stake(1), bare.node)
    assert bare.call(n.is_active(bare.node.address)) is True
    assert bare.bal(bare.nodes) == MIN_STAKE == bare.call(n.total_bonded())


def test_unbond_and_withdraw(bare: World) -> None:
    n = bare.nodes.functions
    bare.add_node(bare.node, [])
    with reverts("zero amount"):
        bare.tx(n.request_unbond(0), bare.node)
    with reverts("insufficient stake"):
        bare.tx(n.request_unbond(MIN_STAKE + 1), bare.node)
    with reverts("nothing unbonding"):
        bare.tx(n.withdraw_unbonded(), bare.node)
    bare.tx(n.request_unbond(ONE), bare.node)
    info = bare.node_info(bare.node)
    assert (info["stake"], info["unbonding"]) == (MIN_STAKE - ONE, ONE)
    assert info["unbond_release"] >= bare.net.now() + UNBOND_DELAY - 5
    assert bare.call(n.is_active(bare.node.address)) is False  # below min stake now
    with reverts("still unbonding"):
        bare.tx(n.withdraw_unbonded(), bare.node)
    bare.net.time_travel(UNBOND_DELAY)
    bare.tx(n.withdraw_unbonded(), bare.node)
    assert bare.bal(bare.node) == ONE
    assert bare.node_info(bare.node)["unbonding"] == 0
    assert bare.call(n.total_bonded()) == MIN_STAKE - ONE == bare.bal(bare.nodes)


def test_slash_is_authorised_only(bare: World) -> None:
    n = bare.nodes.functions
    bare.add_node(bare.node, [])
    with reverts("not authorized"):
        bare.tx(n.slash(bare.node.address, 1, bare.other.address, "x"), bare.other)
    with reverts("not owner"):
        bare.tx(n.authorize(bare.other.address, True), bare.other)
    with reverts("zero address"):
        bare.tx(n.authorize(ZERO, True), bare.owner)
    bare.tx(n.authorize(bare.other.address, True), bare.owner)
    bare.tx(n.slash(bare.node.address, 1, bare.other.address, "x"), bare.other)
    bare.tx(n.authorize(bare.other.address, False), bare.owner)
    with reverts("not authorized"):
        bare.tx(n.slash(bare.node.address, 1, bare.other.address, "x"), bare.other)


def test_slash_takes_stake_then_unbonding_and_splits(bare: World) -> None:
    n = bare.nodes.functions
    bare.add_node(bare.node, [])
    bare.tx(n.authorize(bare.other.address, True), bare.owner)
    bare.tx(n.request_unbond(40 * ONE), bare.node)  # stake 60, unbonding 40
    treasury0 = bare.bal(bare.owner)
    rcpt = bare.tx(n.slash(bare.node.address, 70 * ONE, bare.arbiter.address, "bad result"), bare.other)
    ev = bare.events(bare.nodes, "Slashed", rcpt)[0]
    assert (ev["amount"], ev["challenger_share"], ev["reason"]) == (70 * ONE, 35 * ONE, "bad result")
    info = bare.node_info(bare.node)
    assert (info["stake"], info["unbonding"], info["slashed_total"]) == (0, 30 * ONE, 70 * ONE)
    assert bare.bal(bare.arbiter) == 35 * ONE
    assert bare.bal(bare.owner) - treasury0 == 35 * ONE
    # capped at what is left, zero challenger: all to the treasury
    bare.tx(n.slash(bare.node.address, 10**30, ZERO, "again"), bare.other)
    assert bare.bal(bare.owner) - treasury0 == 65 * ONE
    assert bare.node_info(bare.node)["slashed_total"] == 100 * ONE
    # nothing left: a no-op, not a revert
    rcpt = bare.tx(n.slash(bare.node.address, ONE, bare.arbiter.address, "empty"), bare.other)
    assert bare.events(bare.nodes, "Slashed", rcpt) == []
    assert bare.bal(bare.nodes) == 0 == bare.call(n.total_bonded())


def test_transfer_ownership(bare: World) -> None:
    n = bare.nodes.functions
    with reverts("not owner"):
        bare.tx(n.transfer_ownership(bare.other.address), bare.other)
    with reverts("zero address"):
        bare.tx(n.transfer_ownership(ZERO), bare.owner)
    bare.tx(n.transfer_ownership(bare.other.address), bare.owner)
    bare.tx(n.authorize(bare.client.address, True), bare.other)
    assert bare.call(n.authorized(bare.client.address)) is True


def test_constructor_checks(bare: World) -> None:
    with reverts("zero treasury"):
        bare.net.deploy("NodeRegistry", bare.token.address, 1, 1, ZERO, 0, ZERO, sender=bare.owner)
    with reverts("bps too high"):
        bare.net.deploy(
            "NodeRegistry", bare.token.address, 1, 1, bare.owner.address, 10_001, ZERO, sender=bare.owner
        )
