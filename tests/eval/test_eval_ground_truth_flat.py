"""HICO-DET ground truth flattened from NumPy annotations at once equals the per-image conversion."""

import numpy as np
import pytest
import torch

from clhoi.eval import hicodet
from clhoi.structures import ImageAnnotation


def _images(rng, box_dtype, hoi_dtype, tensors=False):
    out = []
    for i in range(30):
        n = int(rng.integers(0, 5)) * 2
        boxes = np.sort(rng.uniform(0, 300, (n, 4)), axis=1).astype(box_dtype)[:, [0, 1, 2, 3]]
        rows = int(rng.integers(0, 4)) if n else 0
        hoi = np.stack([rng.integers(0, max(n, 1), rows), rng.integers(0, max(n, 1), rows),
                        rng.integers(0, 600, rows)], 1).astype(hoi_dtype).reshape(-1, 3)
        labels = np.zeros(n, dtype=np.int64)
        if tensors:
            boxes, labels, hoi = torch.from_numpy(boxes), torch.from_numpy(labels), torch.from_numpy(hoi)
        out.append(ImageAnnotation(f"{i}.jpg", (300, 300), boxes, labels, hoi))
    return out


@pytest.mark.parametrize("box_dtype, hoi_dtype", [(np.float32, np.int64), (np.float64, np.int32), (np.float16, np.int64)])
def test_flat_equals_per_image(monkeypatch, box_dtype, hoi_dtype):
    images = _images(np.random.default_rng(0), box_dtype, hoi_dtype)
    assert hicodet._flat_rows([a.boxes for a in images], 4) is not None
    flat = hicodet._ground_truth(images, 600)
    monkeypatch.setattr(hicodet, "_flat_rows", lambda *a: None)
    per_image = hicodet._ground_truth(images, 600)
    for a, b in zip(flat, per_image):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert flat[2].dtype == np.float64 and flat[0].size > 10


def test_mixed_dtypes_or_tensors_take_the_per_image_path():
    rng = np.random.default_rng(1)
    images = _images(rng, np.float32, np.int64)
    images[3].boxes = images[3].boxes.astype(np.float64)
    assert hicodet._flat_rows([a.boxes for a in images], 4) is None
    assert hicodet._flat_rows([a.hoi for a in _images(rng, np.float32, np.int64, tensors=True)], 3) is None
    assert hicodet._flat_rows([], 3) is None
    image, cls, h, o = hicodet._ground_truth(images, 600)
    assert image.size == cls.size == h.shape[0] == o.shape[0] and h.dtype == np.float64
