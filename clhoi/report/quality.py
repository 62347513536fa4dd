"""Image-level quality of teacher labels against a dataset's ground-truth HOIs.

A teacher labels a whole image with ``(verb, object)`` pairs; the ground truth
of that image, reduced to the same level, is the set of distinct
``(verb, COCO object)`` of its HOIs. A teacher pair *matches* a ground-truth
interaction when its verb, in the dataset's words (:class:`ReportSpace`),
equals the ground-truth verb and its object's COCO category equals the
ground-truth object's (any object for a class without one). Then, summed over
images (micro average):

* precision = matched teacher pairs / teacher pairs inside the label space,
* recall = ground-truth interactions found / ground-truth interactions.

Teacher pairs outside the label space are counted apart, never as errors:
``open_vocab`` (the verb is not one of the dataset's) and ``unmapped_object``
(the object is no COCO category). Each image counts each interaction once.

Imports torch only through :mod:`clhoi.structures`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from clhoi.report.space import ReportSpace, class_verbs_of, coco_object, object_name
from clhoi.structures import ImageAnnotation, LabelRecord

Key = tuple[str, "int | None"]
"""An image-level interaction: (normalised verb, COCO-80 object index or None)."""


@dataclass
class PRCount:
    """Counts behind a precision / recall figure.

    Attributes:
        predicted: teacher pairs inside the label space.
        matched: those that match a ground-truth interaction of their image.
        gt: ground-truth interactions.
        found: those matched by some teacher pair of their image.
    """

    predicted: int = 0
    matched: int = 0
    gt: int = 0
    found: int = 0

    @property
    def precision(self) -> float | None:
        return self.matched / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.found / self.gt if self.gt else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return None if p is None or r is None or p + r == 0 else 2 * p * r / (p + r)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass
class LabelQuality:
    """The quality of one label file against one dataset's ground truth.

    Attributes:
        name: display name of the label file (teacher).
        teachers: the teacher ids found in the records.
        provenance: the provenance of the first record (teacher, prompts, code).
        num_images: images both labelled and annotated (the figures' support).
        records_without_gt: label records whose image is not in the annotations.
        images_without_labels: annotated images the label file has no record for.
        status: label records of the support by status (``ok``, ``no_action``, ``error``).
        overall: the summed counts.
        per_verb: counts by ground-truth / teacher verb.
        per_object: counts by COCO object name (``(none)`` for object-free classes).
        hallucinated: teacher interactions with no ground-truth match, by key.
        missed: ground-truth interactions no teacher pair found, by key.
        open_vocab: teacher pairs whose verb is outside the label space, by verb.
        unmapped_objects: in-space-verb pairs whose object is no COCO category, by object.
        gt_images: images with each ground-truth interaction.
        gt_instances: annotated HOI instances of each ground-truth interaction.
        teacher_images: images where the teacher said each in-space interaction.
        teacher_verb_images: images where the teacher said each in-space verb.
        pairs_total: teacher pairs of the support: in-space interactions plus
            open-vocabulary and unmapped pairs (distinct per image).
    """

    name: str
    teachers: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    num_images: int = 0
    records_without_gt: int = 0
    images_without_labels: int = 0
    status: Counter = field(default_factory=Counter)
    overall: PRCount = field(default_factory=PRCount)
    per_verb: dict[str, PRCount] = field(default_factory=dict)
    per_object: dict[str, PRCount] = field(default_factory=dict)
    hallucinated: Counter = field(default_factory=Counter)
    missed: Counter = field(default_factory=Counter)
    open_vocab: Counter = field(default_factory=Counter)
    unmapped_objects: Counter = field(default_factory=Counter)
    gt_images: Counter = field(default_factory=Counter)
    gt_instances: Counter = field(default_factory=Counter)
    teacher_images: Counter = field(default_factory=Counter)
    teacher_verb_images: Counter = field(default_factory=Counter)
    pairs_total: int = 0

    @property
    def no_action_share(self) -> float | None:
        """Share of the support's images the teacher marked ``no_action``."""
        return self.status["no_action"] / self.num_images if self.num_images else None

    @property
    def open_vocab_share(self) -> float | None:
        """Share of teacher pairs whose verb is outside the label space."""
        return sum(self.open_vocab.values()) / self.pairs_total if self.pairs_total else None

    def teacher_count(self, key: Key) -> int:
        """Images where the teacher said ``key`` (any object when the key has none)."""
        return self.teacher_verb_images[key[0]] if key[1] is None else self.teacher_images[key]

    def summary(self) -> dict[str, Any]:
        """The headline figures, one flat dict (a row of the comparison table)."""
        return {
            "name": self.name,
            "images": self.num_images,
            "precision": self.overall.precision,
            "recall": self.overall.recall,
            "f1": self.overall.f1,
            "no_action_share": self.no_action_share,
            "error_share": self.status["error"] / self.num_images if self.num_images else None,
            "pairs_per_image": self.pairs_total / self.num_images if self.num_images else None,
            "open_vocab_share": self.open_vocab_share,
            "records_without_gt": self.records_without_gt,
            "images_without_labels": self.images_without_labels,
        }

    def to_dict(self, top_k: int = 20) -> dict[str, Any]:
        """JSON form: summary, counts, per verb / object, and the ``top_k`` lists."""

        def keyed(counter: Counter) -> list[dict[str, Any]]:
            return [
                {"verb": v, "object": object_name(o), "count": n}
                for (v, o), n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0][0], object_name(kv[0][1])))
            ][:top_k]

        def named(counter: Counter) -> list[dict[str, Any]]:
            return [{"name": k, "count": n} for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))][:top_k]

        return {
            "summary": self.summary(),
            "teachers": self.teachers,
            "provenance": self.provenance,
            "status": {s: self.status[s] for s in ("ok", "no_action", "error")},
            "overall": self.overall.to_dict(),
            "pairs_total": self.pairs_total,
            "open_vocab_pairs": sum(self.open_vocab.values()),
            "unmapped_object_pairs": sum(self.unmapped_objects.values()),
            "per_verb": {k: v.to_dict() for k, v in sorted(self.per_verb.items())},
            "per_object": {k: v.to_dict() for k, v in sorted(self.per_object.items())},
            "hallucinated": keyed(self.hallucinated),
            "missed": keyed(self.missed),
            "open_vocab": named(self.open_vocab),
            "unmapped_objects": named(self.unmapped_objects),
        }


