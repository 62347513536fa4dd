"""Typed experiment configuration: YAML in, validated dataclasses out.

One YAML file is one experiment. Each stage owns its section's dataclass
(``teacher/config.py``, ``detect/config.py``, ``models/config.py``,
``data/config.py``, ``engine/config.py``); this module assembles them and
provides the machinery every stage shares:

* :func:`from_dict` builds a (nested) dataclass from plain data and rejects
  unknown keys with an error that lists the valid ones;
* :func:`apply_overrides` applies command-line ``key.sub=value`` overrides
  (values parsed as YAML scalars);
* :func:`load_config` / :func:`save_config` read and write the YAML form.

Imports only the stdlib, yaml and the stage config modules (which import no
torch).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from clhoi.data.config import DataConfig
from clhoi.detect.config import DetectorConfig
from clhoi.engine.config import EvalConfig, LossConfig, TrainConfig
from clhoi.models.config import ModelConfig
from clhoi.teacher.config import TeacherConfig

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override that does not fit the schema."""


@dataclass
class ExperimentConfig:
    """A complete, reproducible experiment: every stage's settings.

    Attributes:
        name: experiment name (used for output folders).
        seed: global random seed.
        output_dir: where checkpoints, logs and predictions go.
        supervision: ``annotation_free`` (teacher labels only; ground-truth
            HOIs refused) or ``full`` (ground-truth HOIs, UPT-style).
    """

    name: str = "clhoi"
    seed: int = 42
    output_dir: str = "runs/clhoi"
    supervision: str = "annotation_free"
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if self.supervision not in ("annotation_free", "full"):
            raise ConfigError(f"supervision must be 'annotation_free' or 'full', got {self.supervision!r}")


