"""What an annotation file holds, in one object: what ``clhoi check-annotations`` prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clhoi import vocab

DATASETS: tuple[str, ...] = ("hicodet", "vcoco")


@dataclass
class AnnotationSummary:
    """Counts of one annotation file, read by :func:`clhoi.data.hicodet.read_hicodet` or
    :func:`clhoi.data.vcoco.read_vcoco`.

    Attributes:
        dataset: ``hicodet`` or ``vcoco``.
        layout: the file layout detected (``converted``, ``fredzzhang``, ``mat``, ``official``).
        images: images read.
        empty: images without any interaction row.
        boxes: boxes over all images (HICO-DET: after merging identical boxes).
        pairs: interaction rows over all images.
        classes_seen: classes with at least one row.
        num_classes: size of the label space (600 or 29).
        ignored: V-COCO persons without action labels (official layout); 0 otherwise.
        invisible: HICO-DET .mat interactions marked invisible (no rows).
        skipped: records left out with ``on_invalid="skip"``.
        annotated: file names of the images with at least one interaction row, in
            file order (what a teacher should label: HICO-DET's 37,633 training
            images, V-COCO's 5,400 among COCO's).
    """

    dataset: str
    layout: str
    images: int
    empty: int
    boxes: int
    pairs: int
    classes_seen: int
    num_classes: int
    ignored: int = 0
    invisible: int = 0
    skipped: int = 0
    annotated: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """Human-readable lines, one fact each."""
        out = [
            f"dataset: {self.dataset} ({self.layout} layout)",
            f"images: {self.images} ({self.empty} without interactions)",
            f"boxes: {self.boxes}",
            f"interactions: {self.pairs}",
            f"classes seen: {self.classes_seen} / {self.num_classes}",
        ]
        if self.ignored:
            out.append(f"persons without V-COCO labels (ignored by the evaluation): {self.ignored}")
        if self.invisible:
            out.append(f"invisible interactions (no boxes; skipped as in the official evaluation): {self.invisible}")
        if self.skipped:
            out.append(f"malformed records skipped: {self.skipped}")
        return out


def summarize_annotations(
    dataset: str,
    path: str | Path,
    coco_instances: str | Path | None = None,
    split: str | None = None,
    skip_invalid: bool = False,
) -> AnnotationSummary:
    """Read an annotation file and count what it holds.

    Args:
        dataset: ``hicodet`` or ``vcoco``.
        path: the annotation file (any layout the readers accept).
        coco_instances: COCO instances file (official V-COCO layout).
        split: ``train`` / ``test`` for a HICO-DET .mat file holding both.
        skip_invalid: leave malformed HICO-DET records out (counted) instead of failing.

    Raises:
        ValueError: an unknown dataset, or (as ``AnnotationError``) a malformed file.
        FileNotFoundError: a missing file.
    """
    if dataset == "hicodet":
        from clhoi.data.hicodet import load_hicodet

        data = load_hicodet(path, split, "skip" if skip_invalid else "raise")
        images, layout, num_classes = data.images, data.layout, vocab.hicodet().num_classes
        counts = data.class_counts()
        extra = {"invisible": data.invisible, "skipped": len(data.skipped)}
    elif dataset == "vcoco":
        from clhoi.data.vcoco import load_vcoco

        vdata = load_vcoco(path, coco_instances)
        images, layout, num_classes = vdata.images, vdata.layout, len(vocab.vcoco_classes())
        counts = vdata.class_counts()
        extra = {"ignored": sum(int(a.ignore.sum()) for a in images if a.ignore is not None)}
    else:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    _check_names(path, images)
    return AnnotationSummary(
        dataset=dataset,
        layout=layout,
        images=len(images),
        empty=sum(1 for a in images if a.hoi.shape[0] == 0),
        boxes=sum(int(a.boxes.shape[0]) for a in images),
        pairs=sum(int(a.hoi.shape[0]) for a in images),
        classes_seen=sum(1 for c in counts if c > 0),
        num_classes=num_classes,
        annotated=tuple(a.file_name for a in images if a.hoi.shape[0] > 0),
        **extra,
    )


def _check_names(path: str | Path, images: list) -> None:
    """Refuse what training and ``clhoi evaluate`` refuse: a name outside the image folder, an image twice."""
    from clhoi.data.errors import AnnotationError, record_name
    from clhoi.data.images import check_image_name

    seen: dict[str, int] = {}
    for i, a in enumerate(images):
        check_image_name(a.file_name, f"{path}: record {record_name(i, a.file_name)}")
        if a.file_name in seen:
            raise AnnotationError(str(path), record_name(i, a.file_name), "file_name",
                                  f"the image appears twice (also record #{seen[a.file_name]}); `clhoi evaluate` "
                                  "refuses duplicate images: keep one record per image")
        seen[a.file_name] = i
