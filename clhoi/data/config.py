"""Data section of the experiment config (no torch imports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    """Where the data of an experiment lives.

    Attributes:
        dataset: ``hicodet``, ``vcoco`` or ``sandbox``.
        image_root: folder the images' relative paths start from.
        test_image_root: folder of the test images, when not ``image_root``
            (HICO-DET keeps ``train2015/`` and ``test2015/`` apart); empty = ``image_root``.
        train_annotations: training annotation file (used by the supervised
            setting only; refused in annotation-free mode).
        test_annotations: annotation file evaluated against.
        coco_instances: COCO instances file that the official V-COCO layout
            (``vcoco_test.json`` ...) takes its boxes from; empty for the other layouts.
        labels: teacher label store (``labels.jsonl``) for annotation-free training.
        detections_train: detections file for the training images.
        detections_test: detections file for the test images.
        cache_dir: feature cache folder (``clhoi cache``); empty = none.
        num_workers: data loader workers.
        skip_bad_images: leave out (and list) image files that cannot be decoded
            (zero-byte, truncated, not an image) instead of stopping with an error
            naming the first one; ``--skip-bad-images`` on the command line.
        object_negatives: extra negative verbs per training label record (for L_I2T), drawn from
            the verbs the teacher used with the same objects in other training records (hard
            negatives, :func:`clhoi.teacher.parse.add_object_negatives`). Not in the paper (its two
            negatives come from the whole dictionary); default 0.
    """

    dataset: str = "hicodet"
    image_root: str = ""
    test_image_root: str = ""
    train_annotations: str = ""
    test_annotations: str = ""
    coco_instances: str = ""
    labels: str = ""
    detections_train: str = ""
    detections_test: str = ""
    cache_dir: str = ""
    num_workers: int = 0
    skip_bad_images: bool = False
    object_negatives: int = 0

    def __post_init__(self) -> None:
        valid = ("hicodet", "vcoco", "sandbox")
        if self.dataset not in valid:
            raise ValueError(f"data.dataset must be one of {valid}, got {self.dataset!r}")
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"data.num_workers must be an integer >= 0, got {self.num_workers!r}")
        if isinstance(self.object_negatives, bool) or not isinstance(self.object_negatives, int) or self.object_negatives < 0:
            raise ValueError(f"data.object_negatives must be an integer >= 0, got {self.object_negatives!r}")
