"""Atomic file output: write to a temporary name beside the target, then rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is
    removed, so a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp's 0600 would make outputs private
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_npz(path: str | os.PathLike, arrays: dict, compress: bool = True) -> None:
    """Write arrays as an `.npz` atomically and byte-reproducibly (fixed zip timestamps, unlike
    `numpy.savez`, whose entries carry the current time). Loads with `numpy.load`."""
    import zipfile

    import numpy as np

    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=method) as archive:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            with archive.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)


def read_npz(path: str | os.PathLike, what: str = ".npz") -> dict:
    """All arrays of an `.npz` (never unpickling objects); one `OpenHMRError` naming `what`
    (e.g. "record index") when the file is unreadable or holds Python objects."""
    import numpy as np

    from openhmr.errors import OpenHMRError

    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as err:
        raise OpenHMRError(
            f"{path}: the {what} holds Python objects, which are not loaded ({err})"
        ) from None
    except Exception as err:
        raise OpenHMRError(f"{path}: not a readable {what} ({err})") from None
