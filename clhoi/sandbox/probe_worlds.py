"""Capability probes: three small worlds, each deciding a set of confusable verbs through one cue only.

Each probe world pairs an object class with two verbs that nothing but one cue tells apart:

* ``geometry``: where the person is relative to the object. The person has the same
  pose (walking stance, arms forward) and the object looks the same; the person
  stands *on top of* the horse / bicycle (``ride``) or *beside* it, the object just
  in front of the hands (``walk`` horse, ``push`` bicycle). Backgrounds are drawn
  independently of the verb.
* ``appearance``: what is visible inside the union box. Boxes, classes and geometry
  are drawn from the same distribution for both verbs (the verb is drawn from its own
  random stream, after the layout); only the object's state differs: an open book
  (white pages, ``read``) or a closed one (``hold``); a phone with a lit call screen
  (``talk_on``) or a dark one (``hold``).
* ``context``: the scene outside the union box. Person, pose, board and geometry are
  identical; the area around the pairs (their union box plus a margin) is painted the
  same neutral grey in every image, and the ground outside it is water (``ride``
  surfboard) or sand (``stand_on`` surfboard), snow (``ride`` snowboard) or grass
  (``stand_on`` snowboard).

Every class is a HICO-DET class, so the worlds are written as genuine HICO-DET files
like the demo's; the probes are scored in their own four-class label space
(:func:`probe_label_space`). The simulated teacher describes them as it describes the
demo world (same miss / synonym / hallucination rates), and its captions say where the
scene is ("A man is riding a surfboard on a wave.").

The worlds were frozen (this file's cue definitions) before any model change was
tuned against them; ``PROBE_VERSION`` is bumped by any change of the images.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from clhoi.sandbox.draw import Box, Color, draw_background, draw_object, draw_person, jitter_color, object_color, person_colors
from clhoi.sandbox.labels import hicodet_verb_id
from clhoi.sandbox.poses import Figure, hip_to_feet, person_joints
from clhoi.vocab import COCO_IDS, PERSON, HOILabelSpace, coco_index

PROBE_VERSION = 1
PROBES = ("geometry", "appearance", "context")
IMAGE_SIZE = (256, 192)


@dataclass(frozen=True)
class ProbeClass:
    """One class of a probe: a HICO-DET (verb, object) and the value of the cue that shows it."""

    verb: str
    object: str
    cue: str


PROBE_CLASSES: dict[str, tuple[ProbeClass, ...]] = {
    "geometry": (
        ProbeClass("ride", "horse", "on_top"), ProbeClass("walk", "horse", "beside"),
        ProbeClass("ride", "bicycle", "on_top"), ProbeClass("push", "bicycle", "beside"),
    ),
    "appearance": (
        ProbeClass("read", "book", "open"), ProbeClass("hold", "book", "closed"),
        ProbeClass("talk_on", "cell_phone", "lit"), ProbeClass("hold", "cell_phone", "dark"),
    ),
    "context": (
        ProbeClass("ride", "surfboard", "water"), ProbeClass("stand_on", "surfboard", "sand"),
        ProbeClass("ride", "snowboard", "snow"), ProbeClass("stand_on", "snowboard", "grass"),
    ),
}
"""Classes of each probe, in class order; the two classes of an object are its confusable group."""

POSE = {"geometry": "push", "appearance": None, "context": "skate"}
"""The one pose every person of a probe takes (appearance: ``read`` for books, ``hold`` for phones)."""

PLACES: dict[str, tuple[str, ...]] = {
    "water": ("on a wave", "in the sea", "in the ocean"),
    "sand": ("on the beach", "on the sand"),
    "snow": ("on the snow", "on a snowy slope"),
    "grass": ("on the grass", "in a park", "on a lawn"),
    "park": ("in a park", "on the grass", "outdoors"),
    "street": ("on the street", "outdoors", "on a sunny day"),
}
"""What the teacher calls each scene."""

NEUTRAL: Color = (200, 200, 196)
"""The colour around the pairs in the context probe (inside union box + margin)."""

CONTEXT_MARGIN = 10.0
"""Pixels around the pairs' union box kept neutral in the context probe (covers detector jitter)."""


