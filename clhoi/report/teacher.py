"""``clhoi teacher-report``: label files + ground truth -> JSON, Fig. 9 PNG, comparison table.

One label file gives its image-level precision / recall (overall, per verb,
per object), its no-action share, its most frequent hallucinated and missed
interactions and its open-vocabulary verbs. Several label files give the same
figures side by side: the teacher comparison of the paper's Table 5, at the
label level, before any training. The chart is the paper's Fig. 9: for the
most frequent ground-truth interactions, ground-truth image counts beside each
teacher's.

Imports structures, the report modules, and (inside :func:`teacher_report`)
the label-store and dataset readers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from clhoi.report.chart import grouped_bar_chart, save_chart
from clhoi.report.quality import Key, LabelQuality, label_quality, top_interactions
from clhoi.report.space import object_name, report_space
from clhoi.structures import ImageAnnotation, LabelRecord
from clhoi.vocab import HOILabelSpace

REPORT_JSON = "teacher_report.json"
REPORT_PNG = "teacher_report_top{n}.png"


def interaction_name(key: Key) -> str:
    """``("ride", 1)`` -> ``"ride bicycle"``; just the verb for an object-free class."""
    return key[0] if key[1] is None else f"{key[0]} {object_name(key[1])}"


@dataclass
class TeacherReport:
    """Label-quality figures of one or more label files on one dataset.

    Attributes:
        dataset: dataset name.
        annotations: the ground-truth file measured against.
        qualities: one :class:`LabelQuality` per label file, in the given order.
        top: the most frequent ground-truth interactions (of the first file's images).
        provenance: the code that made the report and when.
    """

    dataset: str
    annotations: str
    qualities: list[LabelQuality]
    top: list[Key] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def top_rows(self) -> list[dict[str, Any]]:
        """Fig. 9 as data: per top interaction, ground-truth and teacher image counts."""
        first = self.qualities[0]
        return [
            {
                "interaction": interaction_name(k),
                "gt_images": first.gt_images[k],
                "gt_instances": first.gt_instances[k],
                "teacher_images": {q.name: q.teacher_count(k) for q in self.qualities},
            }
            for k in self.top
        ]

    def to_dict(self, top_k: int = 20) -> dict[str, Any]:
        """The JSON of all figures."""
        return {
            "dataset": self.dataset,
            "annotations": self.annotations,
            "provenance": self.provenance,
            "comparison": [q.summary() for q in self.qualities],
            "top_interactions": self.top_rows(),
            "label_files": [q.to_dict(top_k) for q in self.qualities],
        }

    def table(self) -> str:
        """The side-by-side comparison as a fixed-width text table (one row per label file)."""
        cols = [("images", "images", "d"), ("precision", "precision", "%"), ("recall", "recall", "%"),
                ("f1", "F1", "%"), ("no_action_share", "no-action", "%"), ("error_share", "errors", "%"),
                ("pairs_per_image", "pairs/img", "f"),
                ("open_vocab_share", "open-vocab", "%")]
        name_w = max([len(q.name) for q in self.qualities] + [len("labels")])

        def cell(value: Any, kind: str) -> str:
            if value is None:
                return "-"
            return f"{100 * value:.1f}" if kind == "%" else f"{value:.2f}" if kind == "f" else str(value)

        head = "labels".ljust(name_w) + "".join(f"  {title:>10}" for _, title, _ in cols)
        lines = [head, "-" * len(head)]
        for q in self.qualities:
            s = q.summary()
            lines.append(q.name.ljust(name_w) + "".join(f"  {cell(s[key], kind):>10}" for key, _, kind in cols))
        return "\n".join(lines)

    def chart(self) -> Image.Image:
        """The Fig. 9 chart: ground-truth image counts beside each teacher's, top interactions."""
        first = self.qualities[0]
        series = [("ground truth", [first.gt_images[k] for k in self.top])]
        series += [(q.name, [q.teacher_count(k) for k in self.top]) for q in self.qualities]
        return grouped_bar_chart(
            [interaction_name(k) for k in self.top],
            series,
            title=f"Top {len(self.top)} ground-truth interactions of {self.dataset}: ground truth vs teacher labels",
            y_label="images with the interaction",
            x_label="interaction (verb, COCO object)",
        )


def compare(
    labels: Sequence[tuple[str, Sequence[LabelRecord]]],
    annotations: Sequence[ImageAnnotation],
    dataset: str,
    hoi_space: HOILabelSpace | None = None,
    top_n: int = 30,
    annotations_path: str = "",
) -> TeacherReport:
    """Measure one or more label sets against the same ground truth.

    Args:
        labels: ``(display name, records)`` per label file.
        annotations: the dataset's ground truth.
        dataset: ``hicodet``, ``vcoco`` or ``sandbox``.
        hoi_space: the label space, when not the dataset's own (the sandbox's).
        top_n: how many ground-truth interactions the chart shows.
        annotations_path: recorded in the report.
    """
    from clhoi.provenance import code_version, now_utc

    if not labels:
        raise ValueError("teacher report: give at least one label file")
    space = report_space(dataset, hoi_space)
    qualities = [label_quality(records, annotations, space, name) for name, records in labels]
    return TeacherReport(
        dataset=dataset,
        annotations=annotations_path,
        qualities=qualities,
        top=top_interactions(qualities[0], top_n),
        provenance={"code": code_version(), "created": now_utc()},
    )


def read_annotations(dataset: str, path: str | Path, coco_instances: str | Path | None = None) -> list[ImageAnnotation]:
    """Ground truth of ``dataset`` from its annotation file, with the dataset's own reader.

    Args:
        dataset: ``hicodet``, ``vcoco`` or ``sandbox`` (classes mapped onto the sandbox's space).
        path: the annotation file.
        coco_instances: the COCO instances file, for V-COCO's official layout.
    """
    if dataset == "hicodet":
        from clhoi.data.hicodet import read_hicodet

        return list(read_hicodet(path))
    if dataset == "vcoco":
        from clhoi.data.vcoco import read_vcoco

        return list(read_vcoco(path, coco_instances))
    if dataset == "sandbox":  # HICO-DET files; classes mapped onto the sandbox's 24
        from clhoi.data.hicodet import read_hicodet
        from clhoi.sandbox.labels import hicodet_to_sandbox

        out = []
        for a in read_hicodet(path):
            hoi = a.hoi.clone()
            hoi[:, 2] = torch.tensor([hicodet_to_sandbox(c) for c in a.hoi[:, 2].tolist()], dtype=torch.long)
            out.append(replace(a, hoi=hoi))
        return out
    raise ValueError(f"unknown dataset {dataset!r}; valid: hicodet, vcoco, sandbox")


def _unique_names(paths: Sequence[Path]) -> list[str]:
    names = [p.stem for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p) for p in paths]


