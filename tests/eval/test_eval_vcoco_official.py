"""V-COCO against the official ``vsrl_eval.py``: recorded outputs on random dense cases, and NumPy 1.x's argsort.

``tests/fixtures/vcoco_official/official_outputs.json`` holds what s-gupta/v-coco
``vsrl_eval.py`` (NumPy 1.23.5) computed on the cases of ``vcoco_official_case.py``
(``record_official.py`` there says how). The cases are regenerated here from their
seeds; the digest proves they are the very inputs the official code saw.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from clhoi import vocab
from clhoi.data.vcoco import load_vcoco
from clhoi.eval import VCOCOEvaluator
from clhoi.eval.files import load_records
from clhoi.eval.legacy_argsort import segmented_argsort
from vcoco_official_case import make_case, tie_arrays, write_files

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vcoco_official"
OFFICIAL = json.loads((FIXTURES / "official_outputs.json").read_text())
ROLE_CLASSES = [k for k, (_, role) in enumerate(vocab.vcoco_classes()) if role is not None]


@pytest.mark.parametrize("recorded", OFFICIAL["cases"], ids=lambda c: f"seed{c['seed']}")
def test_dense_random_case_matches_vsrl_eval_per_class(recorded, tmp_path):
    case = make_case(recorded["seed"], recorded["num_images"], tuple(recorded["dets_per_image"]))
    assert case["digest"] == recorded["digest"], "the generator no longer gives the recorded inputs"
    paths = write_files(case, tmp_path)
    assert len(case["detections"]) == recorded["num_detections"] >= 3000 and recorded["num_images"] >= 150
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the case has no boxes the official code drops
        gts = load_vcoco(paths["vcoco"], paths["instances"]).images
    evaluator = VCOCOEvaluator(gts)
    evaluator.process_detections(load_records(paths["detections"]), "detections.json")
    r = evaluator.evaluate()
    np.testing.assert_allclose(r.agent_ap, recorded["agent_ap"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(r.role_ap_scenario_1[ROLE_CLASSES], recorded["role_ap_scenario_1"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(r.role_ap_scenario_2[ROLE_CLASSES], recorded["role_ap_scenario_2"], rtol=0, atol=1e-6)
    # the printed means (two decimals)
    s = r.summary()
    ours = [s["agent_ap"], s["role_ap_scenario_1"], s["role_ap_scenario_2"]]
    np.testing.assert_allclose(ours, recorded["printed_means_percent"], rtol=0, atol=0.005 + 1e-9)


def test_segmented_argsort_replays_numpy_1_argsort():
    # permutations NumPy 1.23.5's argsort gave for these arrays (tests/fixtures/vcoco_official/legacy_argsort.json)
    recorded = json.loads((FIXTURES / "legacy_argsort.json").read_text())
    arrays = tie_arrays(recorded["seed"])
    ends = np.cumsum([a.size for a in arrays])
    for native in (True, False):  # NumPy's own int16 argsort of the ranks, and the replay
        perm = segmented_argsort(np.concatenate(arrays), ends - [a.size for a in arrays], ends, native=native)
        for a, s, e, want in zip(arrays, ends - [a.size for a in arrays], ends, recorded["permutations"]):
            got = perm[s:e] - s
            assert np.array_equal(a[got], np.sort(a))  # a valid ascending argsort
            assert got.tolist() == want, f"size {a.size}, native={native}: not NumPy 1.x's tie order"
    # with labels, only the label sequence in sorted order is NumPy 1.x's (ties of equal labels may move)
    values = np.concatenate(arrays)
    labels = (np.arange(values.size) * 7919 % 3 == 0).astype(np.int64)
    perm = segmented_argsort(values, ends - [a.size for a in arrays], ends, labels, native=False)
    for s, e, want in zip(ends - [a.size for a in arrays], ends, recorded["permutations"]):
        assert np.array_equal(values[perm[s:e]], np.sort(values[s:e]))
        assert np.array_equal(labels[perm[s:e]], labels[s + np.asarray(want)])
    # NumPy 1.x's insertion sort (16 elements or fewer) keeps ties in index order; the official code reverses it
    assert segmented_argsort(np.float32([0.6, 0.6, 0.2, 0.2]), [0], [4]).tolist() == [2, 3, 0, 1]


@pytest.mark.parametrize("x2, hit", [(49.000001, True), (49.00001, False)])
def test_overlaps_are_float32_as_in_vsrl_eval(x2, hit):
    # person [10, 10, 29, 29] (20 x 20 px); a detection [10, 10, x2, 29] has IoU 20 / (x2 - 9). With
    # x2 = 49.000001 the doubles give 0.49999998750000035, but vsrl_eval keeps boxes in float32, where
    # x2 is 49.0 and its get_overlap returns exactly 0.5 (NumPy 1.23.5): a true positive. 49.00001 stays
    # above 49 in float32 (get_overlap: 0.49999985): a false positive in both. The role box is the same
    # case 50 px to the right.
    from clhoi.structures import ImageAnnotation

    hold = vocab.vcoco_classes().index(("hold", "obj"))
    gts = [ImageAnnotation("COCO_val2014_000000000001.jpg", (100, 100),
                           np.array([[10, 10, 29, 29], [60, 10, 79, 29]], dtype=np.float32), np.array([0, 41]),
                           np.array([[0, 1, hold]]), np.array([False, False]))]
    ev = VCOCOEvaluator(gts)
    ev.process_detections([{"image_id": 1, "person_box": [10.0, 10.0, x2, 29.0], "hold_agent": 0.9,
                            "hold_obj": [60.0, 10.0, 50.0 + x2, 29.0, 0.8]}])
    r = ev.evaluate()
    a_hold = [a.name for a in vocab.vcoco_actions()].index("hold")
    assert r.agent_ap[a_hold] == float(hit) and r.role_ap_scenario_1[hold] == float(hit)


def test_clhoi_evaluate_vcoco_official_files_import_neither_torch_nor_transformers(tmp_path):
    import subprocess
    import sys

    paths = write_files(make_case(3, num_images=20, dets_per_image=(2, 5)), tmp_path)
    code = ("import sys\nimport numpy\nma_at_import = 'numpy.ma' in sys.modules\nfrom clhoi.cli import app\n"
            "try:\n    app(['evaluate', '--dataset', 'vcoco', '--annotations', sys.argv[1], '--coco-instances', sys.argv[2],"
            " '--predictions', sys.argv[3], '--out', sys.argv[4]])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('modules:', sorted(m for m in ('torch', 'transformers', 'torchvision') if m in sys.modules))\n"
            "print('numpy.ma:', 'numpy.ma' in sys.modules and not ma_at_import)")  # NumPy 1.x imports it with numpy
    done = subprocess.run([sys.executable, "-c", code, paths["vcoco"], paths["instances"], paths["detections"],
                           str(tmp_path / "m.json")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "modules: []" in done.stdout and "numpy.ma: False" in done.stdout, done.stdout
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["dataset"] == "vcoco" and len(metrics["agent"]) == 26 and metrics["agent_mAP"] > 0
