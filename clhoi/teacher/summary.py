"""The end-of-run summary of a label store: counts per status, frequent verbs and objects."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from clhoi.structures import LABEL_STATUSES, LabelRecord


@dataclass
class LabelSummary:
    """What a label store holds.

    Attributes:
        total: records (one per image).
        by_status: records per status (``ok``, ``no_action``, ``error``).
        top_verbs: the most frequent positive verbs, ``(verb, images)``.
        top_objects: the most frequent objects, ``(object, images)``.
        top_errors: the most frequent error reasons, ``(reason, images)``.
        labelled_now: records written by this run.
        failed_now: of those, records with status ``error`` (``--retry-errors`` labels them again).
        elapsed_s: this run's wall time.
        planned: images a dry run would label.
    """

    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    top_verbs: list[tuple[str, int]] = field(default_factory=list)
    top_objects: list[tuple[str, int]] = field(default_factory=list)
    top_errors: list[tuple[str, int]] = field(default_factory=list)
    labelled_now: int = 0
    failed_now: int = 0
    elapsed_s: float = 0.0
    planned: int = 0

    def format(self, this_run: bool = True) -> str:
        """A few human-readable lines (``this_run``: with the run's count and speed)."""
        rate = self.labelled_now / self.elapsed_s if self.elapsed_s > 0 else 0.0
        lines = [f"{self.total} images: " + ", ".join(f"{self.by_status.get(s, 0)} {s}" for s in LABEL_STATUSES)]
        if this_run:
            failed = f" ({self.failed_now} failed)" if self.failed_now else ""
            lines.append(f"this run: {self.labelled_now} images{failed} in {self.elapsed_s:.1f} s "
                         f"({rate:.1f} images/s)")
        if self.top_verbs:
            lines.append("top verbs: " + ", ".join(f"{v} ({c})" for v, c in self.top_verbs))
        if self.top_objects:
            lines.append("top objects: " + ", ".join(f"{o} ({c})" for o, c in self.top_objects))
        if self.top_errors:
            lines.append("errors: " + "; ".join(f"{r} ({c})" for r, c in self.top_errors))
        return "\n".join(lines)


def summarize(records: Iterable[LabelRecord], top: int = 10) -> LabelSummary:
    """Summarise records (one per image)."""
    status: Counter[str] = Counter()
    verbs: Counter[str] = Counter()
    objects: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for r in records:
        status[r.status] += 1
        verbs.update(set(r.verbs))
        objects.update({p.object for p in r.pairs if p.object})
        if r.status == "error":
            errors[(r.reason or "")[:120]] += 1
    return LabelSummary(
        total=sum(status.values()),
        by_status={s: status.get(s, 0) for s in LABEL_STATUSES},
        top_verbs=verbs.most_common(top),
        top_objects=objects.most_common(top),
        top_errors=errors.most_common(3),
    )
