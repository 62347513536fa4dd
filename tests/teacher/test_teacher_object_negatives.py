"""data.object_negatives: hard negative verbs from the verbs the teacher pairs with the same objects."""

from __future__ import annotations

from clhoi.data.config import DataConfig
from clhoi.structures import InteractionPair, LabelRecord
from clhoi.teacher.parse import add_object_negatives

import pytest


def rec(image: str, pairs: list[tuple[str, str]], negatives: list[str] | None = None, status: str = "ok") -> LabelRecord:
    return LabelRecord(image=image, caption="c" if status == "ok" else "",
                       pairs=[InteractionPair(verb=v, object=o, coco=o) for v, o in pairs],
                       negatives=negatives or [], status=status)


RECORDS = [
    rec("a.jpg", [("read", "book")], ["eat"]),
    rec("b.jpg", [("hold", "book")], ["jump"]),
    rec("c.jpg", [("carry", "book"), ("hold", "cup")]),
    rec("d.jpg", [("ride", "horse")]),
    rec("e.jpg", [], status="no_action"),
    rec("f.jpg", [("talk on", "cell phone"), ("hold", "cell phone")]),
]


def test_negatives_are_the_objects_other_verbs_never_positives_and_reproducible():
    out = add_object_negatives(RECORDS, k=5, seed=0)
    by = {r.image: r for r in out}
    assert by["a.jpg"].negatives[0] == "eat" and set(by["a.jpg"].negatives[1:]) == {"hold", "carry"}
    assert set(by["b.jpg"].negatives[1:]) == {"read", "carry"}
    # c has book and cup: verbs of both objects, less its own (hold, carry)
    assert set(by["c.jpg"].negatives) == {"read"}
    assert by["d.jpg"].negatives == []  # no other verb of horse
    assert by["e.jpg"] is RECORDS[4]  # not ok: unchanged
    # "hold" is a positive of f (and "talk" the head word of "talk on"): nothing left
    assert by["f.jpg"].negatives == []
    assert [r.negatives for r in add_object_negatives(RECORDS, k=5, seed=0)] == [r.negatives for r in out]
    assert [r.negatives for r in add_object_negatives(RECORDS[::-1], k=5, seed=0)][::-1] == [r.negatives for r in out]
    assert RECORDS[0].negatives == ["eat"]  # inputs are not changed


def test_k_limits_the_draw_and_zero_changes_nothing():
    one = {r.image: r for r in add_object_negatives(RECORDS, k=1, seed=3)}
    assert len(one["a.jpg"].negatives) == 2 and one["a.jpg"].negatives[1] in {"hold", "carry"}
    assert add_object_negatives(RECORDS, k=0) == RECORDS
    with pytest.raises(ValueError, match="object_negatives"):
        DataConfig(object_negatives=-1)