def gt_interactions(ann: ImageAnnotation, space: ReportSpace) -> Counter:
    """An image's ground truth at image level: ``{(verb, coco object): instances}``.

    Verbs in ``space.ignored_verbs`` are left out; a HOI without an object box
    (``object_idx == -1``) has object ``None``.
    """
    out: Counter = Counter()
    rows = ann.hoi.tolist()
    if not rows:
        return out
    labels = ann.labels.tolist()
    for (_, o, _), verb in zip(rows, class_verbs_of(space, [r[2] for r in rows])):
        if verb not in space.ignored_verbs:
            out[(verb, None if o < 0 else int(labels[o]))] += 1
    return out


def teacher_interactions(record: LabelRecord, space: ReportSpace) -> tuple[set[Key], Counter, Counter, int]:
    """An image's teacher pairs: in-space keys, open-vocabulary verbs, unmapped objects, total.

    Duplicate pairs count once. Records whose status is not ``ok`` contribute
    nothing (training skips them). The total is the in-space keys plus the
    out-of-space pairs.
    """
    keys: set[Key] = set()
    open_vocab: Counter = Counter()
    unmapped: Counter = Counter()
    if record.status == "ok":
        raw = {(space.map_verb(p.verb), p.object.strip().lower(), p.coco) for p in record.pairs}
        for verb, obj_name, coco in sorted(raw, key=str):
            obj = coco_object(coco, obj_name)
            if verb not in space.verbs:
                open_vocab[verb] += 1
            elif obj is None and verb not in space.objectless_verbs:
                unmapped[obj_name or "(empty)"] += 1
            else:
                keys.add((verb, obj))
    return keys, open_vocab, unmapped, len(keys) + sum(open_vocab.values()) + sum(unmapped.values())


