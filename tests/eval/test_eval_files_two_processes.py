"""A large predictions file read by two processes (clhoi.eval.files.read_arrays_in_two) gives exactly the arrays
of the one-process reader, or None (then the one-process reader runs), never something else."""

import json
from pathlib import Path

import numpy as np
import orjson
import pytest

from clhoi.eval import files, parallel
from clhoi.eval.files import PredictionArrays, load_records, read_arrays_in_two, records_to_arrays


REAL_IDLE_CPU = parallel.idle_cpu


@pytest.fixture(autouse=True)
def small_files_count_as_large(monkeypatch):
    monkeypatch.setattr(files, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(parallel, "idle_cpu", lambda: True)


def _records(n=40, seed=0, name="HICO_test2015_{:08d}.jpg"):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        b = int(rng.integers(0, 5))
        t = int(rng.integers(0, 6)) if b else 0
        out.append({"file_name": name.format(i), "boxes": (rng.random((b, 4)) * 100).tolist(),
                    "labels": rng.integers(0, 80, b).tolist(),
                    "hoi": [[int(rng.integers(0, b)), int(rng.integers(0, b)), int(rng.integers(0, 600)),
                             float(rng.random())] for _ in range(t)]})
    return out


def _same(a: PredictionArrays, b: PredictionArrays):
    assert a.file_names == b.file_names and a.source == b.source
    for k in ("num_boxes", "boxes", "labels", "num_triplets", "pairs", "classes", "scores"):
        x, y = getattr(a, k), getattr(b, k)
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), k


@pytest.mark.parametrize("layout", ["json.dump", "orjson", "indent", "lines"])
def test_two_processes_give_the_one_process_arrays(tmp_path, layout):
    records = _records()
    path = tmp_path / "preds.json"
    if layout == "json.dump":
        path.write_text(json.dumps(records))
    elif layout == "orjson":  # no white space between records: "},{"
        path.write_bytes(orjson.dumps(records))
    elif layout == "indent":
        path.write_text(json.dumps(records, indent=1))
    else:
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    two = read_arrays_in_two(path)
    assert two is not None
    _same(two, records_to_arrays(load_records(path), path))


def test_a_cut_inside_a_string_or_a_nested_list_is_refused(tmp_path):
    records = _records(6)
    for r in records:
        r["file_name"] = "x}, {" * 200 + r["file_name"]  # "}, {" everywhere inside strings
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(records))
    two = read_arrays_in_two(path)  # a cut inside a string leaves a half that is not JSON
    assert two is None or two.file_names == [r["file_name"] for r in records]
    nested = [{"file_name": "a.jpg", "boxes": [], "labels": [], "hoi": [], "extra": [{"k": i} for i in range(500)]}]
    path.write_text(json.dumps(nested))
    assert read_arrays_in_two(path) is None


@pytest.mark.parametrize("change", ["label_set", "person_box", "bad_hoi", "not_json", "not_a_list"])
def test_anything_unusual_is_left_to_the_one_process_reader(tmp_path, change):
    records = _records()
    path = tmp_path / "preds.json"
    text = json.dumps(records)
    if change == "label_set":
        records[-1]["label_set"] = "hicodet"
        text = json.dumps(records)
    elif change == "person_box":
        records[-1]["person_box"] = [0, 0, 1, 1]
        text = json.dumps(records)
    elif change == "bad_hoi":
        records[-1]["hoi"] = [[0, 1, 2]]
        text = json.dumps(records)
    elif change == "not_json":
        text = text[:-1]
    else:
        text = json.dumps({"records": records})
    path.write_text(text)
    assert read_arrays_in_two(path) is None


def test_small_files_busy_machines_and_the_switch_use_one_process(tmp_path, monkeypatch):
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(_records()))
    monkeypatch.setattr(parallel, "idle_cpu", lambda: False)
    assert read_arrays_in_two(path) is None
    monkeypatch.setattr(parallel, "idle_cpu", lambda: True)
    monkeypatch.setattr(files, "PARALLEL_BYTES", path.stat().st_size + 1)
    assert read_arrays_in_two(path) is None
    assert read_arrays_in_two(tmp_path / "missing.json") is None


def test_idle_cpu_is_off_with_the_switch(monkeypatch):
    monkeypatch.setenv("CLHOI_EVALUATE_PROCESSES", "1")
    assert REAL_IDLE_CPU() is False


