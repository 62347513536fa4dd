"""HICO-DET and V-COCO evaluators, to the official protocols (docs/evaluation.md).

Evaluators see predictions and ground truth, never the model::

    from clhoi.eval import HICODetEvaluator
    evaluator = HICODetEvaluator(read_hicodet("test_hico.json"))
    evaluator.process(predictions)          # list[Predictions], any number of calls
    result = evaluator.evaluate()           # HICODetResult: .default.full, .known_object.rare, ...
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clhoi.eval.hicodet import HICODetEvaluator, HICODetResult, SettingResult, evaluate_hicodet
    from clhoi.eval.vcoco import VCOCOEvaluator, VCOCOResult, evaluate_vcoco

_WHERE = {"HICODetEvaluator": "hicodet", "HICODetResult": "hicodet", "SettingResult": "hicodet",
          "evaluate_hicodet": "hicodet", "VCOCOEvaluator": "vcoco", "VCOCOResult": "vcoco", "evaluate_vcoco": "vcoco"}


def __getattr__(name: str) -> Any:
    """The evaluators, imported on first use (``clhoi evaluate`` on HICO-DET never loads the V-COCO one)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'clhoi.eval' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"clhoi.eval.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "HICODetEvaluator",
    "HICODetResult",
    "SettingResult",
    "VCOCOEvaluator",
    "VCOCOResult",
    "evaluate_hicodet",
    "evaluate_vcoco",
]
