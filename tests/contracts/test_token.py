"""VEIL token: ERC-20 behaviour, bootstrap minting that can be renounced, burn, ownership."""

from __future__ import annotations

from market_world import ONE, World, reverts

ZERO = "0x" + "00" * 20


def test_metadata(bare: World) -> None:
    t = bare.token.functions
    assert bare.call(t.name()) == "Veil"
    assert bare.call(t.symbol()) == "VEIL"
    assert bare.call(t.decimals()) == 18
    assert bare.call(t.owner()) == bare.owner.address
    assert bare.call(t.owner_can_mint()) is True
    assert bare.call(t.totalSupply()) == 0


def test_owner_mints_and_transfers(bare: World) -> None:
    t = bare.token.functions
    bare.mint(bare.client, 5 * ONE)
    assert bare.call(t.totalSupply()) == 5 * ONE
    rcpt = bare.tx(t.transfer(bare.other.address, 2 * ONE), bare.client)
    logs = bare.events(bare.token, "Transfer", rcpt)
    assert logs[0]["value"] == 2 * ONE
    assert (bare.bal(bare.client), bare.bal(bare.other)) == (3 * ONE, 2 * ONE)


def test_transfer_rejects_zero_address_and_overdraft(bare: World) -> None:
    t = bare.token.functions
    bare.mint(bare.client, ONE)
    with reverts("zero address"):
        bare.tx(t.transfer(ZERO, 1), bare.client)
    with reverts("insufficient balance"):
        bare.tx(t.transfer(bare.other.address, ONE + 1), bare.client)


def test_approve_and_transfer_from(bare: World) -> None:
    t = bare.token.functions
    bare.mint(bare.client, 10)
    bare.tx(t.approve(bare.other.address, 6), bare.client)
    assert bare.call(t.allowance(bare.client.address, bare.other.address)) == 6
    bare.tx(t.transferFrom(bare.client.address, bare.author.address, 4), bare.other)
    assert bare.call(t.allowance(bare.client.address, bare.other.address)) == 2
    with reverts("insufficient allowance"):
        bare.tx(t.transferFrom(bare.client.address, bare.author.address, 3), bare.other)
    with reverts("zero address"):
        bare.tx(t.transferFrom(bare.client.address, ZERO, 1), bare.other)
    assert bare.bal(bare.author) == 4


def test_infinite_allowance_is_not_decreased(bare: World) -> None:
    t = bare.token.functions
    bare.mint(bare.client, 10)
    bare.tx(t.approve(bare.other.address, 2**256 - 1), bare.client)
    bare.tx(t.transferFrom(bare.client.address, bare.other.address, 10), bare.other)
    assert bare.call(t.allowance(bare.client.address, bare.other.address)) == 2**256 - 1


def test_mint_access_and_inputs(bare: World) -> None:
    t = bare.token.functions
    with reverts("not minter"):
        bare.tx(t.mint(bare.other.address, 1), bare.other)
    with reverts("zero amount"):
        bare.tx(t.mint(bare.other.address, 0), bare.owner)
    with reverts("zero address"):
        bare.tx(t.mint(ZERO, 1), bare.owner)


def test_minter_role(bare: World) -> None:
    t = bare.token.functions
    with reverts("not owner"):
        bare.tx(t.set_minter(bare.other.address), bare.other)
    bare.tx(t.set_minter(bare.other.address), bare.owner)
    bare.tx(t.mint(bare.client.address, 7), bare.other)
    assert bare.bal(bare.client) == 7
    bare.tx(t.set_minter(ZERO), bare.owner)
    with reverts("not minter"):
        bare.tx(t.mint(bare.client.address, 7), bare.other)


def test_renounce_owner_minting_is_final(bare: World) -> None:
    t = bare.token.functions
    with reverts("not owner"):
        bare.tx(t.renounce_owner_minting(), bare.other)
    bare.tx(t.set_minter(bare.other.address), bare.owner)
    bare.tx(t.renounce_owner_minting(), bare.owner)
    assert bare.call(t.owner_can_mint()) is False
    with reverts("not minter"):
        bare.tx(t.mint(bare.owner.address, 1), bare.owner)
    with reverts("already renounced"):
        bare.tx(t.renounce_owner_minting(), bare.owner)
    bare.tx(t.mint(bare.client.address, 1), bare.other)  # the minter still can


def test_burn(bare: World) -> None:
    t = bare.token.functions
    bare.mint(bare.client, 10)
    bare.tx(t.burn(4), bare.client)
    assert bare.bal(bare.client) == 6
    assert bare.call(t.totalSupply()) == 6
    with reverts("zero amount"):
        bare.tx(t.burn(0), bare.client)
    with reverts("insufficient balance"):
        bare.tx(t.burn(7), bare.client)


def test_transfer_ownership(bare: World) -> None:
    t = bare.token.functions
    with reverts("not owner"):
        bare.tx(t.transfer_ownership(bare.other.address), bare.other)
    with reverts("zero address"):
        bare.tx(t.transfer_ownership(ZERO), bare.owner)
    bare.tx(t.transfer_ownership(bare.other.address), bare.owner)
    assert bare.call(t.owner()) == bare.other.address
    with reverts("not owner"):
        bare.tx(t.set_minter(bare.client.address), bare.owner)
    bare.tx(t.mint(bare.client.address, 1), bare.other)  # the new owner inherits bootstrap minting
