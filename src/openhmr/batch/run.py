"""``openhmr batch`` on Ray Data: items → ``map_batches`` over a pool of actors, each holding
one `Worker` (one `Predictor`, loaded once) → results written by the driver (`Store`).

With no address Ray starts locally (and stops after); with an address the run joins that
cluster.  A worker process that dies is restarted by Ray and its batch retried; the driver
writes each key once, so every input gets exactly one result.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from openhmr.batch.inputs import Item, list_inputs
from openhmr.batch.store import Result, Store
from openhmr.batch.worker import Worker, WorkerConfig
from openhmr.errors import OpenHMRError


@dataclass(frozen=True)
class BatchSummary:
    """inputs: items found; skipped: already done before this run; done, failed: this run;
    people: found this run; seconds: this run's wall time; workers: actors used;
    first_result_seconds: from the start to the first result (Ray and the workers starting)."""

    inputs: int
    skipped: int
    done: int
    failed: int
    people: int
    seconds: float
    workers: int
    first_result_seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0


def require_ray():
    """The `ray` module, or one clear error saying how to get it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise OpenHMRError(
            "openhmr batch needs Ray: pip install 'openhmr[ray]' (or 'ray[data]')"
        ) from None
    return ray


class _Actor:
    """Ray Data's callable class: a `Worker` per actor process."""

    def __init__(self, config: dict) -> None:
        self.worker = Worker(WorkerConfig(**config))

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        items = [
            Item(str(k), str(p), int(f))
            for k, p, f in zip(batch["key"], batch["path"], batch["frame"], strict=True)
        ]
        results = self.worker(items)
        columns = {
            name: [getattr(r, name) for r in results] for name in Result.__dataclass_fields__
        }
        return {name: np.array(values, dtype=object) for name, values in columns.items()}


def run_batch(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    config: WorkerConfig | None = None,
    workers: int | None = None,
    batch_size: int = 8,
    address: str | None = None,
    progress: bool = True,
    retry_failed: bool = False,
) -> BatchSummary:
    """Predict every image and video frame under `inputs` into `out` (`openhmr.batch.store`),
    skipping what the index holds as done.  workers: actors (default: the cluster's CPUs //
    config.threads); batch_size: items per actor call; address: a Ray cluster ("auto" or
    host:port), None for a local Ray started for this run; retry_failed: run the items
    the index holds as failed again (by default they stay recorded and are skipped)."""
    from tqdm import tqdm

    config = config or WorkerConfig()
    if batch_size < 1:
        raise OpenHMRError(f"--batch-size: expected ≥ 1, got {batch_size}")
    if workers is not None and workers < 1:
        raise OpenHMRError(f"--workers: expected ≥ 1, got {workers}")
    ray = require_ray()
    store = Store(out)
    items = list_inputs(inputs)
    todo = [item for item in items if not store.is_settled(item.key, retry_failed)]
    start = time.perf_counter()
    done = failed = people = used = 0
    first = 0.0
    if todo:
        _check_model(config)
        started_here = start_ray(ray, address)
        try:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            used = workers or max(1, cpus // config.threads)
            blocks = -(-len(todo) // batch_size)  # one block a worker call, spread over the pool
            rows = [asdict(item) for item in todo]
            dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
                _Actor,
                fn_constructor_kwargs={"config": asdict(config)},
                batch_size=batch_size,
                compute=ray.data.ActorPoolStrategy(size=used),
                num_cpus=config.threads,
                num_gpus=1 if config.device.startswith("cuda") else 0,
            )  # Ray Data restarts a dead actor and retries its batch (max_restarts -1)
            bar = tqdm(total=len(todo), unit="img", disable=not progress, file=sys.stderr)
            written: set[str] = set()
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                for row in zip(*(batch[name] for name in Result.__dataclass_fields__), strict=True):
                    result = _as_result(row)
                    if result.key in written:
                        continue  # a retried batch's second copy
                    store.write(result)
                    written.add(result.key)
                    first = first or time.perf_counter() - start
                    done += result.status == "done"
                    failed += result.status == "failed"
                    people += result.people
                    if result.status == "failed":
                        bar.write(f"openhmr batch: {result.key}: {result.reason}", file=sys.stderr)
                    bar.update(1)
            bar.close()
        finally:
            if started_here:
                ray.shutdown()
    summary = BatchSummary(
        inputs=len(items),
        skipped=len(items) - len(todo),
        done=done,
        failed=failed,
        people=people,
        seconds=time.perf_counter() - start,
        workers=used,
        first_result_seconds=first,
    )
    store.write_summary({**asdict(summary), "images_per_second": summary.images_per_second})
    return summary


def _check_model(config: WorkerConfig) -> None:
    """Load the checkpoint and body model here once (and set its views), so that a bad one is
    one error before Ray starts rather than a failure in every worker."""
    from openhmr.body import load_body_model
    from openhmr.inference.predictor import resolve_checkpoint
    from openhmr.model.checkpoint import load_checkpoint, trained_body_model

    path = resolve_checkpoint(config.checkpoint)  # "default": the bundled model
    body_model = config.body_model or trained_body_model(path)
    checkpoint = load_checkpoint(path, body_model=load_body_model(body_model))
    if config.views is not None:  # a network that cannot read them: one error here
        checkpoint.model.set_views(config.views)


def _as_result(row: Sequence) -> Result:
    key, source, frame, status, people, reason, record, arrays = row
    return Result(
        str(key),
        str(source),
        int(frame),
        str(status),
        int(people),
        str(reason),
        str(record),
        bytes(arrays),
    )


def start_ray(ray, address: str | None) -> bool:
    """Connect to `address`, or start a local Ray; True when this call started it."""
    if ray.is_initialized():
        return False
    import logging
    import warnings

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="ray.data")
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    env = {"env_vars": {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}}
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
            runtime_env=env,
        )
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise OpenHMRError(f"--address {address}: cannot reach a Ray cluster ({err})") from None
    return True