def test_fork_call_gives_the_result_or_no_result():
    join = parallel.fork_call(sorted, [3, 1, 2], capacity=1 << 16)
    assert join is not None and join() == [1, 2, 3]
    assert parallel.fork_call(int, "not a number", capacity=1 << 16)() is parallel.NO_RESULT  # raised in the child
    assert parallel.fork_call(bytes, 1 << 20, capacity=1 << 10)() is parallel.NO_RESULT  # too large


def _arrays(n: int) -> tuple:
    rng = np.random.default_rng(n)
    a = rng.random((n, 4))
    return a, rng.integers(0, 9, (n, 3))[:, :2], ["x" * 3] * 5  # a float block, a strided int view, a list


def test_fork_call_returns_arrays_that_outlive_the_shared_memory():
    join = parallel.fork_call(_arrays, 300_000, capacity=32 << 20)  # ~15 MB: buffers far over a pickle frame
    got = join()
    want = _arrays(300_000)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]) and got[2] == want[2]
    got[0][0, 0] = -1.0  # its own, writable memory
    assert got[0].flags.writeable and got[0].sum() != want[0].sum()
    assert parallel.fork_call(_arrays, 300_000, capacity=1 << 20)() is parallel.NO_RESULT  # over capacity


def test_vcoco_annotations_read_aside_give_the_same_result_and_warnings(tmp_path, monkeypatch):
    import warnings

    from clhoi.eval import run
    from vcoco_official_case import make_case, write_files

    case = make_case(3, 40, (3, 6))
    paths = write_files(case, tmp_path)

    def evaluate():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = run.run_evaluation("vcoco", paths["detections"], Path(paths["vcoco"]), paths["instances"])
        return r.result.to_dict(), [(str(w.message), w.category, w.filename, w.lineno) for w in caught]

    monkeypatch.setattr(parallel, "idle_cpu", lambda: False)
    one = evaluate()
    monkeypatch.setattr(parallel, "idle_cpu", lambda: True)
    monkeypatch.setattr(run, "ASIDE_BYTES", 0)
    started = []
    real_fork_call = parallel.fork_call
    monkeypatch.setattr(parallel, "fork_call", lambda *a, **k: started.append(1) or real_fork_call(*a, **k))
    two = evaluate()
    assert started, "the annotations were not read aside"
    assert json.dumps(two[0]) == json.dumps(one[0])
    assert two[1] == one[1]
    with pytest.raises(FileNotFoundError):  # a missing predictions file: the same error
        run.run_evaluation("vcoco", tmp_path / "missing.json", Path(paths["vcoco"]), paths["instances"])
    labelled = tmp_path / "labelled.json"  # the predictions fail after the child started: the same error
    labelled.write_text(json.dumps([{"file_name": "x.jpg", "label_set": "hicodet", "boxes": [], "labels": [],
                                     "hoi": []}]))
    started.clear()
    with pytest.raises(ValueError, match="score the 'hicodet' label set"):
        run.run_evaluation("vcoco", labelled, Path(paths["vcoco"]), paths["instances"])
    assert started


def test_hicodet_two_processes_with_inputs_kept_until_exit(tmp_path, monkeypatch):
    """The console command's setting (inputs kept until exit) on the two-process HICO-DET path, as on an idle
    machine with a large file: the same metrics as one process, nothing parsed to keep."""
    from clhoi.eval import run

    path = tmp_path / "preds.json"
    records = _records(40, seed=3, name="HICO_test2015_{:08d}.jpg")[1:]  # images 1-39 of the shipped test set
    for r in records:  # valid boxes: x1 <= x2, y1 <= y2
        r["boxes"] = [[min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])] for b in r["boxes"]]
    path.write_bytes(orjson.dumps(records))
    monkeypatch.setattr(parallel, "idle_cpu", lambda: False)
    one = run.run_evaluation("hicodet", path).result.to_dict()
    monkeypatch.setattr(parallel, "idle_cpu", lambda: True)
    started = []
    real_fork_call = parallel.fork_call
    monkeypatch.setattr(parallel, "fork_call", lambda *a, **k: started.append(1) or real_fork_call(*a, **k))
    monkeypatch.setattr(run, "_KEPT_UNTIL_EXIT", None)
    run.keep_inputs_until_exit()
    two = run.run_evaluation("hicodet", path).result.to_dict()
    assert started, "the file was not parsed in two processes"
    assert json.dumps(two) == json.dumps(one)
    assert run._KEPT_UNTIL_EXIT == [[]]