def _align(records: Iterable[LabelRecord], names: Sequence[str]) -> tuple[dict[str, LabelRecord], int]:
    """Records by annotation file name; later records win.

    A record's path matches an annotation's when they are equal or one is the
    other with leading folders (``test2015/x.jpg`` and ``x.jpg``); never when
    only the base names agree (``train/0001.png`` is not ``test/0001.png``).
    """
    exact = set(names)
    tails: dict[str, str | None] = {}  # proper path suffixes of annotation names (None: ambiguous)
    for n in names:
        parts = n.split("/")
        for i in range(1, len(parts)):
            tail = "/".join(parts[i:])
            tails[tail] = n if tails.get(tail, n) == n else None
    out: dict[str, LabelRecord] = {}
    unmatched = 0
    for r in records:
        key = r.image if r.image in exact else tails.get(r.image)
        if key is None:  # the record has leading folders the annotation lacks
            parts = r.image.split("/")
            key = next((t for t in ("/".join(parts[i:]) for i in range(1, len(parts))) if t in exact), None)
        if key is None:
            unmatched += 1
        else:
            out[key] = r
    return out, unmatched


def label_quality(
    records: Sequence[LabelRecord], annotations: Sequence[ImageAnnotation], space: ReportSpace, name: str = "labels"
) -> LabelQuality:
    """Measure teacher labels against ground-truth HOIs, image by image.

    Args:
        records: the label records (one per image; a later record of the same
            image replaces an earlier one, as in a resumed label store).
        annotations: the ground truth; its class indices index ``space``.
        space: the dataset's label space (:func:`clhoi.report.space.report_space`).
        name: display name of the label file.

    Returns:
        The figures over the images present in both (see :class:`LabelQuality`).
    """
    q = LabelQuality(name=name)
    q.teachers = list(dict.fromkeys(r.teacher or "(none)" for r in records))
    q.provenance = dict(records[0].provenance) if records else {}
    matched, q.records_without_gt = _align(records, [a.file_name for a in annotations])
    for ann in annotations:
        rec = matched.get(ann.file_name)
        if rec is None:
            q.images_without_labels += 1
            continue
        q.num_images += 1
        q.status[rec.status] += 1
        gt = gt_interactions(ann, space)
        said, open_vocab, unmapped, total = teacher_interactions(rec, space)
        q.open_vocab.update(open_vocab)
        q.unmapped_objects.update(unmapped)
        q.pairs_total += total
        said_verbs = {v for v, _ in said}
        q.teacher_images.update(said)
        q.teacher_verb_images.update(said_verbs)
        q.gt_images.update(gt.keys())
        q.gt_instances.update(gt)
        for key in said:
            hit = key in gt or (key[0], None) in gt
            for c in (q.overall, q.per_verb.setdefault(key[0], PRCount()),
                      q.per_object.setdefault(object_name(key[1]), PRCount())):
                c.predicted += 1
                c.matched += hit
            if not hit:
                q.hallucinated[key] += 1
        for key in gt:
            hit = key in said or (key[1] is None and key[0] in said_verbs)
            for c in (q.overall, q.per_verb.setdefault(key[0], PRCount()),
                      q.per_object.setdefault(object_name(key[1]), PRCount())):
                c.gt += 1
                c.found += hit
            if not hit:
                q.missed[key] += 1
    return q


def top_interactions(quality: LabelQuality, n: int = 30) -> list[Key]:
    """The ``n`` ground-truth interactions present in the most images (ties by name)."""
    items = sorted(quality.gt_images.items(), key=lambda kv: (-kv[1], kv[0][0], object_name(kv[0][1])))
    return [k for k, _ in items[:n]]
