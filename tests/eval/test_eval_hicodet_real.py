"""The HICO-DET evaluator on the real test annotations (9,658 images), full scale.

Reads the test annotations shipped with clhoi (``clhoi/data/assets/hicodet``,
fredzzhang/hicodet's ``instances_test2015.json``); the test fails (never skips)
when the file is missing.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

from clhoi.data.hicodet import read_hicodet, shipped_test_annotations
from clhoi.eval import evaluate_hicodet
from clhoi.structures import ImageAnnotation, Predictions
from eval_reference import MATLAB_T, hicodet_aps

TEST_FILE = shipped_test_annotations()


@pytest.fixture(scope="module")
def annotations() -> list[ImageAnnotation]:
    assert TEST_FILE.is_file(), f"the real HICO-DET test annotations are missing: {TEST_FILE}"
    return read_hicodet(TEST_FILE)


def ground_truth_as_predictions(annotations: list[ImageAnnotation], seed: int = 0) -> list[Predictions]:
    rng = np.random.default_rng(seed)
    out = []
    for a in annotations:
        scores = torch.as_tensor(rng.random(a.hoi.shape[0]))
        out.append(Predictions(a.file_name, a.boxes.double(), a.labels, a.hoi[:, :2], a.hoi[:, 2], scores))
    return out


def test_real_test_set_shape(annotations):
    assert len(annotations) == 9658
    assert sum(a.hoi.shape[0] for a in annotations) == 33405
    assert sum(a.hoi.shape[0] == 0 for a in annotations) == 112


def test_ground_truth_as_predictions_scores_100_in_every_setting(annotations):
    r = evaluate_hicodet(ground_truth_as_predictions(annotations), annotations)
    assert r.num_triplets == 33405 and (r.num_gt > 0).all()  # all 600 classes have test instances
    for s in (r.default, r.known_object):
        np.testing.assert_allclose(s.ap, 1.0, rtol=0, atol=1e-12)
        assert s.recall.min() == 1.0
    for v in r.summary().values():
        assert v == pytest.approx(100.0, abs=1e-9)


def test_every_other_ground_truth_predicted_gives_the_11_point_recall_steps(annotations):
    # predict only the even-numbered instances of each class (exactly): precision stays 1, so
    # AP = (number of MATLAB thresholds t <= recall) / 11 with recall = ceil(n / 2) / n
    seen = np.zeros(600, dtype=np.int64)
    preds = []
    for p in ground_truth_as_predictions(annotations):
        keep = []
        for c in p.classes.tolist():
            keep.append(seen[c] % 2 == 0)
            seen[c] += 1
        k = torch.as_tensor(keep, dtype=torch.bool)
        preds.append(replace(p, pairs=p.pairs[k], classes=p.classes[k], scores=p.scores[k]))
    r = evaluate_hicodet(preds, annotations)
    recall = np.ceil(seen / 2) / seen
    expected = np.array([sum(t <= rc for t in MATLAB_T) / 11 for rc in recall])
    np.testing.assert_array_equal(r.default.recall, recall)
    np.testing.assert_allclose(r.default.ap, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.known_object.ap, expected, rtol=0, atol=1e-12)


def test_jittered_predictions_agree_with_the_loop_restatement_on_a_real_subset(annotations):
    gts = annotations[:150]
    rng = np.random.default_rng(1)
    preds = []
    for p in ground_truth_as_predictions(gts, seed=2):
        n = p.boxes.shape[0]
        boxes = p.boxes + torch.as_tensor(rng.normal(0, 6, (n, 4)))
        boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2])
        m = p.classes.shape[0]
        cls = torch.where(torch.as_tensor(rng.random(m) < 0.15), torch.as_tensor(rng.integers(0, 600, m)), p.classes)
        scores = torch.as_tensor(np.round(rng.random(m), 2))
        preds.append(replace(p, boxes=boxes, classes=cls, scores=scores))
    r = evaluate_hicodet(preds, gts)
    assert 0 < r.default.full_with_gt < 1
    np.testing.assert_allclose(r.default.ap, hicodet_aps(preds, gts), rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.known_object.ap, hicodet_aps(preds, gts, known_object=True), rtol=0, atol=1e-12)
