"""Stick-figure poses: where a person's joints are for each interaction.

Joints are given relative to the hip, in units of the person's height ``h``,
for a person facing right (+x); ``y`` grows downwards as in image pixels.
:func:`person_joints` scales, mirrors and places them. The pose is the visual
evidence of the interaction: an arm raised for ``throw`` and ``fly``, a leg
extended for ``kick``, a hand at the head for ``talk on``, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass

Point = tuple[float, float]

JOINTS = ("head", "neck", "elbow_f", "hand_f", "elbow_b", "hand_b", "knee_f", "foot_f", "knee_b", "foot_b")
"""Joint names; ``_f`` is the front (facing-side) limb, ``_b`` the back one."""

HEAD_RADIUS = 0.085
"""Head radius in units of the person's height."""

_STAND = {
    "head": (0.0, -0.45), "neck": (0.0, -0.33),
    "elbow_f": (0.06, -0.17), "hand_f": (0.08, -0.02),
    "elbow_b": (-0.06, -0.17), "hand_b": (-0.08, -0.02),
    "knee_f": (0.04, 0.23), "foot_f": (0.07, 0.45),
    "knee_b": (-0.04, 0.23), "foot_b": (-0.07, 0.45),
}
_WALK_LEGS = {"knee_f": (0.08, 0.22), "foot_f": (0.15, 0.45), "knee_b": (-0.05, 0.23), "foot_b": (-0.12, 0.45)}

# Only the joints that differ from standing are listed.
_POSES: dict[str, dict[str, Point]] = {
    "stand": {},
    "hands_on_hips": {"elbow_f": (0.14, -0.12), "hand_f": (0.05, 0.0), "elbow_b": (-0.14, -0.12), "hand_b": (-0.05, 0.0)},
    "ride": {
        "head": (0.09, -0.44), "neck": (0.06, -0.32),
        "elbow_f": (0.15, -0.2), "hand_f": (0.26, -0.12), "elbow_b": (0.12, -0.18), "hand_b": (0.22, -0.1),
        "knee_f": (0.16, 0.07), "foot_f": (0.11, 0.28), "knee_b": (0.11, 0.09), "foot_b": (0.05, 0.3),
    },
    "push": {
        "head": (0.07, -0.44), "neck": (0.05, -0.32),
        "elbow_f": (0.14, -0.24), "hand_f": (0.27, -0.2), "elbow_b": (0.12, -0.22), "hand_b": (0.25, -0.18),
        **_WALK_LEGS,
    },
    "lead": {"elbow_b": (-0.13, -0.17), "hand_b": (-0.25, -0.1), **_WALK_LEGS},
    "sit": {
        "elbow_f": (0.08, -0.15), "hand_f": (0.18, -0.05), "elbow_b": (0.05, -0.15), "hand_b": (0.15, -0.04),
        "knee_f": (0.21, -0.01), "foot_f": (0.22, 0.22), "knee_b": (0.19, 0.0), "foot_b": (0.19, 0.23),
    },
    "carry_high": {"elbow_f": (0.11, -0.45), "hand_f": (0.07, -0.6), "elbow_b": (-0.11, -0.45), "hand_b": (-0.07, -0.6)},
    "kick": {
        "elbow_f": (0.1, -0.15), "hand_f": (0.16, -0.04), "elbow_b": (-0.15, -0.24), "hand_b": (-0.27, -0.3),
        "knee_f": (0.15, 0.19), "foot_f": (0.32, 0.36), "knee_b": (-0.03, 0.23), "foot_b": (-0.04, 0.45),
    },
    "throw": {"elbow_f": (0.06, -0.46), "hand_f": (0.1, -0.62), "elbow_b": (-0.1, -0.2), "hand_b": (-0.18, -0.1),
              **_WALK_LEGS},
    "hold": {"elbow_f": (0.1, -0.12), "hand_f": (0.21, -0.16)},
    "hold_low": {"elbow_f": (0.07, -0.16), "hand_f": (0.13, -0.01)},
    "fly": {"elbow_f": (0.11, -0.42), "hand_f": (0.22, -0.55)},
    "read": {
        "head": (0.01, -0.45),
        "elbow_f": (0.11, -0.14), "hand_f": (0.2, -0.33), "elbow_b": (0.08, -0.13), "hand_b": (0.18, -0.31),
    },
    "phone": {"elbow_f": (0.13, -0.26), "hand_f": (0.07, -0.44)},
    "drink": {"elbow_f": (0.13, -0.2), "hand_f": (0.1, -0.38)},
    "umbrella": {"elbow_f": (0.11, -0.38), "hand_f": (0.09, -0.52)},
    "skate": {
        "elbow_f": (0.14, -0.22), "hand_f": (0.27, -0.21), "elbow_b": (-0.14, -0.22), "hand_b": (-0.27, -0.21),
        "knee_f": (0.1, 0.21), "foot_f": (0.13, 0.43), "knee_b": (-0.1, 0.21), "foot_b": (-0.13, 0.43),
    },
    "catch": {
        "elbow_f": (0.13, -0.34), "hand_f": (0.21, -0.52), "elbow_b": (0.1, -0.33), "hand_b": (0.17, -0.5),
    },
}

POSES: tuple[str, ...] = tuple(_POSES)
IDLE_POSES: tuple[str, ...] = ("stand", "hands_on_hips")
"""Poses of people who interact with nothing."""


@dataclass
class Figure:
    """A placed person: joints in image pixels.

    Attributes:
        joints: joint name -> ``(x, y)`` pixels.
        hip: hip position in pixels.
        height: person height ``h`` in pixels.
        facing: +1 facing right, -1 facing left.
    """

    joints: dict[str, Point]
    hip: Point
    height: float
    facing: int

    @property
    def head_radius(self) -> float:
        return HEAD_RADIUS * self.height

    @property
    def limb_width(self) -> float:
        return max(2.0, 0.05 * self.height)

    def box(self) -> tuple[float, float, float, float]:
        """Tight ``[x1, y1, x2, y2]`` box of the drawn figure (limbs and head)."""
        pad = self.limb_width / 2
        xs = [p[0] for p in self.joints.values()] + [self.hip[0]]
        ys = [p[1] for p in self.joints.values()] + [self.hip[1]]
        hx, hy = self.joints["head"]
        r = self.head_radius
        return (min(min(xs) - pad, hx - r), min(min(ys) - pad, hy - r), max(max(xs) + pad, hx + r), max(max(ys) + pad, hy + r))


def person_joints(pose: str, hip: Point, height: float, facing: int) -> Figure:
    """Place ``pose`` with its hip at ``hip`` (pixels), height ``height`` and ``facing`` (+1 / -1)."""
    if pose not in _POSES:
        raise KeyError(f"unknown pose {pose!r}; valid: {', '.join(POSES)}")
    rel = {**_STAND, **_POSES[pose]}
    joints = {name: (hip[0] + facing * x * height, hip[1] + y * height) for name, (x, y) in rel.items()}
    return Figure(joints=joints, hip=hip, height=height, facing=facing)


def hip_to_feet(pose: str) -> float:
    """How far below the hip the lowest foot is, in units of height (to stand a pose on the ground)."""
    rel = {**_STAND, **_POSES[pose]}
    return max(rel["foot_f"][1], rel["foot_b"][1])
