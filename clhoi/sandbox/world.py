"""Writing the sandbox world to disk as a HICO-DET dataset, cached by its parameters.

Layout of a world directory::

    images/train/000000.png ...       the rendered scenes
    images/test/...
    annotations/trainval_sandbox.json the converted HICO-DET layout (QPIC / GEN-VLKT):
    annotations/test_sandbox.json     [{file_name, annotations: [{bbox, category_id}],
                                        hoi_annotation: [{subject_id, object_id, category_id}]}]
    world.json                        the parameters, label space and counts

``bbox`` is ``[x1, y1, x2, y2]`` in the 1-based pixel frame the real converted
files inherit from ``anno_bbox.mat`` (drawn pixel coordinates + 1; the HICO-DET
reader subtracts 1 and gets the drawn frame back); box ``category_id`` is the COCO
91-id; HOI ``category_id`` is the 1-based HICO-DET verb id, as in the real
converted files. ``file_name`` is relative to ``images/``. A record of an image
with a board also has ``scene`` (``water``, ``sand``, ``snow`` or ``grass``: the place
the image shows, which the simulated teacher names; readers ignore the key).

Version 4 (issue 10 part 2) added the appearance cue (open / closed book, lit / dark
phone, one pose per object) and the context cue (ride / stand_on surfboard and
snowboard, decided by the place) to the world of version 3 (geometry only).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from clhoi.sandbox.labels import HOI_KINDS, hicodet_verb_id, sandbox_label_space
from clhoi.sandbox.scene import Scene, clip_box, render_scene, sample_scene
from clhoi.vocab import COCO_IDS, PERSON, coco_index

WORLD_VERSION = 4
"""Bumped whenever a change to the generator changes the images or annotations."""

SPLITS = ("train", "test", "clip")


def default_cache_dir() -> Path:
    """``$CLHOI_CACHE/sandbox`` or ``~/.cache/clhoi/sandbox``."""
    root = os.environ.get("CLHOI_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "clhoi")
    return Path(root) / "sandbox"


@dataclass(frozen=True)
class WorldSpec:
    """What a world is generated from (its cache key).

    Attributes:
        seed: world seed; every image's scene is drawn from (seed, split, index).
        num_train: training images.
        num_test: test images.
        twin_prob: share of scenes with two people by two objects of the same kind.
    """

    seed: int = 0
    num_train: int = 600
    num_test: int = 200
    twin_prob: float = 0.3

    def key(self) -> str:
        text = json.dumps({**asdict(self), "version": WORLD_VERSION}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class World:
    """A generated world on disk.

    Attributes:
        root: the world directory.
        spec: what it was generated from.
    """

    root: Path
    spec: WorldSpec

    @property
    def image_root(self) -> Path:
        return self.root / "images"

    def annotations(self, split: str) -> Path:
        """The HICO-DET JSON of ``split`` (``train`` or ``test``)."""
        name = {"train": "trainval_sandbox.json", "test": "test_sandbox.json"}
        if split not in name:
            raise KeyError(f"unknown split {split!r}; valid: {', '.join(name)}")
        return self.root / "annotations" / name[split]

    def records(self, split: str) -> list[dict[str, Any]]:
        with open(self.annotations(split), encoding="utf-8") as f:
            return json.load(f)


def scene_seed(seed: int, split: str, index: int) -> int:
    """The seed of image ``index`` of ``split`` in world ``seed`` (stable across Python runs)."""
    digest = hashlib.sha256(f"clhoi-sandbox/{seed}/{split}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def scene_record(scene: Scene, file_name: str) -> dict[str, Any]:
    """The converted HICO-DET record of one scene: people first, then objects."""
    boxes = [[round(v + 1, 2) for v in clip_box(p.box, scene.size)] for p in scene.people]
    cats = [COCO_IDS[PERSON]] * len(scene.people)
    for t in scene.things:
        boxes.append([round(v + 1, 2) for v in clip_box(t.box, scene.size)])
        cats.append(COCO_IDS[coco_index(t.category)])
    n_people = len(scene.people)
    hoi = [
        {"subject_id": p, "object_id": n_people + t, "category_id": hicodet_verb_id(HOI_KINDS[k].verb)}
        for p, t, k in scene.interactions
    ]
    record = {
        "file_name": file_name,
        "width": scene.size[0],
        "height": scene.size[1],
        "annotations": [{"bbox": b, "category_id": c} for b, c in zip(boxes, cats)],
        "hoi_annotation": hoi,
    }
    if scene.place:
        record["scene"] = scene.place
    return record


def generate_split(spec: WorldSpec, split: str, out_dir: Path | None, count: int,
                   progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Draw (and, with ``out_dir``, write as PNG) ``count`` scenes of ``split``; return their records."""
    records = []
    for i in range(count):
        scene = sample_scene(scene_seed(spec.seed, split, i), twin_prob=spec.twin_prob)
        name = f"{split}/{i:06d}.png"
        if out_dir is not None:
            path = out_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            render_scene(scene).save(path, optimize=False, compress_level=1)
        records.append(scene_record(scene, name))
        if progress is not None:
            progress(i + 1, count)
    return records


def build_world(spec: WorldSpec = WorldSpec(), cache_dir: str | Path | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> World:
    """Generate the world of ``spec`` under ``cache_dir`` (reused when already there).

    The world is written to a temporary directory and renamed into place, so an
    interrupted run never leaves a half-written world behind.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root = cache / f"world-{spec.key()}"
    if (root / "world.json").is_file():
        return World(root, spec)
    tmp = cache / f".tmp-{spec.key()}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "annotations").mkdir(parents=True)
    counts = {}
    for split, n in (("train", spec.num_train), ("test", spec.num_test)):
        cb = (lambda i, total, s=split: progress(s, i, total)) if progress else None
        recs = generate_split(spec, split, tmp / "images", n, cb)
        path = tmp / "annotations" / ("trainval_sandbox.json" if split == "train" else "test_sandbox.json")
        path.write_text(json.dumps(recs), encoding="utf-8")
        counts[split] = class_counts(recs)
    space = sandbox_label_space()
    meta = {
        "spec": asdict(spec), "version": WORLD_VERSION, "image_size": [256, 192],
        "label_space": {"verbs": list(space.verbs), "objects": list(space.objects),
                        "hoi": [list(h) for h in space.hoi], "rare": sorted(space.rare)},
        "class_counts": counts,
    }
    (tmp / "world.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    if root.exists():  # another process finished first
        shutil.rmtree(tmp)
    else:
        os.replace(tmp, root)
    return World(root, spec)


def class_counts(records: list[dict[str, Any]]) -> list[int]:
    """Instances of each sandbox class in converted records."""
    space = sandbox_label_space()
    index = {(hicodet_verb_id(space.verbs[v]), COCO_IDS[space.object_to_coco[o]]): c for c, (v, o) in enumerate(space.hoi)}
    counts = [0] * space.num_classes
    for r in records:
        for h in r["hoi_annotation"]:
            counts[index[(h["category_id"], r["annotations"][h["object_id"]]["category_id"])]] += 1
    return counts
