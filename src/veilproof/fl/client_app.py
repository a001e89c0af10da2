"""The Flower ClientApp each SuperNode runs: train on the local shard, send the model back.

The node's own config (``flower-supernode --node-config``) says which shard it holds, the address it was
paid under on chain, and, for the demo and the tests, how it behaves: ``honest``, ``freerider`` (sends the
global model back unchanged) or ``poisoner`` (sends the global model pushed 10x against its own gradient
step). ``delay`` (seconds) stalls training, so a test can kill the process mid-round.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from eth_account import Account
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from veilproof.fl.commit import arrays_hash
from veilproof.fl.dp import clip_update
from veilproof.fl.model import Arrays, load_split, partition, train
from veilproof.fl.sign import UpdateDomain

app = ClientApp()


def to_arrays(rec: ArrayRecord) -> Arrays:
    return {k: np.asarray(rec[k].numpy(), dtype=np.float64) for k in rec}


def to_record(a: Arrays) -> ArrayRecord:
    rec = ArrayRecord()
    for k, v in a.items():
        rec[k] = Array(np.ascontiguousarray(v, dtype=np.float64))
    return rec


def local_update(g: Arrays, behavior: str, index: int, count: int, epochs: int, seed: int) -> Arrays:
    """What a client of ``behavior`` sends back for global model ``g`` (pure: the tests call it too)."""
    if behavior == "freerider":
        return {k: v.copy() for k, v in g.items()}
    x, y = partition(load_split(seed), index, count)
    new = train(g, x, y, epochs=epochs)
    if behavior == "poisoner":
        return {k: g[k] - 10.0 * (new[k] - g[k]) for k in g}
    return new


@app.train()
def train_fn(msg: Message, context: Context) -> Message:
    nc = context.node_config
    cfg = msg.content["config"] if "config" in msg.content.config_records else ConfigRecord()
    delay = float(nc.get("delay", 0.0))
    if delay:
        time.sleep(delay)
    g = to_arrays(msg.content.array_records["arrays"])
    index, count = int(nc["partition-id"]), int(nc["num-partitions"])
    seed = int(str(cfg.get("seed", 7)))
    behavior = str(nc.get("behavior", "honest"))
    new = local_update(g, behavior, index, count, int(str(cfg.get("epochs", 20))), seed)
    clip = float(str(cfg.get("clipping-norm", 0.0)))
    if clip > 0:  # DP: clip before signing, so what is signed is what the server aggregates (fl.dp)
        new = clip_update(new, g, clip)
    n_local = len(partition(load_split(seed), index, count)[1])
    signer = Account.from_key(Path(str(nc["key-file"])).read_text().strip())
    domain = UpdateDomain(int(str(cfg["chain-id"])), str(cfg["market"]), int(str(cfg["job-id"])))
    sig = domain.sign(signer, int(str(cfg["server-round"])), arrays_hash(new))
    content = RecordDict(
        {
            "arrays": to_record(new),
            "metrics": MetricRecord({"num-examples": n_local}),
            "vp": ConfigRecord({"address": str(signer.address), "signature": sig}),
        }
    )
    return Message(content=content, reply_to=msg)