def probe_label_space(name: str) -> HOILabelSpace:
    """The four-class label space of probe ``name`` (no rare classes)."""
    classes = _classes(name)
    verbs = tuple(dict.fromkeys(c.verb for c in classes))
    objects = tuple(dict.fromkeys(c.object for c in classes))
    return HOILabelSpace(
        name=f"probe-{name}", verbs=verbs, objects=objects, object_to_coco=tuple(coco_index(o) for o in objects),
        hoi=tuple((verbs.index(c.verb), objects.index(c.object)) for c in classes), rare=frozenset(),
    )


def confusable_groups(name: str) -> list[tuple[int, ...]]:
    """Class indices of each confusable group (the classes that share an object)."""
    classes = _classes(name)
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(classes):
        groups.setdefault(c.object, []).append(i)
    return [tuple(g) for g in groups.values()]


def _classes(name: str) -> tuple[ProbeClass, ...]:
    if name not in PROBE_CLASSES:
        raise KeyError(f"unknown probe {name!r}; valid: {', '.join(PROBES)}")
    return PROBE_CLASSES[name]


# ----------------------------------------------------------------------------- scene graphs
@dataclass
class ProbePerson:
    figure: Figure
    colors: dict[str, Color]


@dataclass
class ProbeThing:
    category: str
    box: Box
    color: Color
    facing: int
    state: str = ""


@dataclass
class ProbeScene:
    """A probe scene graph.

    Attributes:
        probe: the probe name.
        people, things: persons and objects, in annotation order.
        interactions: ``(person_idx, thing_idx, class_idx)`` (probe class order).
        scene: the background kind (a key of :data:`PLACES`).
        neutral: the box kept neutral (context probe), else ``None``.
        background_seed: seed of the background's details.
    """

    probe: str
    people: list[ProbePerson]
    things: list[ProbeThing]
    interactions: list[tuple[int, int, int]]
    scene: str
    neutral: Box | None = None
    background_seed: int = 0
    size: tuple[int, int] = IMAGE_SIZE
    extras: list[Box] = field(default_factory=list)


OBJECT_SIZE = {  # (width, height) in units of the person's height
    "horse": (0.9, 0.6), "bicycle": (0.75, 0.45), "book": (0.3, 0.34), "cell_phone": (0.15, 0.25),
    "surfboard": (0.62, 0.07), "snowboard": (0.5, 0.07),
}


def sample_probe_scene(name: str, seed: int, cues: list[int] | None = None,
                       context_margin: float = CONTEXT_MARGIN) -> ProbeScene:
    """Draw a scene of probe ``name`` from ``seed``.

    The layout (people, objects, boxes, colours, background details) comes from one random
    stream and the choice between the two confusable classes of each pair from another,
    so ``cues`` (0 or 1 per pair, overriding that choice) changes nothing but the verb and
    its cue: the property the probe tests are built on.
    """
    classes = _classes(name)
    objects = list(dict.fromkeys(c.object for c in classes))
    rng = random.Random(f"probe/{name}/{seed}/layout")
    cue_rng = random.Random(f"probe/{name}/{seed}/cue")
    W, H = IMAGE_SIZE
    n = rng.choices([1, 2], weights=[0.6, 0.4])[0]
    if name == "context":  # one scene per image: every pair shares the object kind and the cue
        obj = rng.choice(objects)
        objs = [obj] * n
        choice = cue_rng.randrange(2) if cues is None else cues[0]
        picks = [choice] * n
    else:
        objs = [rng.choice(objects) for _ in range(n)]
        picks = [cue_rng.randrange(2) for _ in range(n)] if cues is None else list(cues[:n])
    ground = H - rng.uniform(10, 24)
    people: list[ProbePerson] = []
    things: list[ProbeThing] = []
    inter: list[tuple[int, int, int]] = []
    slot = W / n
    for i in range(n):
        group = [k for k, c in enumerate(classes) if c.object == objs[i]]
        k = group[picks[i]]
        h = rng.uniform(0.46, 0.56) * H * (0.85 if n == 2 else 1.0)
        facing = rng.choice([1, -1])
        x = slot * (i + 0.5) + rng.uniform(-0.06, 0.06) * slot
        fig, box = _place(name, classes[k], x, ground, h, facing)
        people.append(ProbePerson(fig, person_colors(rng)))
        things.append(ProbeThing(objs[i], box, object_color(rng, objs[i]) if objs[i] in _DEMO_OBJECTS else
                                 jitter_color(rng, (230, 120, 40), 40), facing, classes[k].cue))
        inter.append((i, i, k))
    bg_seed = rng.randrange(2**31)
    if name == "context":
        scene = classes[inter[0][2]].cue
        boxes = [p.figure.box() for p in people] + [t.box for t in things]
        m = context_margin
        neutral = (min(b[0] for b in boxes) - m, min(b[1] for b in boxes) - m,
                   max(b[2] for b in boxes) + m, max(b[3] for b in boxes) + m)
    else:
        scene = rng.choice(("park", "street"))
        neutral = None
    return ProbeScene(name, people, things, inter, scene, neutral, bg_seed)


