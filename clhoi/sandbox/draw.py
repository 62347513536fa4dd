"""Drawing the sandbox world with PIL: stick figures, thirteen kinds of object, backgrounds.

Objects are drawn to fill a given box (``[x1, y1, x2, y2]`` pixels), so the
annotation box is exactly the drawn extent. Colours vary per instance and
carry no information about the interaction. Books, cell phones and the two
boards are painted by the capability probes' drawing code
(``clhoi.sandbox.probe_worlds``: open / closed books, lit / dark phone screens),
called from :func:`clhoi.sandbox.scene.render_scene`; their sizes here are the
appearance and context probes' sizes.
"""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from clhoi.sandbox.poses import Figure

Box = tuple[float, float, float, float]
Color = tuple[int, int, int]

OBJECT_SIZE: dict[str, tuple[float, float]] = {
    "bicycle": (0.75, 0.45),
    "horse": (0.9, 0.6),
    "chair": (0.3, 0.5),
    "sports_ball": (0.11, 0.11),
    "kite": (0.2, 0.26),
    "book": (0.3, 0.34),
    "cell_phone": (0.15, 0.25),
    "cup": (0.09, 0.11),
    "umbrella": (0.6, 0.5),
    "umbrella_closed": (0.08, 0.42),
    "skateboard": (0.42, 0.08),
    "frisbee": (0.2, 0.06),
    "surfboard": (0.62, 0.07),
    "snowboard": (0.5, 0.07),
}
"""``(width, height)`` of each object, in units of a person's height."""

_SKIN: tuple[Color, ...] = ((241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172))
_CLOTHES: tuple[Color, ...] = (
    (200, 40, 40), (40, 80, 200), (40, 150, 60), (220, 160, 30), (120, 50, 160), (30, 30, 30), (230, 110, 160),
    (20, 140, 160), (150, 90, 40), (90, 90, 90),
)


def jitter_color(rng: random.Random, base: Color, amount: int = 30) -> Color:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in base)  # type: ignore[return-value]


def draw_background(rng: random.Random, size: tuple[int, int], ground_y: float) -> Image.Image:
    """Sky above ``ground_y``, grass or pavement below, a few clouds and bushes."""
    w, h = size
    img = Image.new("RGB", size, jitter_color(rng, (150, 200, 240), 20))
    d = ImageDraw.Draw(img)
    ground = rng.choice([(110, 170, 90), (170, 170, 160), (190, 170, 120)])
    d.rectangle([0, ground_y, w, h], fill=jitter_color(rng, ground, 15))
    for _ in range(rng.randint(0, 3)):
        cx, cy = rng.uniform(0, w), rng.uniform(5, ground_y * 0.45)
        for k in range(3):
            r = rng.uniform(6, 11)
            d.ellipse([cx + 9 * k - r, cy - r * 0.6, cx + 9 * k + r, cy + r * 0.6], fill=(245, 245, 250))
    for _ in range(rng.randint(0, 2)):
        cx, r = rng.uniform(0, w), rng.uniform(8, 16)
        d.ellipse([cx - r, ground_y - r, cx + r, ground_y + r * 0.4], fill=jitter_color(rng, (60, 120, 60), 20))
    return img


def person_colors(rng: random.Random) -> dict[str, Color]:
    return {"skin": rng.choice(_SKIN), "shirt": rng.choice(_CLOTHES), "pants": rng.choice(_CLOTHES)}


