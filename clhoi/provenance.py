"""Where labels, caches and checkpoints came from, and the annotation-free guard.

Every artefact a run writes (each ``labels.jsonl`` record, feature cache and
checkpoint) carries a provenance dict: the teacher model and prompts, the
detector and what it was trained on, the config hash and the code version.
``clhoi eval`` prints it above its metrics (:func:`format_provenance_header`),
so a reader can tell which labels an "annotation-free" number really used.

:func:`check_annotation_free` is the strict annotation-free mode: training
refuses ground-truth HOI labels and warns when the detector was fine-tuned on
the evaluation dataset's boxes.

Provenance dict keys (all optional; unknown keys are kept):

* ``code``: ``{"clhoi": version, "git_commit": sha or None, "git_dirty": bool or None}``
* ``config_hash``: :func:`clhoi.config.config_hash` of the experiment config
* ``supervision``: ``annotation_free`` or ``full``
* ``dataset``: ``hicodet``, ``vcoco`` or ``sandbox``
* ``teacher``: the provenance of the label records the run read, as
  :func:`clhoi.teacher.provenance.teacher_provenance` writes it into every
  record (``{"teacher": id, "backend", "model", "parser", "prompts", ...}``);
  the config's teacher, marked ``"source": "config"``, when no records were read
* ``detector``: ``{"model", "trained_on"}``
* ``labels``: ``{"path", "teachers": [ids], "num_records", "record_provenance"}``
* ``created``: UTC time, ISO 8601

Imports only the stdlib and the torch-free parts of clhoi.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import clhoi
from clhoi.config import ExperimentConfig, config_hash
from clhoi.detect.config import DetectorConfig
from clhoi.teacher.config import TeacherConfig

PROVENANCE_FILE = "provenance.json"
"""File name of the provenance written beside a checkpoint's ``config.yaml``."""
METADATA_KEY = "clhoi.provenance"
"""Key of the provenance JSON in safetensors metadata (feature caches)."""
GROUND_TRUTH_PREFIX = "gt:"
"""Teacher ids starting with this mark labels made from ground-truth HOIs (oracles)."""


class AnnotationFreeError(ValueError):
    """An annotation-free run that would use ground-truth HOI labels."""