_DEMO_OBJECTS = {"horse", "bicycle", "book", "cell_phone"}


def _place(name: str, cls: ProbeClass, x: float, ground: float, h: float, facing: int) -> tuple[Figure, Box]:
    ow, oh = OBJECT_SIZE[cls.object][0] * h, OBJECT_SIZE[cls.object][1] * h
    if name == "geometry":
        pose = POSE[name]
        if cls.cue == "on_top":  # the same standing figure, its feet on the object's back / saddle
            box = (x - ow / 2, ground - oh, x + ow / 2, ground)
            hip = (x - facing * 0.05 * ow, box[1] + 0.25 * oh - hip_to_feet(pose) * h)
            return person_joints(pose, hip, h, facing), box
        hip = (x - facing * 0.3 * ow, ground - hip_to_feet(pose) * h)  # beside: on the ground, object ahead
        fig = person_joints(pose, hip, h, facing)
        hx = fig.joints["hand_f"][0]
        box = (hx, ground - oh, hx + ow, ground) if facing > 0 else (hx - ow, ground - oh, hx, ground)
        return fig, box
    if name == "appearance":
        pose = "read" if cls.object == "book" else "hold"
        fig = person_joints(pose, (x, ground - hip_to_feet(pose) * h), h, facing)
        hx, hy = fig.joints["hand_f"]
        cx = hx + facing * 0.3 * ow if cls.object == "book" else hx + facing * 0.4 * ow
        return fig, (cx - ow / 2, hy - oh / 2, cx + ow / 2, hy + oh / 2)
    pose = POSE[name]  # context: standing on the board
    hip = (x, ground - oh - hip_to_feet(pose) * h)
    return person_joints(pose, hip, h, facing), (x - ow / 2, ground - oh, x + ow / 2, ground)


# ----------------------------------------------------------------------------- rendering
def render_probe_scene(scene: ProbeScene) -> Image.Image:
    """Paint a probe scene (``IMAGE_SIZE`` RGB)."""
    rng = random.Random(scene.background_seed)
    W, H = scene.size
    ground_y = max(t.box[3] for t in scene.things) - 2
    if scene.probe == "context":
        img = _draw_context_background(rng, scene.scene, scene.size, ground_y)
        d = ImageDraw.Draw(img)
        d.rectangle(list(scene.neutral), fill=NEUTRAL)  # type: ignore[arg-type]
    else:
        img = draw_background(rng, scene.size, ground_y)
        d = ImageDraw.Draw(img)
    behind = [t for t in scene.things if t.category in ("horse", "bicycle", "surfboard", "snowboard")]
    for t in behind:
        _draw_thing(d, t)
    for p in scene.people:
        draw_person(d, p.figure, p.colors)
    for t in scene.things:
        if t not in behind:
            _draw_thing(d, t)
    return img