# ----------------------------------------------------------------------------- machinery
def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: {value!r} fits none of {tp}")
    if is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        inner = args[0] if args else Any
        out = [_convert(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        kt, vt = args if args else (Any, Any)
        return {_convert(k, kt, where): _convert(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        number = None
        try:
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                number = float(value)
        except (ValueError, OverflowError):
            pass
        if number is None:
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(number):  # NaN / inf would pass every range check below unnoticed
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys raise :class:`ConfigError`."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls) if f.init]
    unknown = [k for k in data if k not in names]
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key(s) {', '.join(prefix + k for k in unknown)}; "
            f"valid keys{' in ' + where if where else ''}: {', '.join(names)}"
        )
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-data form of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def apply_overrides(cfg: T, overrides: list[str]) -> T:
    """Return a copy of ``cfg`` with ``key.sub=value`` overrides applied."""
    data = to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for i, p in enumerate(parts[:-1]):
            if not isinstance(node, dict) or p not in node or not isinstance(node[p], dict):
                valid = sorted(k for k, v in node.items() if isinstance(v, dict)) if isinstance(node, dict) else []
                raise ConfigError(f"unknown config section {'.'.join(parts[: i + 1])!r}; valid: {', '.join(valid)}")
            node = node[p]
        if parts[-1] not in node:
            raise ConfigError(f"unknown config key {key!r}; valid keys here: {', '.join(sorted(node))}")
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    return from_dict(type(cfg), data)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load an experiment YAML (defaults when ``path`` is None) and apply overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a text (UTF-8) YAML file; give an experiment YAML such as "
                              "configs/hicodet.yaml") from None
        if "\x00" in text:
            raise ConfigError(f"{path}: holds binary data (NUL bytes); give an experiment YAML")
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
        except RecursionError:
            raise ConfigError(f"{path}: nested too deeply to be a config") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping of sections")
        data = loaded or {}
        # a run's saved config: relative paths start from its folder; clhoi:// anywhere
        base = path.parent if text.startswith(RUN_CONFIG_HEADER) else None
        data = map_paths(data, lambda v, name: resolve_path(v, base, name))
    try:
        cfg = from_dict(ExperimentConfig, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None
    return apply_overrides(cfg, overrides or [])


def save_config(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")


# ----------------------------------------------------------------------------- paths that travel
RUN_CONFIG_HEADER = "# clhoi run config: relative paths start from this file's folder\n"
"""First line of a run's saved config; :func:`load_config` then resolves its relative paths against the file."""

PACKAGE_SCHEME = "clhoi://"
"""Prefix of a path inside the installed ``clhoi`` package (``clhoi://sandbox/assets/clip``)."""

PATH_FIELDS = (
    "output_dir", "data.image_root", "data.test_image_root", "data.train_annotations", "data.test_annotations",
    "data.coco_instances", "data.labels", "data.detections_train", "data.detections_test", "data.cache_dir",
    "teacher.captions_file", "teacher.image_list",
)
"""Config keys that always hold a file or folder."""

NAME_FIELDS = ("model.clip", "model.qformer", "detector.model", "teacher.model", "teacher.parser",
               "teacher.prompt_caption", "teacher.prompt_parse")
"""Config keys holding a Hugging Face id (or another name) or a local path; only existing paths are rewritten."""


def package_root() -> Path:
    """The folder of the installed ``clhoi`` package."""
    return Path(__file__).resolve().parent


def resolve_path(value: str, base: str | Path | None = None, name: bool = False) -> str:
    """A config path as the file system sees it.

    ``clhoi://x`` is ``x`` inside the installed package; a relative path is
    taken from ``base`` (when given). With ``name=True`` the value may be a
    Hugging Face id: a relative value is rewritten only when ``base / value`` exists.
    """
    if not value:
        return value
    if value.startswith(PACKAGE_SCHEME):
        return str(package_root() / value[len(PACKAGE_SCHEME):])
    if base is None or Path(value).is_absolute():
        return value
    candidate = Path(base) / value
    if name and not candidate.exists():
        return value
    return os.path.normpath(candidate)


def portable_path(value: str, base: str | Path, roots: tuple[str | Path, ...] = (), name: bool = False) -> str:
    """The form of a path written into a saved config that lives in folder ``base``.

    Paths inside one of ``roots`` (the run directory) are written relative to
    ``base`` and travel with it; paths inside the installed package become
    ``clhoi://...``; other paths become absolute. With ``name=True`` a value
    that is not an existing path (a Hugging Face id) is kept as it is.
    """
    if not value or value.startswith(PACKAGE_SCHEME) or (name and not Path(value).exists()):
        return value
    full = Path(os.path.abspath(value))
    if full.resolve().is_relative_to(package_root()):
        return PACKAGE_SCHEME + full.resolve().relative_to(package_root()).as_posix()
    if any(full.is_relative_to(os.path.abspath(r)) for r in roots):
        return Path(os.path.relpath(full, os.path.abspath(base))).as_posix()
    return str(full)


def map_paths(data: dict[str, Any], fn: Any) -> dict[str, Any]:
    """Apply ``fn(value, name: bool)`` to every path / name field of a plain-data experiment config."""
    out = copy.deepcopy(data)
    for keys, is_name in ((PATH_FIELDS, False), (NAME_FIELDS, True)):
        for key in keys:
            *parents, leaf = key.split(".")
            node = out
            for p in parents:
                node = node.get(p) if isinstance(node, dict) else None
            if isinstance(node, dict) and isinstance(node.get(leaf), str):
                node[leaf] = fn(node[leaf], is_name)
    return out


def save_run_config(cfg: Any, path: str | Path, roots: tuple[str | Path, ...] = ()) -> None:
    """Write a run's config so that the run folder can be moved or copied anywhere.

    Paths inside ``roots`` (the run directory) are stored relative to the
    file's folder, package files as ``clhoi://``, other paths absolute; the
    file starts with :data:`RUN_CONFIG_HEADER` so that :func:`load_config`
    resolves them against wherever the file is now.
    """
    path = Path(path)
    data = map_paths(to_dict(cfg), lambda v, name: portable_path(v, path.parent, roots, name))
    path.write_text(RUN_CONFIG_HEADER + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def config_hash(cfg: Any) -> str:
    """Short stable hash of a config's content (for provenance)."""
    blob = json.dumps(to_dict(cfg), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
