"""The provenance dict stored in every label record: which teacher, prompts, settings and code."""

from __future__ import annotations

from typing import Any

from clhoi.teacher.config import TeacherConfig


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

    The code version comes from :func:`clhoi.provenance.code_version` (clhoi
    version, git commit and whether the checkout's ``clhoi/`` has uncommitted
    changes; the git fields are ``None`` outside a git checkout).

    Args:
        cfg: the teacher config.
        teacher: the captioner's id.
        parser: the parser's id.
        prompts: the prompts sent, by name.
    """
    from clhoi.provenance import code_version

    code = code_version()
    return {
        "teacher": teacher,
        "backend": cfg.backend,
        "model": cfg.model,
        "parser": parser,
        "prompts": dict(prompts),
        "generation": generation_settings(cfg),
        "seed": cfg.seed,
        "num_negatives": cfg.num_negatives,
        "clhoi_version": code["clhoi"],
        "git_commit": code["git_commit"],
        "git_dirty": code["git_dirty"],
    }
