"""``--engine ray`` vs the local engine: chrF on TED en-de (6,877 responses), no cache.

    python benchmarks/bench_ray.py [--quick] [--markdown]

Rows (ours = the Ray engine, peer = the local engine in one process, same batches of 64 rows;
ratio = local seconds / Ray seconds, < 1: Ray is slower):

* *ray, cold*: ``score_dataset`` with a :class:`RayExecutor` that starts a local Ray instance
  (``ray.init``, all CPUs) and its actor pool: what ``overcoat score --engine ray`` costs on one
  machine;
* *ray, warm*: a second run on the same Ray instance (a new actor pool, as every scorer gets);
* *ray, 1 actor, warm*: the same with one actor.

Scores are checked bit-for-bit equal (``tobytes``) to the local engine's. On a small machine Ray
is slower: starting Ray and its actors costs seconds, every batch is pickled and makes a round
trip to an actor (one batch per actor at a time: what a kill can lose), and chrF is cheap per
row. Ray pays off when one machine is not enough (a cluster, GPUs for model scorers), not for a
lexical metric on 2 cores.
"""

from __future__ import annotations

from _bench import Row, main, timed


def collect(quick: bool) -> list[Row]:
    import numpy as np
    import ray

    from overcoat.data.spec import load_data
    from overcoat.scorers.engine import score_dataset
    from overcoat.scorers.ray_executor import RayExecutor

    ds = load_data("ted-ende")
    if quick:
        from overcoat.data.builder import DatasetBuilder

        t = ds.response_inputs().slice(0, 1000).to_pylist()
        b = DatasetBuilder("ted-ende-1000")
        for r in t:
            if not b.has_item(r["item_id"]):
                b.add_item(r["item_id"], r["input"], references=r["references"])
            b.add_response(r["item_id"], r["response_id"], r["text"])
        ds = b.build()
    n = f"{ds.n_responses} responses"
    local_s, local = timed(lambda: score_dataset(ds, "chrf", cache=None, batch_size=64))

    def on_ray(actors=None):
        return score_dataset(
            ds, "chrf", cache=None, batch_size=64, executor=RayExecutor(actors=actors)
        )

    def equal(res) -> str:
        ok = res.scores.tobytes() == local.scores.tobytes()
        assert ok and np.array_equal(res.scores, local.scores, equal_nan=True)
        return "bit-for-bit"

    rows = []
    ex = RayExecutor()
    t_cold, cold = timed(lambda: (ex.start(), on_ray())[1])
    cpus = int(ray.cluster_resources().get("CPU", 1))
    rows.append(
        Row(
            f"chrF, ray cold ({cpus} actors)",
            n,
            t_cold,
            "local engine",
            local_s,
            equal(cold),
            "includes ray.init and starting the actors",
        )
    )
    t_warm, warm = timed(on_ray)
    rows.append(
        Row(
            f"chrF, ray warm ({cpus} actors)",
            n,
            t_warm,
            "local engine",
            local_s,
            equal(warm),
            "Ray already running; a new actor pool",
        )
    )
    t_one, one = timed(lambda: on_ray(1))
    rows.append(Row("chrF, ray warm (1 actor)", n, t_one, "local engine", local_s, equal(one)))
    ex.close()
    return rows


if __name__ == "__main__":
    main(collect, __doc__)