# ----------------------------------------------------------------------------- builders
@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """The running code: ``{"clhoi": version, "git_commit": sha, "git_dirty": bool}``.

    ``git_commit`` and ``git_dirty`` are ``None`` when clhoi is not imported
    from a git checkout (an installed wheel) or git is unavailable.
    """
    out: dict[str, Any] = {"clhoi": clhoi.__version__, "git_commit": None, "git_dirty": None}
    root = Path(clhoi.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return out
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "clhoi"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return out
    out["git_commit"] = sha or None
    out["git_dirty"] = bool(status.strip())
    return out


def now_utc() -> str:
    """Current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def config_teacher_provenance(cfg: TeacherConfig, prompts: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``teacher`` section when no label record says better: the config's teacher.

    Has the keys of the record provenance (:func:`clhoi.teacher.provenance.teacher_provenance`)
    the header reads, plus ``"source": "config"``.
    """
    return {"teacher": cfg.model, "backend": cfg.backend, "model": cfg.model, "prompts": dict(prompts or {}),
            "source": "config"}


def detector_provenance(cfg: DetectorConfig) -> dict[str, Any]:
    """The ``detector`` section: detector id and the boxes it was trained on.

    ``trained_on`` is ``cfg.trained_on``: ``coco2017`` for the off-the-shelf
    DETR, ``hicodet`` for a detector fine-tuned on HICO-DET boxes.
    """
    return {"model": cfg.model, "trained_on": cfg.trained_on or "unknown"}


def run_provenance(
    cfg: ExperimentConfig,
    prompts: Mapping[str, str] | None = None,
    labels: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance of a run (checkpoint, cache): config hash, teacher, detector, code.

    Args:
        cfg: the experiment config the artefact was made with.
        prompts: the teacher prompts, when known.
        labels: the ``labels`` section (see :func:`labels_provenance`), when the
            run trained on a label store; its records' provenance then is the
            ``teacher`` section (what really made the labels), else the config's
            teacher is, marked ``"source": "config"``.
    """
    teacher = dict(labels["record_provenance"]) if labels and labels.get("record_provenance") else \
        config_teacher_provenance(cfg.teacher, prompts)
    out: dict[str, Any] = {
        "code": code_version(),
        "config_hash": config_hash(cfg),
        "supervision": cfg.supervision,
        "dataset": cfg.data.dataset,
        "teacher": teacher,
        "detector": detector_provenance(cfg.detector),
        "created": now_utc(),
    }
    if labels is not None:
        out["labels"] = dict(labels)
    return out


def labels_provenance(path: str | Path, records: Iterable[Any]) -> dict[str, Any]:
    """The ``labels`` section: the label store a run read and which teachers wrote it.

    Args:
        path: the ``labels.jsonl`` path.
        records: its :class:`clhoi.structures.LabelRecord` objects.

    Returns:
        ``{"path", "teachers": [ids], "num_records", "record_provenance"}``, the
        last being the provenance of the first record that has one.
    """
    teachers: dict[str, None] = {}
    first: dict[str, Any] = {}
    n = 0
    for r in records:
        n += 1
        teachers[r.teacher or "(none)"] = None
        if not first and r.provenance:
            first = dict(r.provenance)
    return {"path": str(path), "teachers": list(teachers), "num_records": n, "record_provenance": first}


# ----------------------------------------------------------------------------- files
def write_provenance(directory: str | Path, prov: Mapping[str, Any]) -> Path:
    """Write ``provenance.json`` into ``directory`` (a checkpoint); returns its path."""
    path = Path(directory) / PROVENANCE_FILE
    path.write_text(json.dumps(dict(prov), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_provenance(directory: str | Path) -> dict[str, Any]:
    """Read a checkpoint's ``provenance.json``; ``{}`` when the checkpoint predates it."""
    path = Path(directory) / PROVENANCE_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); delete it or rewrite it from the run's config") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def to_metadata(prov: Mapping[str, Any]) -> dict[str, str]:
    """Provenance as safetensors metadata (``dict[str, str]``) under :data:`METADATA_KEY`."""
    return {METADATA_KEY: json.dumps(dict(prov), ensure_ascii=False, sort_keys=True)}


def from_metadata(metadata: Mapping[str, str] | None) -> dict[str, Any]:
    """Inverse of :func:`to_metadata`; ``{}`` when the file carries none."""
    if not metadata or METADATA_KEY not in metadata:
        return {}
    return json.loads(metadata[METADATA_KEY])


# ----------------------------------------------------------------------------- header
def _short(text: str, width: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def format_provenance_header(prov: Mapping[str, Any]) -> str:
    """Human-readable provenance block printed above ``clhoi eval``'s metrics.

    Missing sections print as ``unknown`` so that a checkpoint without
    provenance is visibly so.
    """
    code = prov.get("code") or {}
    sha = code.get("git_commit")
    code_s = f"clhoi {code.get('clhoi', 'unknown')}"
    if sha:
        code_s += f" @ {sha[:10]}" + (" (uncommitted changes)" if code.get("git_dirty") else "")
    teacher = prov.get("teacher") or {}
    if isinstance(teacher, str):
        teacher = {"teacher": teacher}
    teacher_s = teacher.get("model") or teacher.get("teacher") or "unknown"
    if teacher.get("backend"):
        teacher_s += f" [{teacher['backend']}]"
    if teacher.get("teacher") and teacher.get("teacher") != teacher.get("model"):
        teacher_s += f" as {teacher['teacher']}"
    if teacher.get("parser"):
        teacher_s += f", parsed by {teacher['parser']}"
    if teacher.get("source") == "config":
        teacher_s += " (from the config: no label records were read)"
    detector = prov.get("detector") or {}
    lines = [
        "provenance",
        f"  code         {code_s}",
        f"  config hash  {prov.get('config_hash', 'unknown')}",
        f"  supervision  {prov.get('supervision', 'unknown')}"
        + (f" on {prov['dataset']}" if prov.get("dataset") else ""),
        f"  teacher      {teacher_s}",
    ]
    for name, text in (teacher.get("prompts") or {}).items():
        lines.append(f"    prompt {name}: {_short(text)}")
    lines.append(
        f"  detector     {detector.get('model', 'unknown')} (trained on {detector.get('trained_on', 'unknown')})"
    )
    labels = prov.get("labels")
    if labels:
        lines.append(
            f"  labels       {labels.get('path', '?')}: {labels.get('num_records', '?')} records from "
            f"{', '.join(labels.get('teachers', [])) or 'unknown'}"
        )
    if prov.get("created"):
        lines.append(f"  created      {prov['created']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- strict mode
def is_ground_truth_record(record: Any) -> bool:
    """Whether a label record was made from ground-truth HOIs rather than a teacher.

    True when its teacher id (or its provenance's) starts with ``gt:`` or its
    provenance says ``"source": "ground_truth"``.
    """
    prov = getattr(record, "provenance", None) or {}
    teacher = prov.get("teacher") or ""
    ids = [getattr(record, "teacher", "") or "", teacher.get("teacher", "") if isinstance(teacher, dict) else teacher]
    return prov.get("source") == "ground_truth" or any(str(i).startswith(GROUND_TRUTH_PREFIX) for i in ids)


def check_annotation_free(
    cfg: ExperimentConfig,
    labels: Iterable[Any] = (),
    detector: Mapping[str, Any] | None = None,
    strict: bool | None = None,
) -> list[str]:
    """Guard an annotation-free run against ground-truth HOI labels.

    Does nothing for ``supervision: full``. Otherwise ground-truth HOI labels
    (``data.train_annotations`` set, or label records made from ground truth,
    see :func:`is_ground_truth_record`) raise in strict mode and become
    warnings when ``strict`` is False. A detector whose provenance says it was
    trained on the evaluation dataset's boxes is always a warning.

    Args:
        cfg: the experiment config.
        labels: the label records training will read.
        detector: the detector provenance; defaults to :func:`detector_provenance`
            of ``cfg.detector``.
        strict: raise instead of warning on ground-truth HOI labels; defaults
            to ``cfg.train.strict_annotation_free`` (True unless switched off).

    Returns:
        Warnings, one sentence each, for the caller to print or log.

    Raises:
        AnnotationFreeError: in strict mode, naming the offending source and the fix.
    """
    if cfg.supervision != "annotation_free":
        return []
    problems: list[str] = []
    if cfg.data.train_annotations:
        problems.append(
            f"data.train_annotations={cfg.data.train_annotations!r} gives ground-truth HOI labels to an "
            "annotation-free run; clear it (data.train_annotations=) or set supervision=full"
        )
    gt_images = [getattr(r, "image", "?") for r in labels if is_ground_truth_record(r)]
    if gt_images:
        problems.append(
            f"{len(gt_images)} label record(s) were made from ground-truth HOIs (teacher id '{GROUND_TRUTH_PREFIX}...', "
            f"e.g. {gt_images[0]!r}); label the images with a teacher (clhoi label) or set supervision=full"
        )
    if strict is None:
        strict = cfg.train.strict_annotation_free
    if problems and strict:
        raise AnnotationFreeError("strict annotation-free mode: " + "; ".join(problems))
    warnings = [f"not annotation-free: {p}" for p in problems]
    det = dict(detector) if detector is not None else detector_provenance(cfg.detector)
    trained_on = str(det.get("trained_on", "unknown")).lower()
    if cfg.data.dataset in trained_on.replace("-", "").replace("_", ""):
        warnings.append(
            f"detector {det.get('model', '?')} was fine-tuned on {det.get('trained_on')} boxes, the evaluation "
            f"dataset's ({cfg.data.dataset}); report the result as using {cfg.data.dataset} box annotations"
        )
    elif cfg.data.dataset == "vcoco" and "coco2017" in trained_on:
        warnings.append(
            f"detector {det.get('model', '?')} was trained on COCO 2017 train, which holds most V-COCO test images "
            "(COCO 2014 val); its boxes on those images were fit to their annotations"
        )
    return warnings
