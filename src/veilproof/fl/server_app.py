"""The Flower ServerApp: Flower's trimmed-mean strategy, plus a commitment and contribution scores per round.

``CommittingTrimmedAvg`` is Flower's ``FedTrimmedAvg`` whose ``aggregate_train`` first orders the replies by
the participant's address (so anyone can re-aggregate bit for bit), hashes every update, scores each on the
public validation set, lets Flower aggregate, and writes the round (updates, hashes, scores, aggregated hash)
to the job directory. The coordinator process (:mod:`veilproof.fl.coordinator`) posts each round on chain as
its file appears. Dead clients simply have no reply: the round aggregates the replies that arrived within
``round-timeout`` and only their senders are in the participant set.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from pathlib import Path

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedTrimmedAvg

from veilproof.fl import contrib
from veilproof.fl.client_app import to_arrays, to_record
from veilproof.fl.commit import TRIM_BETA, RoundRecord, aggregate, aggregate_round, arrays_hash, write_round
from veilproof.fl.dp import update_norm as dp_norm
from veilproof.fl.model import Arrays, accuracy, init_arrays, load_split, log_loss
from veilproof.fl.sign import UpdateDomain

app = ServerApp()


class CommittingTrimmedAvg(FedTrimmedAvg):
    def __init__(
        self,
        job_dir: Path,
        seed: int,
        min_nodes: int,
        domain: UpdateDomain,
        dp: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        super().__init__(
            beta=TRIM_BETA,
            fraction_train=1.0,
            fraction_evaluate=0.0,
            min_train_nodes=min_nodes,
            min_available_nodes=min_nodes,
        )
        self.job_dir, self.seed, self.domain = job_dir, seed, domain
        self.noise_multiplier, self.clipping_norm = dp
        self.sent: Arrays = init_arrays()
        self.t0 = time.monotonic()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self.sent = to_arrays(arrays)
        self.t0 = time.monotonic()
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        ok = sorted(
            (m for m in replies if not m.has_error() and self._signed(server_round, m)),
            key=lambda m: str(m.content["vp"]["address"]).lower(),
        )
        if not ok:
            return None, None
        participants = [str(m.content["vp"]["address"]) for m in ok]
        updates = [to_arrays(m.content.array_records["arrays"]) for m in ok]
        signatures = [bytes(m.content["vp"]["signature"]) for m in ok]  # type: ignore[arg-type]
        agg_rec, metrics = super().aggregate_train(server_round, ok)
        agg = aggregate(updates)
        assert agg_rec is not None and arrays_hash(to_arrays(agg_rec)) == arrays_hash(agg), "flwr != mirror"
        split = load_split(self.seed)
        rec = RoundRecord(
            round=server_round,
            global_hash=arrays_hash(self.sent),
            participants=participants,
            update_hashes=[arrays_hash(u) for u in updates],
            aggregated_hash=arrays_hash(agg),
            scores=contrib.scores(self.sent, updates, self.seed),
            loo=contrib.leave_one_out(updates, self.seed),
            val_loss=log_loss(agg, split.x_val, split.y_val),
            val_accuracy=accuracy(agg, split.x_val, split.y_val),
            seconds=time.monotonic() - self.t0,
            signatures=signatures,
            noise_multiplier=self.noise_multiplier,
            clipping_norm=self.clipping_norm,
        )
        agg = aggregate_round(rec, updates)  # DP on: plus the noise seeded by the updates root
        rec = dataclasses.replace(
            rec,
            aggregated_hash=arrays_hash(agg),
            val_loss=log_loss(agg, split.x_val, split.y_val),
            val_accuracy=accuracy(agg, split.x_val, split.y_val),
        )
        write_round(self.job_dir, rec, updates, self.sent)
        return to_record(agg), metrics

    def _signed(self, rnd: int, m: Message) -> bool:
        """A reply counts only if its update is signed by the address it names: the chain would refuse the
        round otherwise (TrainingMarket.post_round), so one bad reply must not sink everyone's round."""
        try:
            vp = m.content["vp"]
            h = arrays_hash(to_arrays(m.content.array_records["arrays"]))
            sig = bytes(vp["signature"])  # type: ignore[arg-type]
            if self.clipping_norm > 0:  # DP: an unclipped update would leak more than the noise covers
                clipped = dp_norm(to_arrays(m.content.array_records["arrays"]), self.sent)
                if clipped > self.clipping_norm * (1 + 1e-9):
                    return False
            return self.domain.signer(rnd, h, sig).lower() == str(vp["address"]).lower()
        except (KeyError, ValueError, TypeError):
            return False


@app.main()
def main(grid: Grid, context: Context) -> None:
    rc = context.run_config
    n = int(rc.get("min-nodes", 2))
    seed = int(rc.get("seed", 7))
    domain = UpdateDomain(int(rc.get("chain-id", 0)), str(rc.get("market", "")), int(rc.get("job-id", 0)))
    dp = (float(rc.get("noise-multiplier", 0.0)), float(rc.get("clipping-norm", 0.0)))
    strategy = CommittingTrimmedAvg(Path(str(rc["job-dir"])), seed, n, domain, dp)
    strategy.start(
        grid=grid,
        initial_arrays=to_record(init_arrays()),
        num_rounds=int(rc.get("num-rounds", 3)),
        timeout=float(rc.get("round-timeout", 60.0)),
        train_config=ConfigRecord(
            {
                "epochs": int(rc.get("epochs", 20)),
                "seed": seed,
                "chain-id": domain.chain_id,
                "market": domain.market,
                "job-id": domain.job_id,
                "clipping-norm": dp[1],
            }
        ),
    )
