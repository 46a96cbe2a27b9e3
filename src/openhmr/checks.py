"""Checks of user-given values, shared by the command line and the library: each returns the
value (normalised) or raises `OpenHMRError` naming what was expected and what was found, so a
command refuses a bad input before it does any work or writes anything."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

from openhmr.errors import OpenHMRError
from openhmr.files import writable_file_error, writable_folder_error


def check_number(
    name: str,
    value: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
) -> float:
    """A finite number within the bounds (minimum/maximum inclusive, above/below exclusive)."""
    low = f"[{minimum:g}" if minimum is not None else f"({above:g}" if above is not None else ""
    high = f"{maximum:g}]" if maximum is not None else f"{below:g})" if below is not None else ""
    if low and high:
        wanted = f"a number in {low}, {high}"
    elif low:
        wanted = f"a number {'≥' if minimum is not None else '>'} {low[1:]}"
    elif high:
        wanted = f"a number {'≤' if maximum is not None else '<'} {high[:-1]}"
    else:
        wanted = "a finite number"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    ok = ok and (above is None or value > above) and (below is None or value < below)
    if not ok:
        raise OpenHMRError(f"{name}: expected {wanted}, got {value!r}")
    return value


def check_count(name: str, value: int, minimum: int = 1) -> int:
    """An integer ≥ minimum (counts, sizes, workers)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise OpenHMRError(f"{name}: expected an integer ≥ {minimum}, got {value!r}")
    return value


def check_output_file(
    name: str, path: str | os.PathLike, suffixes: Iterable[str] | None = None
) -> Path:
    """A path a file can be written to: not a folder, not under a file, with one of
    `suffixes` (lower-case, with the dot) when given."""
    path = Path(path)
    problem = writable_file_error(path)
    if problem:
        raise OpenHMRError(f"{name}: cannot write {path}: {problem}")
    if suffixes is not None:
        suffixes = tuple(suffixes)
        if path.suffix.lower() not in suffixes:
            raise OpenHMRError(
                f"{name}: expected a file name ending in {' or '.join(suffixes)}, got {path}"
            )
    return path


def check_output_folder(name: str, path: str | os.PathLike) -> Path:
    """A path a folder can be made at (or an existing folder)."""
    path = Path(path)
    problem = writable_folder_error(path)
    if problem:
        raise OpenHMRError(f"{name}: expected a folder, but {problem}")
    return path


def check_device(name: str, device: str) -> str:
    """A torch device this machine has: "cpu", "cuda", "cuda:N" or "mps"."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda", "mps"):
        raise OpenHMRError(f"{name}: expected cpu, cuda, cuda:N or mps, got {device!r}")
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise OpenHMRError(
                f"{name} {device}: this machine has no usable CUDA GPU (torch "
                f"{torch.__version__}); use --device cpu"
            )
        if parsed.index is not None and parsed.index >= count:
            raise OpenHMRError(
                f"{name} {device}: expected a GPU index below {count} (this machine's GPUs)"
            )
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise OpenHMRError(f"{name} mps: Apple's MPS is not available here; use --device cpu")
    return device
