"""Training and evaluation datasets: one image's labels, detections and pixels or cached features.

A :class:`HOIDataset` item is a :class:`Sample`. Where each part comes from:

* labels: a teacher label record (annotation-free) and/or a ground-truth
  :class:`~clhoi.structures.ImageAnnotation` (full supervision, evaluation);
* detections: a detections mapping (a detections file) or the feature cache;
* pixels: the image file through an injected ``transform`` (PIL -> ``[3, H, W]``),
  unless the feature cache provides the frozen CLIP features, in which case
  the image is never opened.

This module knows nothing of models: the transform is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from clhoi.data.images import check_image_names
from clhoi.structures import Detections, ImageAnnotation, LabelRecord


@dataclass
class CachedImage:
    """What the feature cache (``clhoi cache``) stores for one image.

    Attributes:
        detections: the detector output (boxes in original-image pixels).
        image_features: ``[L, C]`` frozen CLIP patch tokens (``CLHOI.encode_images``).
        union_pairs: ``[P, 2]`` int64 ``(human_idx, object_idx)`` of the cached union crops, or None.
        union_embeddings: ``[P, D]`` CLIP image embeddings of those union crops, or None.
    """

    detections: Detections
    image_features: Tensor
    union_pairs: Tensor | None = None
    union_embeddings: Tensor | None = None


@dataclass
class Sample:
    """One dataset item.

    Attributes:
        file_name: image path relative to the image root.
        detections: the image's detections (xyxy pixels of the original image).
        record: the teacher label record, or None (supervised / evaluation).
        annotation: the ground truth, or None (annotation-free training).
        image: the decoded RGB image, or None when features come from the cache.
        pixel_values: ``[3, H, W]`` float32 model input, or None (cache).
        cached: the cached features, or None.
    """

    file_name: str
    detections: Detections
    record: LabelRecord | None = None
    annotation: ImageAnnotation | None = None
    image: Image.Image | None = None
    pixel_values: Tensor | None = None
    cached: CachedImage | None = None


@dataclass
class RecordSelection:
    """Label records usable for training, and how many were dropped and why."""

    records: list[LabelRecord]
    skipped_status: int
    skipped_no_verb: int

    def summary(self) -> str:
        return (
            f"{len(self.records)} label records used; skipped {self.skipped_status} with status != ok "
            f"and {self.skipped_no_verb} without a verb"
        )


def select_training_records(records: Iterable[LabelRecord]) -> RecordSelection:
    """Keep the records training can learn from: status ``ok`` and at least one verb (appendix A.2)."""
    kept: list[LabelRecord] = []
    bad_status = no_verb = 0
    for r in records:
        if r.status != "ok":
            bad_status += 1
        elif not r.verbs:
            no_verb += 1
        else:
            kept.append(r)
    return RecordSelection(kept, bad_status, no_verb)


def load_rgb(path: str | Path) -> Image.Image:
    """Open an image as RGB; a missing, empty, truncated or non-image file names itself.

    Raises:
        FileNotFoundError: no such file.
        OSError: the file cannot be decoded (one line naming it and the fix).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist; check data.image_root")
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except Exception as e:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError, DecompressionBombError
        text = str(e).strip().splitlines()
        why = "empty file (0 bytes)" if path.stat().st_size == 0 else (text[0][:160] if text else type(e).__name__)
        raise OSError(f"cannot read image {path}: {why}; replace the file, or rerun with --skip-bad-images "
                      "to leave it out") from None


class HOIDataset(Dataset[Sample]):
    """Images with their detections and labels, for training or evaluation.

    Args:
        file_names: the images, relative to ``image_root``, in dataset order.
        image_root: folder the file names start from.
        detections: detections by file name; optional when ``cache`` is given.
        cache: cached features by file name (``clhoi cache``); when given, images
            are not opened unless ``load_images`` is True.
        records: teacher label records by file name (annotation-free training).
        annotations: ground truth by file name (full supervision, evaluation).
        transform: PIL image -> ``[3, H, W]`` float32 model input (the student's
            preprocessing); unused with a cache.
        load_images: also decode the image (needed for union crops or drawing).
    """

    def __init__(
        self,
        file_names: list[str],
        image_root: str | Path = "",
        detections: Mapping[str, Detections] | None = None,
        cache: Mapping[str, CachedImage] | None = None,
        records: Mapping[str, LabelRecord] | None = None,
        annotations: Mapping[str, ImageAnnotation] | None = None,
        transform: Callable[[Image.Image], Tensor] | None = None,
        load_images: bool = False,
    ) -> None:
        if detections is None and cache is None:
            raise ValueError("HOIDataset needs detections (a detections file) or a feature cache")
        missing = [f for f in file_names if f not in (cache if cache is not None else detections)]  # type: ignore[operator]
        if missing:
            where = "the feature cache" if cache is not None else "the detections file"
            raise KeyError(
                f"{len(missing)} image(s) have no entry in {where}, e.g. {missing[0]!r}; "
                f"rerun `clhoi cache` / the detector on this split"
            )
        if cache is None and transform is None:
            raise ValueError("HOIDataset without a feature cache needs a transform (PIL -> pixel_values)")
        check_image_names(file_names, "the dataset's image names (label records / annotation file)")
        self.file_names = list(file_names)
        self.image_root = Path(image_root)
        self.detections = detections
        self.cache = cache
        self.records = records
        self.annotations = annotations
        self.transform = transform
        self.load_images = load_images

    def __len__(self) -> int:
        return len(self.file_names)

    def __getitem__(self, i: int) -> Sample:
        name = self.file_names[i]
        cached = self.cache[name] if self.cache is not None else None
        dets = cached.detections if cached is not None else self.detections[name]  # type: ignore[index]
        image = pixels = None
        if cached is None or self.load_images:
            image = load_rgb(self.image_root / name)
        if cached is None:
            pixels = self.transform(image)  # type: ignore[misc]
        return Sample(
            file_name=name,
            detections=dets,
            record=self.records.get(name) if self.records is not None else None,
            annotation=self.annotations.get(name) if self.annotations is not None else None,
            image=image if self.load_images else None,
            pixel_values=pixels,
            cached=cached,
        )
