"""Eqs. 17-18: student output -> HOI triplets (:class:`~clhoi.structures.Predictions`).

Kept out of the model (like DETR's ``PostProcess``): the model gives interaction
features, this object scores them against the text embeddings of a
:class:`~clhoi.labelset.LabelSet` and keeps the best triplets per image.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from clhoi.labelset import LabelSet
from clhoi.structures import Detections, Predictions, StudentOutput


def interaction_scores(
    interaction: Tensor,
    text: Tensor,
    pair_scores: Tensor,
    score_lambda: float,
    logit_scale: float | Tensor = 1.0,
) -> Tensor:
    """Eqs. 17-18 for every pair and class.

    Args:
        interaction: ``[P, D]`` interaction features ``I`` (any norm).
        text: ``[C, D]`` class text embeddings ``Y`` (any norm).
        pair_scores: ``[P, 2]`` detection scores ``(s_h, s_o)`` in [0, 1].
        score_lambda: ``lambda`` in [0, 1]; 0 ignores the detector, 1 ignores ``I``.
        logit_scale: multiplier of the cosine inside the sigmoid (``y'`` of Eq. 18).

    Returns:
        ``[P, C]`` float scores in [0, 1].
    """
    if not 0.0 <= score_lambda <= 1.0:
        raise ValueError(f"score_lambda must be in [0, 1] (Eq. 18), got {score_lambda}")
    cos = F.normalize(interaction.float(), dim=-1) @ F.normalize(text.float(), dim=-1).T  # Eq. 17, [P, C]
    det = (pair_scores[:, 0] * pair_scores[:, 1]).float().clamp(min=0.0)  # [P]
    return torch.sigmoid(cos * logit_scale) ** (1.0 - score_lambda) * det[:, None] ** score_lambda  # Eq. 18


class PostProcess:
    """Turns a :class:`StudentOutput` into one :class:`Predictions` per image.

    A pair ``p`` may take class ``c`` only where ``label_set.valid_mask`` allows
    it (HICO-DET: the class's object is the detected object). For agent-only
    classes (V-COCO stand / walk / run / smile) the best pair of each human
    gives one triplet with ``object_idx == -1``. Then the ``top_k`` best
    triplets of each image are kept (all of them when ``top_k`` is ``None``).

    Args:
        score_lambda: ``lambda`` of Eq. 18.
        top_k: triplets kept per image, ``None`` for all (what evaluators want).
        logit_scale: multiplier of the cosine before the sigmoid; ``None`` uses
            the student's ``output.logit_scale`` (treated as the multiplier,
            already exponentiated), or 1 (the literal Eq. 17) when it has none.
        min_score: triplets scoring below this are dropped.
    """

    def __init__(
        self,
        score_lambda: float = 0.5,
        top_k: int | None = None,
        logit_scale: float | None = None,
        min_score: float = 0.0,
    ) -> None:
        if not 0.0 <= score_lambda <= 1.0:
            raise ValueError(f"score_lambda must be in [0, 1] (Eq. 18), got {score_lambda}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None (keep all), got {top_k}")
        self.score_lambda = score_lambda
        self.top_k = top_k
        self.logit_scale = logit_scale
        self.min_score = min_score

    def _scale(self, output: StudentOutput) -> float:
        if self.logit_scale is not None:
            return float(self.logit_scale)
        if output.logit_scale is not None:
            return float(output.logit_scale.detach().float())
        return 1.0

    @torch.no_grad()
    def __call__(
        self,
        output: StudentOutput,
        detections: list[Detections],
        file_names: list[str],
        text: Tensor,
        label_set: LabelSet,
    ) -> list[Predictions]:
        """Score and select triplets.

        Args:
            output: the student's output for ``B`` images.
            detections: ``B`` detections the pairs index (boxes in original pixels).
            file_names: ``B`` image names, copied into the predictions.
            text: ``[C, D]`` embeddings of ``label_set.texts``.
            label_set: the classes scored.

        Returns:
            ``B`` predictions; their ``classes`` index ``label_set``; all on the CPU.
        """
        if len(detections) != len(file_names):
            raise ValueError(f"{len(detections)} detections but {len(file_names)} file names")
        if text.shape[0] != label_set.num_classes:
            raise ValueError(
                f"text embeddings have {text.shape[0]} rows but label set {label_set.name!r} has "
                f"{label_set.num_classes} classes; encode label_set.texts"
            )
        scores = interaction_scores(
            output.interaction, text, output.pair_scores, self.score_lambda, self._scale(output)
        )  # [P, C]
        scores = scores.masked_fill(~label_set.valid_mask(output.object_labels), -1.0).cpu()
        has_obj = torch.as_tensor(label_set.class_has_object, dtype=torch.bool)
        pair_image = output.pair_image.cpu()
        human, obj = output.human_idx.cpu(), output.object_idx.cpu()
        return [
            self._one_image(scores[pair_image == i], human[pair_image == i], obj[pair_image == i], has_obj, det, name)
            for i, (det, name) in enumerate(zip(detections, file_names))
        ]

    def _one_image(
        self, scores: Tensor, human: Tensor, obj: Tensor, has_obj: Tensor, det: Detections, name: str
    ) -> Predictions:
        # scores: [K, C] for this image's K pairs (-1 where a class is not allowed)
        p_idx, c_idx = torch.nonzero((scores >= 0) & has_obj[None, :], as_tuple=True)
        pairs = torch.stack([human[p_idx], obj[p_idx]], dim=1)
        cls, val = c_idx, scores[p_idx, c_idx]
        agent = (~has_obj).nonzero().flatten()
        if agent.numel() and scores.shape[0]:
            # agent-only classes: one triplet per (human, class), the best of that human's pairs
            humans = human.unique()
            sub = scores[:, agent]  # [K, A]
            best = torch.full((humans.numel(), agent.numel()), -1.0)
            best = best.scatter_reduce(0, torch.searchsorted(humans, human)[:, None].expand_as(sub), sub, "amax")
            h_i, a_i = torch.nonzero(best >= 0, as_tuple=True)
            pairs = torch.cat([pairs, torch.stack([humans[h_i], torch.full_like(h_i, -1)], dim=1)])
            cls = torch.cat([cls, agent[a_i]])
            val = torch.cat([val, best[h_i, a_i]])
        keep = val >= self.min_score
        pairs, cls, val = pairs[keep], cls[keep], val[keep]
        order = val.argsort(descending=True, stable=True)
        if self.top_k is not None:
            order = order[: self.top_k]
        det = det.to("cpu")
        return Predictions(
            file_name=name,
            boxes=det.boxes.float(),
            labels=det.labels.long(),
            pairs=pairs[order].long().reshape(-1, 2),
            classes=cls[order].long(),
            scores=val[order].float(),
        )


def triplet_records(pred: Predictions, label_set: LabelSet) -> list[dict[str, Any]]:
    """Readable triplets of one image: boxes (xyxy pixels), object name, interaction name, score; best first."""
    from clhoi.vocab import COCO_CLASSES

    out = []
    for (h, o), c, s in zip(pred.pairs.tolist(), pred.classes.tolist(), pred.scores.tolist()):
        out.append({
            "human_box": [round(v, 2) for v in pred.boxes[h].tolist()],
            "object_box": [round(v, 2) for v in pred.boxes[o].tolist()] if o >= 0 else None,
            "object": COCO_CLASSES[int(pred.labels[o])] if o >= 0 else None,
            "interaction": label_set.names[c],
            "class_index": c,
            "score": round(float(s), 4),
            "human_idx": h,
            "object_idx": o,
        })
    return out
