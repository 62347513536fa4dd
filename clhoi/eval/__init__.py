"""HICO-DET and V-COCO evaluators, to the official protocols (docs/evaluation.md).

Evaluators see predictions and ground truth, never the model::

    from clhoi.eval import HICODetEvaluator
    evaluator = HICODetEvaluator(read_hicodet("test_hico.json"))
    evaluator.process(predictions)          # list[Predictions], any number of calls
    result = evaluator.evaluate()           # HICODetResult: .default.full, .known_object.rare, ...
"""

from clhoi.eval.hicodet import HICODetEvaluator, HICODetResult, SettingResult, evaluate_hicodet
from clhoi.eval.vcoco import VCOCOEvaluator, VCOCOResult, evaluate_vcoco

__all__ = [
    "HICODetEvaluator",
    "HICODetResult",
    "SettingResult",
    "VCOCOEvaluator",
    "VCOCOResult",
    "evaluate_hicodet",
    "evaluate_vcoco",
]
