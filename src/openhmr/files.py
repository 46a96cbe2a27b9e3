"""File helpers: atomic output (write to a temporary name beside the target, then rename) and
saying what an input file is when it is not what was expected."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


def writable_file_error(path: str | os.PathLike) -> str | None:
    """Why `path` cannot become a file (it is a folder, or one of its folders is a file), or
    None when nothing on disk stands in the way."""
    path = Path(path)
    if path.is_dir():
        return f"{path} is a folder; expected a file path"
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, not a folder"
    return None


def writable_folder_error(path: str | os.PathLike) -> str | None:
    """Why `path` cannot become a folder (it, or one of its parents, is a file), or None."""
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists():
            return None if folder.is_dir() else f"{folder} is a file, not a folder"
    return None


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is
    removed (with the folders made for it), so a reader never sees a half-written file.  A
    path that cannot be written (a folder, under a file, no permission) raises `OpenHMRError`
    before the work."""
    from openhmr.errors import OpenHMRError

    path = Path(path)
    problem = writable_file_error(path)
    if problem:
        raise OpenHMRError(f"cannot write {path}: {problem}")
    made = [folder for folder in path.parents if not folder.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise OpenHMRError(f"cannot write {path}: {err.strerror or err}") from None
    os.close(fd)
    tmp_path, done = Path(tmp), False
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp's 0600 would make outputs private
        os.replace(tmp_path, path)
        done = True
    finally:
        tmp_path.unlink(missing_ok=True)
        if not done:
            remove_empty_folders(made)


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove those of `folders` (deepest first) that are empty; leave the rest."""
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        with suppress(OSError):  # not empty (or gone): leave it
            folder.rmdir()


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


# leading bytes of file kinds a user may pass by mistake -> what to call them
_MAGIC = (
    (b"PK\x03\x04", "a zip archive"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\x89HDF", "an HDF5 file"),
    (b"MATLAB 5.0 MAT-file", "a MATLAB .mat file"),
    (b"\x1f\x8b", "a gzip file"),
    (b"%PDF", "a PDF document"),
    (b"\x93NUMPY", "a numpy .npy array"),
    *((b"\x80" + bytes([protocol]), "a Python pickle") for protocol in (2, 3, 4, 5)),
)


def describe_file(path: str | os.PathLike) -> str:
    """What a file looks like from its first bytes ("a JPEG image", "an empty file", "a text
    file", ...), for messages that say what an input is not."""
    path = Path(path)
    if path.is_dir():
        return "a folder"
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError as err:
        return f"an unreadable file ({err.strerror or err})"
    if not head:
        return "an empty file"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) >= 9 and head[8:9] == b"{" and b'"' in head[8:32]:
        return "a safetensors file"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:  # not just a character cut at the 512-byte boundary
            return "a binary file of an unknown kind"
    return "a text file"


def is_zip_file(path: str | os.PathLike) -> bool:
    """Whether the file starts like a zip archive (`.npz`, torch's checkpoint format)."""
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def read_npz(path: str | os.PathLike, what: str = ".npz") -> dict:
    """All arrays of an `.npz` (never unpickling objects); one `OpenHMRError` naming `what`
    (e.g. "record index") when the file is unreadable, not an `.npz` at all, or holds Python
    objects."""
    import numpy as np

    from openhmr.errors import OpenHMRError

    if Path(path).is_file() and not is_zip_file(path):
        raise OpenHMRError(f"{path}: expected a {what} (.npz), found {describe_file(path)}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as err:
        if "pickle" not in str(err):
            raise OpenHMRError(f"{path}: not a readable {what} ({err})") from None
        raise OpenHMRError(
            f"{path}: the {what} holds Python objects (object arrays), which are never "
            "unpickled; expected plain numeric and string arrays"
        ) from None
    except Exception as err:
        raise OpenHMRError(f"{path}: not a readable {what} ({err})") from None
