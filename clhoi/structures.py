"""The contracts between stages, as typed dataclasses.

Every arrow of the data flow in DESIGN.md is one of these objects (or its file
form). Conventions shared by all of them:

* Boxes are ``[x1, y1, x2, y2]`` float32, in pixels of the *original* image
  (not resized, not normalised), with ``x2 >= x1`` and ``y2 >= y1``.
* Object labels are COCO-80 indices (0 = person, 79 = toothbrush) in the order
  of :data:`clhoi.vocab.COCO_CLASSES`.
* HOI class indices index the label space of the dataset in question
  (HICO-DET: 0-599 in the official order; V-COCO: see ``clhoi.vocab``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # torch is imported where it is used, so that torch-free readers (clhoi evaluate) stay light
    import torch
    from torch import Tensor

LabelStatus = Literal["ok", "no_action", "error"]
LABEL_STATUSES: tuple[str, ...] = ("ok", "no_action", "error")


# --------------------------------------------------------------------------- teacher
@dataclass
class InteractionPair:
    """One image-level ``(verb, object)`` pair parsed from a teacher's text.

    Attributes:
        verb: lemmatised verb phrase, lower case (``"ride"``, ``"talk on"``).
        object: singular object name as the teacher wrote it, lower case.
        coco: the COCO category name the object maps to, or ``None``.
    """

    verb: str
    object: str
    coco: str | None = None


@dataclass
class LabelRecord:
    """One line of ``labels.jsonl``: what the teacher said about one image.

    Attributes:
        image: image path relative to the image root (the record's key).
        caption: the context caption (answer to prompt 1).
        pairs: the parsed positive interactions.
        negatives: negative verbs drawn from the verb dictionary of appendix A.2
            (``clhoi.vocab.negative_verbs()``: the 75 verbs Fig. 6 prints; the
            paper's text says 77).
        teacher: teacher id (model name or ``"captions:<file>"``, ...).
        prompts: the prompts sent, by name (``{"caption": ..., "parse": ...}``).
        raw: raw teacher texts, by prompt name.
        status: ``ok``, ``no_action`` (kept out of training) or ``error``.
        reason: why, for ``error`` (and optionally ``no_action``).
        provenance: where the record came from (teacher, prompts, code version).
    """

    image: str
    caption: str = ""
    pairs: list[InteractionPair] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    teacher: str = ""
    prompts: dict[str, str] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    status: str = "ok"
    reason: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in LABEL_STATUSES:
            raise ValueError(f"LabelRecord.status must be one of {LABEL_STATUSES}, got {self.status!r}")
        self.pairs = [p if isinstance(p, InteractionPair) else InteractionPair(**p) for p in self.pairs]

    @property
    def verbs(self) -> list[str]:
        """Distinct positive verbs, in first-seen order."""
        return list(dict.fromkeys(p.verb for p in self.pairs))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LabelRecord":
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown label record field(s) {sorted(unknown)}; valid: {sorted(known)}")
        if "image" not in data:
            raise ValueError("label record has no 'image' field")
        return cls(**data)


# --------------------------------------------------------------------------- detection
@dataclass
class Detections:
    """Detector output for one image.

    Attributes:
        boxes: ``[N, 4]`` float32 xyxy, pixels of the original image.
        scores: ``[N]`` float32 in [0, 1].
        labels: ``[N]`` int64 COCO-80 indices (0 = person).
        embeddings: optional ``[N, D]`` float32, one feature per box (DETR
            decoder state); ``None`` when the detector gives none.
        image_size: ``(height, width)`` of the original image in pixels.
    """

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    embeddings: Tensor | None = None
    image_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        n = self.boxes.shape[0]
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4:
            raise ValueError(f"Detections.boxes must be [N, 4], got {tuple(self.boxes.shape)}")
        for name in ("scores", "labels"):
            t = getattr(self, name)
            if t.shape != (n,):
                raise ValueError(f"Detections.{name} must be [{n}], got {tuple(t.shape)}")
        if self.embeddings is not None and (self.embeddings.ndim != 2 or self.embeddings.shape[0] != n):
            raise ValueError(f"Detections.embeddings must be [{n}, D], got {tuple(self.embeddings.shape)}")

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def to(self, device: torch.device | str) -> "Detections":
        emb = None if self.embeddings is None else self.embeddings.to(device)
        return Detections(self.boxes.to(device), self.scores.to(device), self.labels.to(device), emb, self.image_size)

    def select(self, keep: Tensor) -> "Detections":
        """The detections at ``keep`` (bool mask or index tensor)."""
        emb = None if self.embeddings is None else self.embeddings[keep]
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep], emb, self.image_size)

    @classmethod
    def empty(cls, dim: int | None = None, image_size: tuple[int, int] | None = None) -> "Detections":
        import torch

        emb = None if dim is None else torch.zeros(0, dim)
        return cls(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), emb, image_size)


# --------------------------------------------------------------------------- ground truth
@dataclass
class ImageAnnotation:
    """Ground truth of one image, in any dataset's label space.

    Attributes:
        file_name: image file name relative to the image root.
        size: ``(width, height)`` in pixels (0, 0 when unknown).
        boxes: ``[N, 4]`` float32 xyxy pixels: every annotated human and object.
        labels: ``[N]`` int64 COCO-80 indices of ``boxes``.
        hoi: ``[M, 3]`` int64 rows ``(subject_idx, object_idx, class_idx)``
            indexing ``boxes``; ``object_idx == -1`` where the interaction has
            no object box (V-COCO roles without an object).
        ignore: optional ``[N]`` bool: boxes an evaluation neither counts nor
            penalises (V-COCO: persons without V-COCO action labels, whose
            matches the official evaluation skips); ``None`` = none known.

    The arrays are tensors, or NumPy arrays of the same shapes and dtypes where
    a reader is asked for them (``load_hicodet(..., tensors=False)``: the
    torch-free path of ``clhoi evaluate``).
    """

    file_name: str
    size: tuple[int, int]
    boxes: Tensor
    labels: Tensor
    hoi: Tensor
    ignore: Tensor | None = None

    def __post_init__(self) -> None:
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4:
            raise ValueError(f"{self.file_name}: boxes must be [N, 4], got {tuple(self.boxes.shape)}")
        if self.hoi.ndim != 2 or self.hoi.shape[1] != 3:
            raise ValueError(f"{self.file_name}: hoi must be [M, 3], got {tuple(self.hoi.shape)}")
        if self.ignore is not None and self.ignore.shape != (self.boxes.shape[0],):
            raise ValueError(f"{self.file_name}: ignore must be [{self.boxes.shape[0]}], got {tuple(self.ignore.shape)}")


# --------------------------------------------------------------------------- predictions
@dataclass
class Predictions:
    """What a detector of HOIs says about one image; what evaluators read.

    Attributes:
        file_name: image file name relative to the image root.
        boxes: ``[N, 4]`` float32 xyxy pixels of the original image.
        labels: ``[N]`` int64 COCO-80 indices.
        pairs: ``[M, 2]`` int64 ``(human_idx, object_idx)`` into ``boxes``;
            ``object_idx == -1`` for a prediction without an object.
        classes: ``[M]`` int64 HOI class indices in the label space scored.
        scores: ``[M]`` float32 triplet scores (Eq. 18).
    """

    file_name: str
    boxes: Tensor
    labels: Tensor
    pairs: Tensor
    classes: Tensor
    scores: Tensor

    def __post_init__(self) -> None:
        m = self.classes.shape[0]
        if self.pairs.shape != (m, 2) or self.scores.shape != (m,):
            raise ValueError(
                f"{self.file_name}: pairs [M, 2], classes [M], scores [M] must agree, got "
                f"{tuple(self.pairs.shape)}, {tuple(self.classes.shape)}, {tuple(self.scores.shape)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"file_name", "boxes", "labels", "hoi": [[h, o, cls, score], ...]}``."""
        hoi = [
            [int(h), int(o), int(c), float(s)]
            for (h, o), c, s in zip(self.pairs.tolist(), self.classes.tolist(), self.scores.tolist())
        ]
        return {
            "file_name": self.file_name,
            "boxes": [[float(v) for v in b] for b in self.boxes.tolist()],
            "labels": [int(v) for v in self.labels.tolist()],
            "hoi": hoi,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Predictions":
        """Parse the JSON form; raises ``ValueError`` naming the bad field."""
        name = data.get("file_name")
        if not isinstance(name, str):
            raise ValueError(f"prediction record has no string 'file_name': {str(data)[:120]}")
        import torch

        try:
            boxes = torch.as_tensor(data["boxes"], dtype=torch.float32).reshape(-1, 4)
            labels = torch.as_tensor(data["labels"], dtype=torch.long).reshape(-1)
            hoi = torch.as_tensor(data["hoi"], dtype=torch.float64).reshape(-1, 4)
        except KeyError as e:
            raise ValueError(f"{name}: prediction record lacks field {e}") from None
        except (TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"{name}: malformed boxes/labels/hoi ({e})") from None
        if labels.shape[0] != boxes.shape[0]:
            raise ValueError(f"{name}: {boxes.shape[0]} boxes but {labels.shape[0]} labels")
        pairs = hoi[:, :2].long()
        n = boxes.shape[0]
        if pairs.numel() and (pairs[:, 0].min() < 0 or pairs.max() >= n or pairs[:, 1].min() < -1):
            raise ValueError(f"{name}: 'hoi' box index out of range for {n} boxes")
        return cls(name, boxes, labels, pairs, hoi[:, 2].long(), hoi[:, 3].float())


# --------------------------------------------------------------------------- student
@dataclass
class StudentOutput:
    """What the CL-HOI student returns for a batch of ``B`` images.

    Pairs of all images are flattened into one axis of length ``P``.

    Attributes:
        interaction: ``[P, D]`` interaction features ``I`` (Eq. 4), projected
            to the CLIP text width ``D``; not normalised.
        pair_image: ``[P]`` int64 index of the image each pair belongs to.
        human_idx: ``[P]`` int64 index of the human in that image's detections.
        object_idx: ``[P]`` int64 index of the object in that image's detections.
        pair_scores: ``[P, 2]`` detection scores ``(s_h, s_o)``.
        object_labels: ``[P]`` int64 COCO-80 label of each pair's object.
        context: ``[B, Q, D]`` context features ``f_c`` in the text width, or
            ``None`` when the VLT is off.
        visual: ``[B, L, D_v]`` visual features ``f_v``, or ``None``.
        logit_scale: scalar, the learned (or fixed) CLIP-style temperature.
        attentions: optional maps for Fig. 8 (``{"visual": [P, L], ...}``).
    """

    interaction: Tensor
    pair_image: Tensor
    human_idx: Tensor
    object_idx: Tensor
    pair_scores: Tensor
    object_labels: Tensor
    context: Tensor | None = None
    visual: Tensor | None = None
    logit_scale: Tensor | None = None
    attentions: dict[str, Tensor] | None = None

    @property
    def num_pairs(self) -> int:
        return int(self.interaction.shape[0])
