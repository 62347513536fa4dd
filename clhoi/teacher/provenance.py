"""The provenance dict stored in every label record: which teacher, prompts, settings and code."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from clhoi.teacher.config import TeacherConfig


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the clhoi checkout in use, or ``None`` (installed package, no git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def generation_settings(cfg: TeacherConfig) -> dict[str, Any]:
    """The settings that change what the teacher writes."""
    return {
        "max_new_tokens": cfg.max_new_tokens,
        "num_beams": cfg.num_beams,
        "do_sample": cfg.do_sample,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "repetition_penalty": cfg.repetition_penalty,
        "dtype": cfg.dtype,
        "image_max_side": cfg.image_max_side,
    }


def teacher_provenance(cfg: TeacherConfig, teacher: str, parser: str, prompts: dict[str, str]) -> dict[str, Any]:
    """Where a run's records come from (the one place this dict is built).

    Args:
        cfg: the teacher config.
        teacher: the captioner's id.
        parser: the parser's id.
        prompts: the prompts sent, by name.
    """
    from clhoi import __version__

    return {
        "teacher": teacher,
        "backend": cfg.backend,
        "model": cfg.model,
        "parser": parser,
        "prompts": dict(prompts),
        "generation": generation_settings(cfg),
        "seed": cfg.seed,
        "num_negatives": cfg.num_negatives,
        "clhoi_version": __version__,
        "git_commit": git_commit(),
    }