def _draw_thing(d: ImageDraw.ImageDraw, t: ProbeThing) -> None:
    x1, y1, x2, y2 = t.box
    w, h = x2 - x1, y2 - y1
    if t.category in ("horse", "bicycle"):
        draw_object(d, t.category, t.box, t.color, t.facing)
    elif t.category == "book":
        if t.state == "open":  # two white pages with lines, a dark spine
            d.rectangle([x1, y1, x2, y2], fill=(250, 250, 245), outline=(60, 60, 60))
            d.line([((x1 + x2) / 2, y1), ((x1 + x2) / 2, y2)], fill=(60, 60, 60), width=2)
            for k in range(1, 5):
                yy = y1 + h * k / 5.5
                d.line([(x1 + w * 0.08, yy), (x1 + w * 0.42, yy)], fill=(120, 120, 120), width=1)
                d.line([(x1 + w * 0.58, yy), (x2 - w * 0.08, yy)], fill=(120, 120, 120), width=1)
        else:  # closed: the coloured cover
            dark = tuple(int(c * 0.55) for c in t.color)
            d.rectangle([x1, y1, x2, y2], fill=t.color, outline=dark)
            d.line([(x1 + w * 0.12, y1), (x1 + w * 0.12, y2)], fill=dark, width=2)
    elif t.category == "cell_phone":
        d.rectangle([x1, y1, x2, y2], fill=(30, 30, 40))
        screen = [x1 + w * 0.15, y1 + h * 0.1, x2 - w * 0.15, y2 - h * 0.12]
        if t.state == "lit":  # a bright call screen with a green button
            d.rectangle(screen, fill=(235, 245, 255))
            cx, cy, r = (x1 + x2) / 2, y1 + h * 0.7, w * 0.18
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(40, 200, 60))
        else:
            d.rectangle(screen, fill=(15, 15, 20))
    elif t.category in ("surfboard", "snowboard"):
        d.rounded_rectangle([x1, y1, x2, y2], radius=h * 0.45, fill=t.color, outline=(40, 40, 40))
    else:
        raise KeyError(f"cannot draw {t.category!r} in a probe")


def _draw_context_background(rng: random.Random, scene: str, size: tuple[int, int], ground_y: float) -> Image.Image:
    """Sky above a horizon, then water (waves), sand (dots), snow (pines) or grass (tufts, trees)."""
    w, h = size
    horizon = h * rng.uniform(0.3, 0.4)
    img = Image.new("RGB", size, jitter_color(rng, (150, 200, 240), 15))
    d = ImageDraw.Draw(img)
    base = {"water": (40, 110, 190), "sand": (225, 200, 140), "snow": (245, 248, 252), "grass": (90, 160, 70)}[scene]
    d.rectangle([0, horizon, w, h], fill=jitter_color(rng, base, 12))
    for _ in range(rng.randint(14, 22)):
        x, y = rng.uniform(0, w), rng.uniform(horizon + 4, h)
        if scene == "water":  # white wave crests
            d.arc([x - 10, y - 4, x + 10, y + 4], 200, 340, fill=(240, 245, 255), width=2)
        elif scene == "sand":
            d.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(180, 150, 95))
        elif scene == "snow":
            d.ellipse([x - 3, y - 1.5, x + 3, y + 1.5], fill=(200, 210, 225))
        else:
            d.line([(x, y), (x - 2, y - 5)], fill=(40, 110, 40), width=1)
            d.line([(x, y), (x + 2, y - 5)], fill=(40, 110, 40), width=1)
    for _ in range(rng.randint(1, 3)):  # far features on the horizon
        x = rng.uniform(0, w)
        if scene == "snow":
            d.polygon([(x, horizon - 22), (x - 9, horizon + 2), (x + 9, horizon + 2)], fill=(30, 90, 60))
        elif scene == "grass":
            d.ellipse([x - 10, horizon - 20, x + 10, horizon], fill=(50, 120, 50))
            d.line([(x, horizon), (x, horizon + 6)], fill=(100, 70, 40), width=3)
        elif scene == "water":
            d.polygon([(x, horizon - 14), (x, horizon - 1), (x + 10, horizon - 1)], fill=(250, 250, 250))  # a sail
        else:
            d.line([(x, horizon - 18), (x, horizon + 8)], fill=(120, 90, 60), width=2)  # a beach umbrella
            d.pieslice([x - 10, horizon - 24, x + 10, horizon - 10], 180, 360, fill=(230, 60, 60))
    return img


