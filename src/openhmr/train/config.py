"""Training configuration: YAML files (configs/*.yaml) with `--set key.sub=value` overrides,
read into the frozen dataclasses of `openhmr.train.sections` (re-exported here); unknown keys,
values of the wrong type and out-of-range values (`openhmr.train.validate`) are errors."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from openhmr.errors import OpenHMRError
from openhmr.files import describe_file
from openhmr.train.sections import (
    DataSection,
    DatasetEntry,
    ModelSection,
    OptimSection,
    SyntheticSplit,
    TrainConfig,
    TrainerSection,
)
from openhmr.train.validate import check_values

__all__ = [
    "DataSection",
    "DatasetEntry",
    "ModelSection",
    "OptimSection",
    "SyntheticSplit",
    "TrainConfig",
    "TrainerSection",
    "apply_overrides",
    "load_config",
]


def _build(cls: type, values: Any, where: str) -> Any:
    """Construct dataclass `cls` from a dict, recursively, rejecting unknown keys."""
    if not isinstance(values, dict):
        raise OpenHMRError(f"config {where or 'root'}: expected a mapping, got {values!r}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise OpenHMRError(
            f"config {where or 'root'}: unknown keys {unknown}; known: {sorted(known)}"
        )
    kwargs = {}
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        path = f"{where}.{name}" if where else name
        default = (
            known[name].default_factory()
            if known[name].default_factory is not dataclasses.MISSING
            else known[name].default
        )  # type: ignore[misc]
        if dataclasses.is_dataclass(default):
            value = _build(type(default), value or {}, path)
        elif cls is DataSection and name == "train":
            if not isinstance(value or [], list):
                raise OpenHMRError(f"config {path}: expected a list of datasets, got {value!r}")
            value = tuple(
                _build(DatasetEntry, v, f"{path}[{i}]") for i, v in enumerate(value or [])
            )
        elif cls is DataSection and name == "synthetic":
            if not isinstance(value or {}, dict):
                raise OpenHMRError(f"config {path}: expected a mapping of splits, got {value!r}")
            value = {k: _build(SyntheticSplit, v, f"{path}.{k}") for k, v in (value or {}).items()}
        elif name in ("augment", "weights", "feature_augment") and not isinstance(
            value or {}, dict
        ):
            raise OpenHMRError(f"config {path}: expected a mapping, got {value!r}")
        kwargs[name] = _coerce(value, hints[name], path)
    return cls(**kwargs)


_SCALAR_TYPES: dict[Any, tuple[str, tuple[type, ...]]] = {
    int: ("an integer", (int,)),
    float: ("a number", (float,)),
    bool: ("true or false", (bool,)),
    str: ("a string", (str,)),
    str | None: ("a string or null", (str, type(None))),
}


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """The value as the field's type: numbers written like 3e-4 are strings to YAML 1.1, a
    whole float is an integer, a number names a string field (precision: 32); anything else
    that is not of the field's type is an error."""
    if hint in (float, int) and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise OpenHMRError(f"config {path}: expected a number, got {value!r}") from None
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is float and is_number:
        return float(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if hint in (str, str | None) and is_number:
        return str(value)
    if hint in _SCALAR_TYPES:
        name, types = _SCALAR_TYPES[hint]
        if not isinstance(value, types) or (hint is int and isinstance(value, bool)):
            raise OpenHMRError(f"config {path}: expected {name}, got {value!r}")
    return value


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`["optim.encoder_lr=3e-5", "trainer.max_steps=10"]` applied to a nested dict; each value
    is parsed as YAML (numbers, booleans, lists, null)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise OpenHMRError(f"--set: expected key=value, got {item!r}")
        node = values
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise OpenHMRError(f"--set {key}: {part!r} is not a section")
        try:
            node[leaf] = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise OpenHMRError(f"--set {key}: not a YAML value ({_yaml_problem(err)})") from None
    return values


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's several-line message in one line: the problem and where."""
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{getattr(err, 'problem', None) or type(err).__name__}{where}"


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """A `TrainConfig` from a YAML file (None: all defaults) plus overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise OpenHMRError(f"config file not found: {path}")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise OpenHMRError(
                f"{path}: expected a YAML config (text), found {describe_file(path)}"
            ) from None
        except yaml.YAMLError as err:
            raise OpenHMRError(f"{path}: not valid YAML ({_yaml_problem(err)})") from None
        if not isinstance(values, dict):
            raise OpenHMRError(f"{path}: expected a YAML mapping of sections, got {values!r:.60}")
    values = apply_overrides(values, overrides or [])
    return check_values(_build(TrainConfig, values, ""))
