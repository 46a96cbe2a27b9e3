"""Evaluation output: identities of the checkpoint and the data, the terminal table, and the
JSON file (written atomically) holding every number."""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from openhmr.data.records import RecordIndex
from openhmr.evaluate.protocols import JOINT_NAMES, EvaluationResult
from openhmr.files import atomic_path

FORMAT = "openhmr-evaluation/1"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (a directory: of its files' names and bytes, sorted)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode())
        with open(file, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
    return digest.hexdigest()


def checkpoint_identity(path: str | os.PathLike, record: dict[str, Any]) -> dict[str, Any]:
    """Path, SHA-256 and what its record says it is (source, architecture, body model)."""
    path = Path(path)
    return {
        "path": str(path.resolve()),
        "sha256": sha256_file(path),
        "source": record.get("source"),
        "architecture": record.get("architecture"),
        "body_model": record.get("body_model"),
    }


def data_identity(
    path: str | os.PathLike, index: RecordIndex, rows_evaluated: int
) -> dict[str, Any]:
    """Index path, SHA-256, dataset name and split (from its meta), row counts."""
    path = Path(path)
    return {
        "path": str(path.resolve()),
        "sha256": sha256_file(path),
        "dataset": index.name,
        "split": index.meta.get("split", path.stem),
        "rows": len(index),
        "rows_evaluated": rows_evaluated,
        "image_root": str(index.image_root),
    }


def _finite(value: Any) -> Any:
    """JSON has no NaN: NaN/inf become null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def build_report(result: EvaluationResult, **identities: Any) -> dict[str, Any]:
    """The JSON document: format, protocol, identities (checkpoint, data, body_model, ...),
    metrics, per-joint tables (with joint names), per-class F1, counts, definitions, notes."""
    body = asdict(result)
    return _finite(
        {
            "format": FORMAT,
            "protocol": result.protocol,
            **identities,
            "metrics": body["metrics"],
            "joint_names": list(JOINT_NAMES),
            "per_joint": body["per_joint"],
            "per_class": body["per_class"],
            "counts": body["counts"],
            "definitions": body["definitions"],
            "notes": body["notes"],
        }
    )


def write_report(path: str | os.PathLike, report: dict[str, Any]) -> Path:
    """Write the report as indented JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    return path


def format_table(result: EvaluationResult) -> str:
    """The metrics, then the per-joint table, as aligned plain text."""
    lines = [f"protocol {result.protocol}: {result.counts.get('rows', 0)} rows"]
    width = max((len(k) for k in result.metrics), default=10)
    for name, value in result.metrics.items():
        unit = "mm" if name.endswith("mpjpe") else ("" if name.endswith("f1") else "%")
        shown = f"{value:.4f}" if name.endswith("f1") else f"{value:.2f}"
        lines.append(f"  {name:<{width}}  {shown:>9} {unit}".rstrip())
    if result.per_joint:
        tables = list(result.per_joint)
        header = "  " + f"{'joint':<15}" + "".join(f"{t:>17}" for t in tables)
        lines += ["", header]
        for j, joint in enumerate(JOINT_NAMES):
            cells = "".join(f"{result.per_joint[t][j]:>17.2f}" for t in tables)
            lines.append(f"  {joint:<15}{cells}")
    for table, classes in result.per_class.items():
        lines += ["", f"  {table}: " + ", ".join(f"{k} {v:.3f}" for k, v in classes.items())]
    lines += [f"  note: {note}" for note in result.notes]
    return "\n".join(lines)