# ----------------------------------------------------------------------------- records and worlds
def probe_record(scene: ProbeScene, file_name: str) -> dict[str, Any]:
    """The converted HICO-DET record of a probe scene (people first, then objects, 1-based boxes)."""
    W, H = scene.size

    def clip(b: Box) -> list[float]:
        return [round(max(0.0, b[0]) + 1, 2), round(max(0.0, b[1]) + 1, 2), round(min(float(W), b[2]) + 1, 2),
                round(min(float(H), b[3]) + 1, 2)]

    classes = _classes(scene.probe)
    boxes = [clip(p.figure.box()) for p in scene.people] + [clip(t.box) for t in scene.things]
    cats = [COCO_IDS[PERSON]] * len(scene.people) + [COCO_IDS[coco_index(t.category)] for t in scene.things]
    n = len(scene.people)
    return {
        "file_name": file_name, "width": W, "height": H,
        "annotations": [{"bbox": b, "category_id": c} for b, c in zip(boxes, cats)],
        "hoi_annotation": [{"subject_id": p, "object_id": n + t, "category_id": hicodet_verb_id(classes[k].verb)}
                           for p, t, k in scene.interactions],
        "probe": {"classes": [k for _, _, k in scene.interactions], "scene": scene.scene},
    }


@dataclass(frozen=True)
class ProbeWorldSpec:
    """What a probe world is generated from (its cache key)."""

    probe: str
    seed: int = 0
    num_train: int = 240
    num_test: int = 120
    context_margin: float = CONTEXT_MARGIN

    def key(self) -> str:
        fields = asdict(self)
        if self.context_margin == CONTEXT_MARGIN:  # the frozen default keeps its cache key
            del fields["context_margin"]
        text = json.dumps({**fields, "version": PROBE_VERSION}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:10]


def _scene_seed(spec: ProbeWorldSpec, split: str, i: int) -> int:
    digest = hashlib.sha256(f"clhoi-probe/{spec.probe}/{spec.seed}/{split}/{i}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def probe_split(spec: ProbeWorldSpec, split: str, count: int) -> list[ProbeScene]:
    """The scenes of a split (``train``, ``test`` or ``clip``; disjoint seeds)."""
    return [sample_probe_scene(spec.probe, _scene_seed(spec, split, i), context_margin=spec.context_margin)
            for i in range(count)]


def build_probe_world(spec: ProbeWorldSpec, cache_dir: str | Path) -> Path:
    """Write the world of ``spec`` (images, HICO-DET annotations) under ``cache_dir``; reused when there."""
    root = Path(cache_dir) / f"probe-{spec.probe}-{spec.key()}"
    if (root / "world.json").is_file():
        return root
    tmp = Path(cache_dir) / f".tmp-probe-{spec.key()}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "annotations").mkdir(parents=True)
    for split, n in (("train", spec.num_train), ("test", spec.num_test)):
        recs = []
        for i, scene in enumerate(probe_split(spec, split, n)):
            name = f"{split}/{i:06d}.png"
            (tmp / "images" / split).mkdir(parents=True, exist_ok=True)
            render_probe_scene(scene).save(tmp / "images" / name, compress_level=1)
            recs.append(probe_record(scene, name))
        (tmp / "annotations" / f"{split}_probe.json").write_text(json.dumps(recs), encoding="utf-8")
    (tmp / "world.json").write_text(json.dumps({"spec": asdict(spec), "version": PROBE_VERSION}), encoding="utf-8")
    if root.exists():
        shutil.rmtree(tmp)
    else:
        os.replace(tmp, root)
    return root