def draw_person(d: ImageDraw.ImageDraw, fig: Figure, colors: dict[str, Color]) -> None:
    """A thick stick figure: legs, torso, arms, head."""
    j, w = fig.joints, fig.limb_width
    lw = max(2, int(round(w)))
    for knee, foot in (("knee_b", "foot_b"), ("knee_f", "foot_f")):
        d.line([fig.hip, j[knee], j[foot]], fill=colors["pants"], width=lw, joint="curve")
    d.line([fig.hip, j["neck"]], fill=colors["shirt"], width=int(lw * 1.8))
    for elbow, hand in (("elbow_b", "hand_b"), ("elbow_f", "hand_f")):
        d.line([j["neck"], j[elbow], j[hand]], fill=colors["shirt"], width=lw, joint="curve")
        hx, hy = j[hand]
        d.ellipse([hx - w * 0.6, hy - w * 0.6, hx + w * 0.6, hy + w * 0.6], fill=colors["skin"])
    hx, hy = j["head"]
    r = fig.head_radius
    d.ellipse([hx - r, hy - r, hx + r, hy + r], fill=colors["skin"], outline=(60, 40, 30))
    # an eye on the facing side shows the direction the person looks
    ex = hx + fig.facing * r * 0.45
    d.ellipse([ex - 1, hy - r * 0.25 - 1, ex + 1, hy - r * 0.25 + 1], fill=(20, 20, 20))


def object_color(rng: random.Random, category: str) -> Color:
    base = {
        "bicycle": rng.choice(_CLOTHES), "horse": rng.choice([(120, 70, 30), (80, 50, 30), (200, 180, 150), (40, 30, 30)]),
        "chair": rng.choice([(140, 90, 40), (100, 100, 110), (180, 60, 40)]), "sports_ball": (250, 250, 250),
        "kite": rng.choice(_CLOTHES), "book": rng.choice(_CLOTHES), "cell_phone": (30, 30, 40),
        "cup": rng.choice([(240, 240, 240), (200, 60, 60), (60, 120, 200)]), "umbrella": rng.choice(_CLOTHES),
        "skateboard": rng.choice([(180, 120, 60), (40, 40, 40), (200, 50, 50)]),
        "frisbee": rng.choice([(250, 120, 20), (250, 220, 30), (60, 200, 220)]),
        "surfboard": (230, 120, 40), "snowboard": (230, 120, 40),  # the context probe's board colour
    }[category]
    return jitter_color(rng, base, 20)


