"""`openhmr batch` throughput with 1 and 2 workers (and more with --workers) on the same
images in the same run, on a local Ray: images/s overall and after the first result (Ray and
the workers' model loading excluded), and the ratio to one worker.  Each worker runs one torch
thread.  With --rounds N the worker counts run N times in turn (1, 2, 1, 2, ...) and the
median of each round's ratio is printed too: on a shared machine one round can be unlucky.
Results: docs/batch.md.

    python benchmarks/batch_scaling.py --images 240 --workers 1 2 --batch-size 8 --rounds 3
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import cv2

from openhmr.batch.run import run_batch, start_ray
from openhmr.batch.worker import WorkerConfig
from openhmr.inference.predictor import ASSETS
from openhmr.posenet.precision import PRECISIONS


def make_images(folder: Path, count: int) -> None:
    """The bundled photo at a few scales and mirrored (one person each)."""
    image = cv2.imread(str(ASSETS / "astronaut.jpg"))
    for index in range(count):
        scale = 0.5 + 0.5 * (index % 5) / 4
        varied = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(folder / f"img_{index:04d}.jpg"), varied[:, ::-1] if index % 2 else varied)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1, help="run the worker counts N times")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="the workers' pose networks (openhmr.posenet.precision; auto as openhmr batch)",
    )
    args = parser.parse_args()
    import ray

    start_ray(ray, None)  # as `openhmr batch` starts it (quiet, one OpenMP thread a worker)
    cpu = platform.processor() or platform.machine()
    cpus = int(ray.cluster_resources()["CPU"])
    print(f"machine: {cpu}, {cpus} CPUs; python {sys.version.split()[0]}; {args.precision}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        make_images(folder, args.images)
        rounds = []
        for round_ in range(args.rounds):
            rows = []
            config = WorkerConfig(threads=1, precision=args.precision)
            for workers in args.workers:
                summary = run_batch(
                    [folder], Path(tmp) / f"out{round_}_{workers}", config,
                    workers=workers, batch_size=args.batch_size, progress=False,
                )  # fmt: skip
                steady = summary.seconds - summary.first_result_seconds
                rows.append(
                    (workers, summary.images_per_second, (args.images - args.batch_size) / steady)
                )
            rounds.append(rows)
            print_round(rows, f"round {round_ + 1}: {args.images} images, batch "
                        f"{args.batch_size}, 1 torch thread a worker")  # fmt: skip
    ray.shutdown()
    if args.rounds > 1:
        print(f"median ratio to 1 worker over {args.rounds} rounds (overall / after first result)")
        for column, workers in enumerate(args.workers):
            overall = statistics.median(r[column][1] / r[0][1] for r in rounds)
            steady = statistics.median(r[column][2] / r[0][2] for r in rounds)
            print(f"{workers:7d}  {overall:.2f}x / {steady:.2f}x")


def print_round(rows: list[tuple[int, float, float]], title: str) -> None:
    base = rows[0]
    print(title)
    print("workers  images/s  (ratio)  after first result  (ratio)")
    for workers, overall, steady in rows:
        print(
            f"{workers:7d}  {overall:8.2f}  ({overall / base[1]:.2f}x)  {steady:18.2f}  "
            f"({steady / base[2]:.2f}x)",
            flush=True,
        )


if __name__ == "__main__":
    main()
