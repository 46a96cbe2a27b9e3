"""Read the official SMPL `.pkl` files without chumpy and without plain `pickle.load`.

The official files were pickled (Python 2, protocol 2) with chumpy arrays (`chumpy.ch.Ch`),
scipy sparse matrices and numpy arrays. A restricted unpickler resolves only those classes —
each chumpy or sparse class to a passive stand-in that merely records its pickled state — and
refuses every other global, so loading a file can never run foreign code. The stand-ins are
then turned into plain numpy arrays / scipy matrices.
"""

from __future__ import annotations

import codecs
import copyreg
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from openhmr.errors import OpenHMRError


class _ChumpyArray:
    """Stands in for `chumpy.ch.Ch`: keeps the pickled state; its value is the state's `x`."""

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def to_numpy(self) -> np.ndarray:
        state = getattr(self, "state", None)
        if not isinstance(state, dict) or "x" not in state:
            raise OpenHMRError(
                "SMPL pickle: a chumpy object without a stored value 'x' "
                "(only plain chumpy arrays are supported)"
            )
        return np.asarray(state["x"])


class _SparseMatrix:
    """Stands in for a scipy CSC/CSR matrix: keeps data, indices, indptr and shape."""

    fmt = "csc"

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def to_scipy(self) -> scipy.sparse.spmatrix:
        state = getattr(self, "state", None)
        try:
            parts = (state["data"], state["indices"], state["indptr"])
            shape = tuple(state.get("_shape") or state["shape"])
        except (TypeError, KeyError) as err:
            raise OpenHMRError(f"SMPL pickle: sparse matrix state lacks {err}") from None
        factory = scipy.sparse.csc_matrix if self.fmt == "csc" else scipy.sparse.csr_matrix
        return factory(tuple(np.asarray(p) for p in parts), shape=shape)


class _CsrMatrix(_SparseMatrix):
    fmt = "csr"


def _numpy_globals() -> dict[tuple[str, str], Any]:
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    scalar = np.float64(0).__reduce__()[0]
    allowed = {}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = scalar
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    return allowed


def _allowed_globals() -> dict[tuple[str, str], Any]:
    allowed = _numpy_globals()
    allowed[("chumpy.ch", "Ch")] = _ChumpyArray
    for module in ("scipy.sparse.csc", "scipy.sparse._csc"):
        allowed[(module, "csc_matrix")] = _SparseMatrix
    for module in ("scipy.sparse.csr", "scipy.sparse._csr"):
        allowed[(module, "csr_matrix")] = _CsrMatrix
    for module in ("copy_reg", "copyreg"):
        allowed[(module, "_reconstructor")] = copyreg._reconstructor
    for module in ("__builtin__", "builtins"):
        allowed[(module, "object")] = object
        allowed[(module, "set")] = set
    allowed[("_codecs", "encode")] = codecs.encode
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy arrays, plain chumpy arrays and scipy CSC/CSR
    matrices; any other global raises `OpenHMRError`."""

    _allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise OpenHMRError(
                f"SMPL pickle: refusing to load class {module}.{name} "
                f"(only numpy arrays, chumpy arrays and scipy sparse matrices "
                f"are allowed)"
            ) from None


def _plain(value: Any) -> Any:
    """Replace stand-ins by numpy arrays / scipy matrices, recursively through containers."""
    if isinstance(value, _ChumpyArray):
        return value.to_numpy()
    if isinstance(value, _SparseMatrix):
        return value.to_scipy()
    if isinstance(value, dict):
        return {
            (k.decode("latin1") if isinstance(k, bytes) else k): _plain(v) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def load_restricted_pickle(path: str | Path) -> Any:
    """Unpickle a file through `RestrictedUnpickler`; stand-ins become numpy arrays / scipy
    matrices. Raises `OpenHMRError` for a missing or corrupt file or a refused class."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise OpenHMRError(f"cannot read {path}: {err.strerror}") from None
    try:
        content = RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except OpenHMRError:
        raise
    except Exception as err:  # any malformed stream: one clear error
        raise OpenHMRError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from None
    return _plain(content)


def load_smpl_pickle(path: str | Path) -> dict[str, Any]:
    """Read an SMPL-style `.pkl` into a dict of numpy arrays, scipy sparse matrices and plain
    values."""
    content = load_restricted_pickle(path)
    if not isinstance(content, dict):
        raise OpenHMRError(
            f"{path}: expected a pickled dict of arrays, found {type(content).__name__}"
        )
    return content
