"""Detector adapters (Hugging Face DETR and friends), UPT's filtering, and detections files.

``Detector`` imports transformers only when a detector is loaded.
"""

from clhoi.detect.detector import Detector, coco_label_map, decode_outputs
from clhoi.detect.files import load_detections, save_detections
from clhoi.detect.filter import filter_detections

__all__ = ["Detector", "coco_label_map", "decode_outputs", "filter_detections", "load_detections", "save_detections"]
