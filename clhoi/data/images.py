"""Image names that stay inside their folder, and images checked before a run relies on them.

Image names come from files a user did not always write (annotation files,
label records, detections files, image lists). :func:`check_image_name`
refuses a name that would leave the image root (an absolute path, a ``..``
component, a drive letter), so nothing outside the folder a user gave is
read or sent anywhere. :func:`find_bad_images` decodes images ahead of a
run, for ``--skip-bad-images``: a zero-byte, truncated or non-image file is
listed with its reason instead of stopping the run half-way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath


class UnsafeImageNameError(ValueError):
    """An image name that would resolve outside the image root."""


_DRIVE = re.compile(r"^[A-Za-z]:")


def check_image_name(name: object, source: str) -> str:
    """``name`` when it is a relative path that stays inside the image root.

    Args:
        name: the image name as read.
        source: names the file (and record) it came from, for the message.

    Raises:
        UnsafeImageNameError: naming ``source`` and the image.
    """
    if not isinstance(name, str) or not name.strip():
        raise UnsafeImageNameError(f"{source}: image name {name!r} is not a file name")
    if "\x00" in name:
        raise UnsafeImageNameError(f"{source}: image name {name!r} contains a NUL character")
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or windows.is_absolute() or name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise UnsafeImageNameError(f"{source}: image name {name!r} is an absolute path; image names must be "
                                   "relative to the image folder")
    if ".." in posix.parts or ".." in windows.parts:
        raise UnsafeImageNameError(f"{source}: image name {name!r} leaves the image folder ('..'); image names "
                                   "must stay inside it")
    return name


def check_image_names(names: Iterable[object], source: str) -> None:
    """:func:`check_image_name` for every name (the message names the first bad one)."""
    for name in names:
        check_image_name(name, source)


def image_problem(path: str | Path) -> str | None:
    """Why the image file ``path`` cannot be used (missing, empty, truncated, not an image), or None.

    The image is decoded in full, so a file cut short by a full disk or an
    interrupted copy is found here, not in the middle of a run.
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        return "missing"
    if path.stat().st_size == 0:
        return "empty file (0 bytes)"
    try:
        with Image.open(path) as im:
            im.load()
            if im.width < 1 or im.height < 1:
                return "image has no pixels"
    except Exception as e:  # noqa: BLE001 - any decoder error is this file's problem
        text = str(e).strip().splitlines()
        return f"not a readable image ({text[0][:120] if text else type(e).__name__})"
    return None


def find_bad_images(root: str | Path, names: Iterable[str]) -> list[tuple[str, str]]:
    """``(name, reason)`` for every image under ``root`` that :func:`image_problem` refuses."""
    root = Path(root)
    out = []
    for name in names:
        problem = image_problem(root / name)
        if problem is not None:
            out.append((name, problem))
    return out


def skipped_summary(bad: list[tuple[str, str]], limit: int = 20) -> str:
    """``skipped 3 unreadable images: a.jpg (empty file), ...`` (the first ``limit`` named)."""
    shown = ", ".join(f"{n} ({why})" for n, why in bad[:limit])
    more = f", and {len(bad) - limit} more" if len(bad) > limit else ""
    return f"skipped {len(bad)} unreadable image(s) (--skip-bad-images): {shown}{more}"


skipped: list[tuple[str, str]] = []
"""Every image left out by ``--skip-bad-images`` in this process, for the command's closing summary."""


def keep_readable(root: str | Path, names: list[str], skip_bad: bool) -> list[str]:
    """``names`` without the unreadable images under ``root`` when ``skip_bad`` (recorded in :data:`skipped`).

    Without ``skip_bad`` the names are returned unchanged (nothing is decoded
    ahead; the run stops at the first unreadable image, naming it).

    Raises:
        ValueError: every image is unreadable.
    """
    if not skip_bad:
        return names
    bad = find_bad_images(root, names)
    if bad and len(bad) == len(names):
        raise ValueError(f"none of the {len(names)} images under {root} can be read, e.g. {bad[0][0]} "
                         f"({bad[0][1]}); check the image folder")
    skipped.extend(bad)
    drop = {n for n, _ in bad}
    return [n for n in names if n not in drop]
