"""Which teacher class a config's ``backend`` / ``parser`` names (the only module that knows them all).

==============  ==========================================  =====================
``backend``     class                                       module
==============  ==========================================  =====================
instructblip    :class:`~clhoi.teacher.hf.Blip2FamilyClient` ``teacher/hf.py``
blip2           :class:`~clhoi.teacher.hf.Blip2FamilyClient` ``teacher/hf.py``
chat            :class:`~clhoi.teacher.hf.ChatClient`        ``teacher/hf.py``
openai          :class:`~clhoi.teacher.endpoint.OpenAIClient` ``teacher/endpoint.py``
captions        :class:`~clhoi.teacher.captions.CaptionsFileClient`  ``teacher/captions.py``
stub            :class:`~clhoi.teacher.client.StubClient`    ``teacher/client.py``
(parser) rules  :class:`~clhoi.teacher.client.RuleParser`    ``teacher/client.py``
==============  ==========================================  =====================

Backends are imported only when chosen, so a stub or endpoint run never
imports torch; :mod:`clhoi.teacher.client` (the protocol the backends
implement) imports none of them.
"""

from __future__ import annotations

from clhoi.teacher.client import RuleParser, StubClient, VlmClient
from clhoi.teacher.config import BACKENDS, PARSERS, TeacherConfig


def build_client(cfg: TeacherConfig, role: str = "caption") -> VlmClient:
    """The teacher client a config names.

    Args:
        cfg: the teacher config.
        role: ``caption`` builds ``cfg.backend``; ``parse`` builds ``cfg.parser``
            (``same`` is not resolved here, see :func:`clhoi.teacher.run.build_clients`).

    Raises:
        ValueError: an unknown backend name (the message lists the valid ones).
    """
    name = cfg.backend if role == "caption" else cfg.parser
    if name in ("instructblip", "blip2"):
        from clhoi.teacher.hf import Blip2FamilyClient

        return Blip2FamilyClient.from_config(cfg, family=name)
    if name == "chat":
        from clhoi.teacher.hf import ChatClient

        return ChatClient.from_config(cfg)
    if name == "openai":
        from clhoi.teacher.endpoint import OpenAIClient

        return OpenAIClient.from_config(cfg)
    if name == "captions":
        from clhoi.teacher.captions import CaptionsFileClient

        return CaptionsFileClient.from_file(cfg.captions_file)
    if name == "stub":
        return StubClient()
    if name == "rules":
        return RuleParser()
    valid = BACKENDS if role == "caption" else PARSERS
    raise ValueError(f"unknown teacher {role} backend {name!r}; valid: {', '.join(valid)}")