def teacher_report(
    label_paths: Sequence[str | Path],
    dataset: str,
    annotations: str | Path,
    out_dir: str | Path,
    names: Sequence[str] | None = None,
    hoi_space: HOILabelSpace | None = None,
    top_n: int = 30,
    top_k: int = 20,
    coco_instances: str | Path | None = None,
) -> tuple[TeacherReport, Path, Path]:
    """Read label files and ground truth, measure, and write the JSON and the PNG.

    Args:
        label_paths: ``labels.jsonl`` files (one per teacher).
        dataset: ``hicodet``, ``vcoco`` or ``sandbox``.
        annotations: the dataset's annotation file.
        out_dir: folder for ``teacher_report.json`` and ``teacher_report_top{N}.png``.
        names: display names, one per label file (default: file stems).
        hoi_space: the label space, when not the dataset's own (the sandbox's).
        top_n: interactions in the chart.
        top_k: length of the hallucinated / missed / open-vocabulary lists.
        coco_instances: the COCO instances file, for V-COCO's official layout.

    Returns:
        The report, the JSON path and the PNG path.

    Raises:
        FileNotFoundError: a label or annotation file does not exist.
        ValueError: names do not match the files, or no labelled image is annotated.
    """
    from clhoi.teacher.store import read_labels

    paths = [Path(p) for p in label_paths]
    for p in [*paths, Path(annotations)]:
        if not p.is_file():
            raise FileNotFoundError(f"{p} does not exist")
    if names is not None and len(names) != len(paths):
        raise ValueError(f"{len(names)} names for {len(paths)} label files; give one name per file")
    names = list(names) if names is not None else _unique_names(paths)
    gt = read_annotations(dataset, annotations, coco_instances)
    if not gt:
        raise ValueError(f"{annotations}: no annotated images")
    labels = [(n, read_labels(p)) for n, p in zip(names, paths)]
    report = compare(labels, gt, dataset, hoi_space, top_n, str(annotations))
    for q, p in zip(report.qualities, paths):
        if q.num_images == 0:
            raise ValueError(
                f"no image of {p} is in {annotations} ({q.records_without_gt} records unmatched); "
                "are the labels of another split or dataset?"
            )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / REPORT_JSON
    json_path.write_text(json.dumps(report.to_dict(top_k), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    png_path = save_chart(report.chart(), out / REPORT_PNG.format(n=len(report.top)))
    return report, json_path, png_path
