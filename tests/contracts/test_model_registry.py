"""ModelRegistry: datasets, models with lineage, write-once commitments, price, retirement, transfer."""

from __future__ import annotations

from market_world import ROYALTY_BPS, World, h, reverts

ZERO32 = b"\x00" * 32
ZERO = "0x" + "00" * 20


def _register(
    w: World,
    name: str = "m",
    parents: list[int] | None = None,
    datasets: list[int] | None = None,
    royalty: int = ROYALTY_BPS,
    onnx: bytes | None = None,
) -> int:
    fn = w.models.functions.register_model(
        name, 5, royalty, h("onnx") if onnx is None else onnx, parents or [], datasets or [], h("code")
    )
    w.tx(fn, w.author)
    return int(w.call(w.models.functions.model_count()))


def test_register_dataset(bare: World) -> None:
    m = bare.models.functions
    rcpt = bare.tx(m.register_dataset(h("root1"), "ipfs://data1"), bare.author)
    ev = bare.events(bare.models, "DatasetRegistered", rcpt)[0]
    assert ev["dataset_id"] == 1 and ev["owner"] == bare.author.address
    assert bare.call(m.dataset(1)) == (bare.author.address, h("root1"), "ipfs://data1")
    assert bare.call(m.dataset_count()) == 1
    with reverts("empty root"):
        bare.tx(m.register_dataset(ZERO32, "x"), bare.author)
    with reverts("root exists"):
        bare.tx(m.register_dataset(h("root1"), "other"), bare.other)
    with reverts("unknown dataset"):
        bare.call(m.dataset(2))
    with reverts("unknown dataset"):
        bare.call(m.dataset(0))


def test_register_model_and_views(bare: World) -> None:
    m = bare.models.functions
    bare.tx(m.register_dataset(h("root1"), "ipfs://d1"), bare.other)
    first = _register(bare, "base")
    assert first == 1
    child = _register(bare, "child", parents=[1], datasets=[1])
    assert child == 2
    model = bare.call(m.model(child))
    assert model == (
        bare.author.address,
        "child",
        5,
        ROYALTY_BPS,
        h("onnx"),
        ZERO32,
        ZERO32,
        ZERO32,
        ZERO32,
        ZERO32,
        h("code"),
        True,
    )
    assert bare.call(m.parents(child)) == [1]
    assert bare.call(m.datasets(child)) == [1]
    assert bare.call(m.is_active(child)) is True
    assert bare.call(m.exists(child)) is True
    assert bare.call(m.owner_of(child)) == bare.author.address
    assert bare.call(m.is_active(3)) is False and bare.call(m.exists(3)) is False
    for view in (m.model, m.parents, m.datasets, m.owner_of):
        with reverts("unknown model"):
            bare.call(view(3))


def test_register_model_rejects_bad_input(bare: World) -> None:
    with reverts("unknown parent"):
        _register(bare, parents=[1])
    with reverts("unknown dataset"):
        _register(bare, datasets=[1])
    with reverts("royalty too high"):
        _register(bare, royalty=10_001)
    with reverts("empty onnx hash"):
        _register(bare, onnx=ZERO32)
    _register(bare)
    with reverts("unknown parent"):
        _register(bare, parents=[1, 0])
    with reverts():  # nine parents: ABI decoding of DynArray[uint256, 8] fails
        _register(bare, parents=[1] * 9)
    assert _register(bare, royalty=10_000) == 2


def test_zk_commitment_is_write_once(bare: World) -> None:
    m = bare.models.functions
    mid = _register(bare)
    with reverts("not model owner"):
        bare.tx(m.set_zk_commitment(mid, h("s"), h("v"), h("r")), bare.other)
    with reverts("unknown model"):
        bare.tx(m.set_zk_commitment(9, h("s"), h("v"), h("r")), bare.author)
    with reverts("empty hash"):
        bare.tx(m.set_zk_commitment(mid, h("s"), ZERO32, h("r")), bare.author)
    bare.tx(m.set_zk_commitment(mid, h("s"), h("v"), h("r")), bare.author)
    with reverts("zk commitment set"):
        bare.tx(m.set_zk_commitment(mid, h("s2"), h("v2"), h("r2")), bare.author)
    assert bare.call(m.model(mid))[5:8] == (h("s"), h("v"), h("r"))


def test_fhe_commitment_is_write_once(bare: World) -> None:
    m = bare.models.functions
    mid = _register(bare)
    with reverts("not model owner"):
        bare.tx(m.set_fhe_commitment(mid, h("c"), h("s")), bare.other)
    with reverts("unknown model"):
        bare.tx(m.set_fhe_commitment(9, h("c"), h("s")), bare.author)
    with reverts("empty hash"):
        bare.tx(m.set_fhe_commitment(mid, ZERO32, h("s")), bare.author)
    rcpt = bare.tx(m.set_fhe_commitment(mid, h("c"), h("s")), bare.author)
    assert bare.events(bare.models, "FheCommitmentSet", rcpt)[0]["server_hash"] == h("s")
    with reverts("fhe commitment set"):
        bare.tx(m.set_fhe_commitment(mid, h("c2"), h("s2")), bare.author)
    assert bare.call(m.model(mid))[8:10] == (h("c"), h("s"))


def test_price_and_retire(bare: World) -> None:
    m = bare.models.functions
    mid = _register(bare)
    with reverts("not model owner"):
        bare.tx(m.set_price(mid, 9), bare.other)
    with reverts("unknown model"):
        bare.tx(m.set_price(9, 9), bare.author)
    bare.tx(m.set_price(mid, 9), bare.author)
    assert bare.call(m.model(mid))[2] == 9
    with reverts("not model owner"):
        bare.tx(m.retire(mid), bare.other)
    with reverts("unknown model"):
        bare.tx(m.retire(9), bare.author)
    bare.tx(m.retire(mid), bare.author)
    assert bare.call(m.is_active(mid)) is False
    assert bare.call(m.exists(mid)) is True
    with reverts("model retired"):
        bare.tx(m.retire(mid), bare.author)
    with reverts("model retired"):
        bare.tx(m.set_price(mid, 1), bare.author)


def test_transfer_model(bare: World) -> None:
    m = bare.models.functions
    mid = _register(bare)
    with reverts("not model owner"):
        bare.tx(m.transfer_model(mid, bare.other.address), bare.other)
    with reverts("zero address"):
        bare.tx(m.transfer_model(mid, ZERO), bare.author)
    with reverts("unknown model"):
        bare.tx(m.transfer_model(9, bare.other.address), bare.author)
    bare.tx(m.transfer_model(mid, bare.other.address), bare.author)
    assert bare.call(m.owner_of(mid)) == bare.other.address
    with reverts("not model owner"):
        bare.tx(m.set_price(mid, 1), bare.author)
    bare.tx(m.set_price(mid, 1), bare.other)
