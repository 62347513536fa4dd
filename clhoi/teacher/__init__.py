"""Teacher labeling: VLLM backends, prompts, parsing, negatives, the label store.

``client`` (the :class:`~clhoi.teacher.client.VlmClient` protocol, stub), ``backends`` (which
class a config names), ``hf``
(InstructBLIP, BLIP-2, chat models), ``endpoint`` (OpenAI-compatible HTTP), ``captions``
(captions from a file), ``prompts`` (the ``.txt`` prompts), ``parse`` / ``normalize`` /
``rules`` (text -> pairs, negatives), ``store`` (``labels.jsonl``), ``run`` (``clhoi label``),
``summary``, ``provenance``. Importing this package imports nothing heavy.
"""