def draw_object(d: ImageDraw.ImageDraw, category: str, box: Box, color: Color, facing: int = 1,
                closed: bool = False) -> None:
    """Draw ``category`` filling ``box``; ``facing`` mirrors bicycles and horses, ``closed`` folds umbrellas."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    lw = max(2, int(round(min(w, h) * 0.08)))
    dark = tuple(int(c * 0.55) for c in color)
    if category == "bicycle":
        r = min(h * 0.38, w * 0.24)
        cb, cf = (x1 + r, y2 - r), (x2 - r, y2 - r)
        if facing < 0:
            cb, cf = cf, cb
        for cx, cy in (cb, cf):
            d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(30, 30, 30), width=max(2, lw - 1))
        seat = (cb[0] + (cf[0] - cb[0]) * 0.35, y1 + h * 0.22)
        bar = (cf[0] - (cf[0] - cb[0]) * 0.08, y1 + h * 0.08)
        mid = ((cb[0] + cf[0]) / 2, cb[1])
        d.line([cb, seat, mid, cb], fill=color, width=lw)
        d.line([seat, (bar[0], seat[1]), cf], fill=color, width=lw)
        d.line([(bar[0], seat[1]), bar], fill=color, width=lw)
        d.line([(bar[0] - facing * w * 0.05, y1), (bar[0] + facing * w * 0.05, y1)], fill=(30, 30, 30), width=lw)
        d.line([(seat[0] - w * 0.05, seat[1] - lw), (seat[0] + w * 0.05, seat[1] - lw)], fill=(30, 30, 30), width=lw)
    elif category == "horse":
        body = [x1 + w * 0.12, y1 + h * 0.2, x2 - w * 0.18, y1 + h * 0.55]
        if facing < 0:
            body = [x1 + w * 0.18, body[1], x2 - w * 0.12, body[3]]
        d.ellipse(body, fill=color)
        legs = [body[0] + w * 0.05, body[0] + w * 0.15, body[2] - w * 0.15, body[2] - w * 0.05]
        for lx in legs:
            d.line([(lx, body[3] - h * 0.05), (lx, y2)], fill=color, width=lw + 1)
        nx = body[2] - w * 0.05 if facing > 0 else body[0] + w * 0.05
        hx = x2 - w * 0.06 if facing > 0 else x1 + w * 0.06
        d.line([(nx, body[1] + h * 0.05), (hx, y1 + h * 0.08)], fill=color, width=int(lw * 2.5))
        d.ellipse([hx - w * 0.07, y1, hx + w * 0.07, y1 + h * 0.16], fill=color)
        tx = body[0] if facing > 0 else body[2]
        d.line([(tx, body[1] + h * 0.05), (tx - facing * w * 0.1, body[1] + h * 0.3)], fill=dark, width=lw)
    elif category == "chair":
        back_x = x1 if facing > 0 else x2 - lw
        d.rectangle([back_x, y1, back_x + lw, y2], fill=color)
        d.rectangle([x1, y1 + h * 0.5, x2, y1 + h * 0.58], fill=color)
        fx = x2 - lw if facing > 0 else x1
        d.rectangle([fx, y1 + h * 0.5, fx + lw, y2], fill=color)
    elif category == "sports_ball":
        d.ellipse([x1, y1, x2, y2], fill=color, outline=(20, 20, 20), width=1)
        d.ellipse([x1 + w * 0.35, y1 + h * 0.35, x2 - w * 0.35, y2 - h * 0.35], fill=(20, 20, 20))
    elif category == "kite":
        cx = (x1 + x2) / 2
        d.polygon([(cx, y1), (x2, y1 + h * 0.4), (cx, y1 + h * 0.8), (x1, y1 + h * 0.4)], fill=color)
        d.line([(cx, y1 + h * 0.8), (cx - w * 0.2, y2)], fill=dark, width=1)
    elif category == "book":
        d.rectangle([x1, y1, x2, y2], fill=color, outline=dark)
        d.line([(x1 + w * 0.15, y1), (x1 + w * 0.15, y2)], fill=dark, width=max(1, lw - 1))
        d.rectangle([x1 + w * 0.3, y1 + h * 0.2, x2 - w * 0.15, y1 + h * 0.35], fill=(245, 245, 235))
    elif category == "cell_phone":
        d.rectangle([x1, y1, x2, y2], fill=color)
        d.rectangle([x1 + w * 0.2, y1 + h * 0.15, x2 - w * 0.2, y2 - h * 0.2], fill=(120, 180, 230))
    elif category == "cup":
        d.polygon([(x1, y1), (x2 - w * 0.25, y1), (x2 - w * 0.35, y2), (x1 + w * 0.1, y2)], fill=color, outline=dark)
        d.arc([x2 - w * 0.45, y1 + h * 0.2, x2, y1 + h * 0.7], -90, 90, fill=dark, width=max(1, lw - 1))
    elif category == "umbrella" and not closed:
        d.pieslice([x1, y1, x2, y1 + h * 0.7], 180, 360, fill=color, outline=dark)
        cx = (x1 + x2) / 2
        d.line([(cx, y1 + h * 0.35), (cx, y2)], fill=(40, 40, 40), width=max(1, lw // 2))
    elif category == "umbrella":
        cx = (x1 + x2) / 2
        d.polygon([(cx, y1), (x2, y1 + h * 0.7), (x1, y1 + h * 0.7)], fill=color)
        d.line([(cx, y1 + h * 0.7), (cx, y2)], fill=(40, 40, 40), width=max(1, lw // 2))
    elif category == "skateboard":
        d.rounded_rectangle([x1, y1, x2, y1 + h * 0.55], radius=h * 0.25, fill=color)
        r = h * 0.22
        for cx in (x1 + w * 0.2, x2 - w * 0.2):
            d.ellipse([cx - r, y2 - 2 * r, cx + r, y2], fill=(30, 30, 30))
    elif category == "frisbee":
        d.ellipse([x1, y1, x2, y2], fill=color, outline=dark)
    else:
        raise KeyError(f"cannot draw {category!r}; valid: {', '.join(OBJECT_SIZE)}")
