"""Converters from public datasets' own files to the record format, one file per dataset.
`CONVERTERS[name](raw, out)` writes `<out>/<name>_<split>.npz` and returns the paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from openhmr.data.converters.coco import convert_coco
from openhmr.data.converters.lsp import convert_lsp, convert_lspet
from openhmr.data.converters.mpi_inf_3dhp import convert_3dhp_test, convert_3dhp_train
from openhmr.data.converters.mpii import convert_mpii
from openhmr.data.converters.pw3d import convert_3dpw
from openhmr.data.converters.spin import convert_spin

CONVERTERS: dict[str, Callable[..., list[Path]]] = {
    "lsp": convert_lsp,
    "lspet": convert_lspet,
    "mpii": convert_mpii,
    "coco": convert_coco,
    "3dhp-train": convert_3dhp_train,
    "3dhp-test": convert_3dhp_test,
    "3dpw": convert_3dpw,
    "spin": convert_spin,
}

__all__ = ["CONVERTERS"]
