"""Scene graphs of the sandbox world: who is where, doing what with which object.

:func:`sample_scene` draws a scene graph from a seed (1-3 people, 1-4 objects,
interactions shown by pose and object placement, distractor objects nobody
touches, and "twin" scenes where two people stand by two objects of the same
kind); :func:`render_scene` paints it. Boxes are ``[x1, y1, x2, y2]`` float
pixels of the rendered image.

Two classes of cue besides pose and geometry (world version 4):

* appearance: a book or a cell phone has a ``state`` (``open`` / ``closed``, ``lit`` /
  ``dark``) that the interaction decides (distractors get a random one); the pose and
  the placement are the same for both verbs of the object;
* context: an image with a surfboard or a snowboard shows one ``place`` (water, sand,
  snow or grass, painted by the context probe's background code) that decides the verb
  of every board in it; all boards of the image are of one class (the first board
  interaction drawn; a twin of a board person rides or stands on a board too), no
  board is a distractor, and the area around each board pair (its union box plus
  :data:`clhoi.sandbox.probe_worlds.CONTEXT_MARGIN` pixels) is painted the context
  probe's neutral grey, so the place is seen only outside the pair.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from clhoi.sandbox.draw import OBJECT_SIZE, Box, Color, draw_background, draw_object, draw_person, object_color, person_colors
from clhoi.sandbox.labels import BOARDS, HOI_KINDS, SANDBOX_OBJECTS
from clhoi.sandbox.poses import IDLE_POSES, Figure, hip_to_feet, person_joints
from clhoi.sandbox.probe_worlds import CONTEXT_MARGIN, NEUTRAL, ProbeThing
from clhoi.sandbox.probe_worlds import _draw_context_background as draw_place_background
from clhoi.sandbox.probe_worlds import _draw_thing as draw_probe_thing

IMAGE_SIZE = (256, 192)
"""``(width, height)`` of every sandbox image."""

_BEHIND = {"bicycle", "horse", "chair", "skateboard", "surfboard", "snowboard"}  # drawn before the person
_PROBE_DRAWN = {"book", "cell_phone", "surfboard", "snowboard"}  # painted by the probes' code
_STATES = {"book": ("open", "closed"), "cell_phone": ("lit", "dark")}


@dataclass
class Person:
    figure: Figure
    colors: dict[str, Color]
    pose: str

    @property
    def box(self) -> Box:
        return self.figure.box()


@dataclass
class Thing:
    """An object instance: COCO-style category name (underscores), box, look."""

    category: str
    box: Box
    color: Color
    facing: int = 1
    closed: bool = False
    state: str = ""


@dataclass
class Scene:
    """A scene graph and everything needed to render it.

    Attributes:
        people: the persons, in annotation order.
        things: the objects, in annotation order.
        interactions: ``(person_idx, thing_idx, sandbox_class)`` triples.
        lines: strings and reins drawn between a hand and an object.
        seed: the seed the scene was drawn from.
        twin: whether this is a scene with two objects of the same kind by two people.
        place: the scene a board image shows (``water``, ``sand``, ``snow``, ``grass``), else ``""``.
    """

    people: list[Person]
    things: list[Thing]
    interactions: list[tuple[int, int, int]]
    lines: list[tuple[tuple[float, float], tuple[float, float]]] = field(default_factory=list)
    seed: int = 0
    twin: bool = False
    size: tuple[int, int] = IMAGE_SIZE
    background_seed: int = 0
    place: str = ""


def _size(category: str, h: float, closed: bool = False) -> tuple[float, float]:
    w, hh = OBJECT_SIZE["umbrella_closed" if closed else category]
    return w * h, hh * h


def _centered(cx: float, cy: float, w: float, h: float) -> Box:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _place_interaction(kind_idx: int, x: float, ground: float, h: float, facing: int, rng: random.Random,
                       ) -> tuple[Figure, Box, bool, list]:
    """Person figure, object box, closed-umbrella flag and strings for one interaction, centred at ``x``."""
    kind = HOI_KINDS[kind_idx]
    pose, cat = kind.pose, kind.object
    ow, oh = _size(cat, h, closed=(cat == "umbrella" and pose == "hold_low"))
    lines: list = []
    if pose == "ride" and cat in ("bicycle", "horse"):
        box = (x - ow / 2, ground - oh, x + ow / 2, ground)
        fig = person_joints("ride", (x - facing * 0.08 * ow, box[1] + 0.18 * oh), h, facing)
        return fig, box, False, lines
    if pose == "skate":
        hip = (x, ground - oh - hip_to_feet("skate") * h)
        fig = person_joints("skate", hip, h, facing)
        return fig, (x - ow / 2, ground - oh, x + ow / 2, ground), False, lines
    if pose == "sit":
        box = (x - ow / 2, ground - oh, x + ow / 2, ground)
        fig = person_joints("sit", (x + facing * 0.02 * h, box[1] + 0.5 * oh - 0.03 * h), h, facing)
        return fig, box, False, lines
    # standing poses: the person at x, the object placed relative to a joint
    hip = (x, ground - hip_to_feet(pose) * h)
    fig = person_joints(pose, hip, h, facing)
    j = fig.joints
    hx, hy = j["hand_f"]
    if pose == "push":
        near = hx - facing * 0.04 * ow
        box = (near, ground - oh, near + ow, ground) if facing > 0 else (near - ow, ground - oh, near, ground)
    elif pose == "lead":
        bx, by = j["hand_b"]
        far = bx - facing * 0.15 * h
        box = (far - ow, ground - oh, far, ground) if facing > 0 else (far, ground - oh, far + ow, ground)
        head = (box[2] - 0.06 * ow, box[1] + 0.08 * oh) if facing > 0 else (box[0] + 0.06 * ow, box[1] + 0.08 * oh)
        lines.append(((bx, by), head))
    elif pose == "carry_high":
        cx = (hx + j["hand_b"][0]) / 2
        box = (cx - ow / 2, hy - oh, cx + ow / 2, hy)
    elif pose == "kick":
        fx, fy = j["foot_f"]
        box = _centered(fx + facing * 0.6 * ow, fy - 0.1 * oh, ow, oh)
    elif pose in ("throw",):
        box = _centered(hx + facing * 0.04 * h, hy - 0.6 * oh - 0.02 * h, ow, oh)
    elif pose == "catch":
        mx = (hx + j["hand_b"][0]) / 2 + facing * 0.04 * h
        box = _centered(mx, (hy + j["hand_b"][1]) / 2 - 0.05 * h, ow, oh)
    elif pose == "fly":
        cx = hx + facing * rng.uniform(0.2, 0.6) * h
        cy = max(oh / 2 + 2, hy - rng.uniform(0.45, 0.8) * h)
        box = _centered(cx, cy, ow, oh)
        lines.append(((hx, hy), (cx, box[3] - 0.2 * oh)))
    elif pose == "read":  # the appearance probe's book placement: open or closed, the same box
        box = _centered(hx + facing * 0.3 * ow, hy, ow, oh)
    elif pose in ("phone", "drink"):
        box = _centered(hx + facing * 0.025 * h, hy - 0.01 * h, ow, oh)
    elif pose == "umbrella":
        box = (hx - ow / 2, hy - oh, hx + ow / 2, hy + 0.01 * h)
    elif pose == "hold_low":
        if cat == "skateboard":
            box = _centered(hx + facing * 0.05 * h, hy + 0.02 * h, ow, oh)
        elif cat == "umbrella":
            box = (hx - ow / 2, hy - 0.08 * h, hx + ow / 2, hy - 0.08 * h + oh)
        else:
            box = _centered(hx + facing * (ow / 2 + 0.01 * h), hy + 0.35 * oh, ow, oh)
    elif pose == "hold" and cat == "cell_phone":  # the appearance probe's phone placement: lit or dark
        box = _centered(hx + facing * 0.4 * ow, hy, ow, oh)
    elif pose == "hold":
        box = _centered(hx + facing * (ow / 2 + 0.01 * h), hy, ow, oh)
    else:
        raise KeyError(f"no placement rule for pose {pose!r}")
    return fig, box, cat == "umbrella" and pose == "hold_low", lines


def _overlaps(a: Box, b: Box, margin: float = 0.0) -> bool:
    return not (a[2] + margin <= b[0] or b[2] + margin <= a[0] or a[3] + margin <= b[1] or b[3] + margin <= a[1])


def clip_box(box: Box, size: tuple[int, int]) -> Box:
    """``box`` clipped to an image of ``size`` ``(width, height)``."""
    w, h = size
    return (max(0.0, box[0]), max(0.0, box[1]), min(float(w), box[2]), min(float(h), box[3]))


_DISTRACTORS = tuple(o for o in SANDBOX_OBJECTS if o not in BOARDS)
"""Objects drawn as distractors (no board: its verb would need a place)."""


def _weights() -> list[float]:
    return [k.weight for k in HOI_KINDS]


def _visible(scene: Scene) -> bool:
    """Every box at least 2 px wide and high and at least 40% inside the image (before clipping)."""
    W, H = scene.size
    boxes = [p.box for p in scene.people] + [t.box for t in scene.things]
    for x1, y1, x2, y2 in boxes:
        cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, W), min(y2, H)
        if cx2 - cx1 < 2 or cy2 - cy1 < 2 or (cx2 - cx1) * (cy2 - cy1) < 0.4 * (x2 - x1) * (y2 - y1):
            return False
    return True


def sample_scene(seed: int, twin_prob: float = 0.3, idle_prob: float = 0.25) -> Scene:
    """Draw one scene graph from ``seed`` (same seed, same scene).

    A draw whose person or object would fall mostly outside the image is
    redrawn from a derived seed, so every annotated box is visible.
    """
    for attempt in range(50):
        scene = _sample(seed * 1_000_003 + attempt if attempt else seed, twin_prob, idle_prob)
        if _visible(scene):
            scene.seed = seed
            return scene
    raise RuntimeError(f"could not draw a scene with every box visible from seed {seed}")


def _sample(seed: int, twin_prob: float, idle_prob: float) -> Scene:
    rng = random.Random(seed)
    W, H = IMAGE_SIZE
    ground = H - rng.uniform(8, 22)
    n_people = rng.choices([1, 2, 3], weights=[0.4, 0.4, 0.2])[0]
    twin = n_people >= 2 and rng.random() < twin_prob
    kinds: list[int | None] = []
    if twin:
        first = rng.choices(range(len(HOI_KINDS)), weights=_weights())[0]
        same = [i for i, k in enumerate(HOI_KINDS) if k.object == HOI_KINDS[first].object]
        second = rng.choice(same) if rng.random() < 0.6 else None  # None: idle beside the second object
        kinds = [first, second] + [None if rng.random() < idle_prob else
                                   rng.choices(range(len(HOI_KINDS)), weights=_weights())[0]
                                   for _ in range(n_people - 2)]
    else:
        kinds = [None if rng.random() < idle_prob else rng.choices(range(len(HOI_KINDS)), weights=_weights())[0]
                 for _ in range(n_people)]
    # one place per image: every board interaction takes the first one's class
    board = next((k for k in kinds if k is not None and HOI_KINDS[k].object in BOARDS), None)
    if board is not None:
        kinds = [board if k is not None and HOI_KINDS[k].object in BOARDS else k for k in kinds]
        if twin and kinds[0] == board:
            kinds[1] = board  # an idle twin would stand by a board whose verb the place decides
    order = list(range(n_people))
    rng.shuffle(order)
    h0 = rng.uniform(0.38, 0.46) * H * (0.9 if n_people == 3 else 1.0)
    people: list[Person] = []
    things: list[Thing] = []
    inter: list[tuple[int, int, int]] = []
    lines: list = []
    slot = W / n_people
    for s, p in enumerate(order):
        h = h0 * rng.uniform(0.9, 1.08)
        facing = rng.choice([1, -1])
        x = slot * (s + 0.5) + rng.uniform(-0.08, 0.08) * slot
        k = kinds[p]
        if k is None:
            fig = person_joints(rng.choice(IDLE_POSES), (x, ground - hip_to_feet("stand") * h), h, facing)
            people.append(Person(fig, person_colors(rng), "idle"))
            if twin and p == 1:  # the idle twin stands beside an object of the first person's kind
                cat = HOI_KINDS[kinds[0]].object  # type: ignore[index]
                ow, oh = _size(cat, h)
                bx = fig.box()
                near = bx[2] + 0.04 * h if facing > 0 else bx[0] - 0.04 * h - ow
                box = (near, ground - oh, near + ow, ground) if cat in _BEHIND or cat == "horse" else \
                    (near, ground - oh, near + ow, ground)
                things.append(Thing(cat, box, object_color(rng, cat), facing,
                                    state=rng.choice(_STATES[cat]) if cat in _STATES else ""))
            continue
        fig, box, closed, extra = _place_interaction(k, x, ground, h, facing, rng)
        cat = HOI_KINDS[k].object
        people.append(Person(fig, person_colors(rng), HOI_KINDS[k].pose))
        things.append(Thing(cat, box, object_color(rng, cat), facing, closed, HOI_KINDS[k].state))
        inter.append((len(people) - 1, len(things) - 1, k))
        lines.extend(extra)
    # distractors: objects nobody interacts with, away from everyone's reach
    n_extra = rng.choices([0, 1, 2], weights=[0.15, 0.5, 0.35])[0]
    if not things:
        n_extra = max(1, n_extra)
    taken = [p.box for p in people] + [t.box for t in things]
    for _ in range(n_extra):
        if len(things) >= 4:
            break
        cat = rng.choice(_DISTRACTORS)
        h = h0 * rng.uniform(0.85, 1.0)
        ow, oh = _size(cat, h)
        for _try in range(25):
            cx = rng.uniform(ow / 2, W - ow / 2)
            if cat == "kite":
                box = _centered(cx, rng.uniform(oh / 2 + 2, H * 0.3), ow, oh)
            else:
                bottom = ground + rng.uniform(0, 6)
                box = (cx - ow / 2, bottom - oh, cx + ow / 2, bottom)
            if not any(_overlaps(box, t, margin=0.12 * h) for t in taken):
                things.append(Thing(cat, box, object_color(rng, cat), rng.choice([1, -1]),
                                    closed=(cat == "umbrella"),
                                    state=rng.choice(_STATES[cat]) if cat in _STATES else ""))
                taken.append(box)
                break
    if not things:  # no room for a distractor: a small ball in a corner
        cat = "sports_ball"
        ow, oh = _size(cat, h0)
        things.append(Thing(cat, (2.0, ground - oh, 2.0 + ow, ground), object_color(rng, cat)))
    place = HOI_KINDS[board].place if board is not None else ""
    return Scene(people, things, inter, lines, seed=seed, twin=twin, background_seed=rng.randrange(2**31),
                 place=place)


def render_scene(scene: Scene) -> Image.Image:
    """Paint ``scene`` as an RGB image of :data:`IMAGE_SIZE`."""
    rng = random.Random(scene.background_seed)
    ground = max(t.box[3] for t in scene.things) if scene.things else scene.size[1] * 0.9
    ground = min(ground, max(p.figure.box()[3] for p in scene.people) if scene.people else ground)
    if scene.place:  # the context probe's scene, neutral grey around each board pair
        img = draw_place_background(rng, scene.place, scene.size, ground - 2)
        d = ImageDraw.Draw(img)
        m = CONTEXT_MARGIN
        for p, t, _k in scene.interactions:
            if scene.things[t].category in BOARDS:
                a, b = scene.people[p].box, scene.things[t].box
                d.rectangle([min(a[0], b[0]) - m, min(a[1], b[1]) - m, max(a[2], b[2]) + m, max(a[3], b[3]) + m],
                            fill=NEUTRAL)
    else:
        img = draw_background(rng, scene.size, ground - 2)
        d = ImageDraw.Draw(img)
    front = []
    for t in scene.things:
        if t.category in _BEHIND:
            _draw(d, t)
        else:
            front.append(t)
    for p in scene.people:
        draw_person(d, p.figure, p.colors)
    for a, b in scene.lines:
        d.line([a, b], fill=(40, 40, 40), width=1)
    for t in front:
        _draw(d, t)
    return img


def _draw(d: ImageDraw.ImageDraw, t: Thing) -> None:
    if t.category in _PROBE_DRAWN:
        draw_probe_thing(d, ProbeThing(t.category, t.box, t.color, t.facing, t.state))
    else:
        draw_object(d, t.category, t.box, t.color, t.facing, t.closed)
