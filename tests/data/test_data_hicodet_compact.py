"""The pre-read copy of the shipped HICO-DET test annotations (clhoi/data/hicodet_compact.py) equals the JSON."""

import shutil

import numpy as np

from clhoi.data.hicodet import load_hicodet, shipped_test_annotations
from clhoi.data.hicodet_compact import compact_path, read_compact, write_compact
from clhoi.data.registry import get_dataset


def _same_images(a, b):
    assert [x.file_name for x in a] == [y.file_name for y in b]
    for x, y in zip(a, b):
        assert x.size == y.size and all(type(v) is int for v in y.size)
        assert x.ignore is None and y.ignore is None
        for key in ("boxes", "labels", "hoi"):
            u, v = getattr(x, key), getattr(y, key)
            assert u.dtype == v.dtype and u.shape == v.shape and np.array_equal(u, v), (x.file_name, key)


def test_the_shipped_compact_copy_gives_what_the_json_reader_gives():
    source = shipped_test_annotations()
    assert compact_path(source).is_file()  # shipped beside the .json.gz (regenerate: python -m clhoi.data.hicodet_compact)
    json_read = load_hicodet(source, tensors=False)
    compact = read_compact(source)
    assert compact is not None, "the compact copy was not made from these bytes: python -m clhoi.data.hicodet_compact"
    assert len(compact.images) == 9658
    assert (compact.layout, compact.path, compact.split, compact.empty, compact.invisible, compact.skipped,
            compact.invisible_classes) == (json_read.layout, json_read.path, json_read.split, json_read.empty,
                                           json_read.invisible, json_read.skipped, json_read.invisible_classes)
    _same_images(json_read.images, compact.images)
    # what `clhoi evaluate` reads through the dataset spec
    _same_images(json_read.images, get_dataset("hicodet").read_annotations(source, None, tensors=False))


def test_a_compact_copy_of_other_bytes_is_not_used(tmp_path):
    source = tmp_path / "instances_test2015.json.gz"
    shutil.copy(shipped_test_annotations(), source)
    assert read_compact(source) is None  # no copy yet
    write_compact(source)
    _same_images(load_hicodet(source, tensors=False).images, read_compact(source).images)
    source.write_bytes(source.read_bytes() + b"\0")  # changed file: the copy is stale and ignored
    assert read_compact(source) is None
    compact_path(source).write_bytes(b"not an npz")
    assert read_compact(source) is None
