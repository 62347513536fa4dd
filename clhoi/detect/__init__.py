"""Detector adapters (Hugging Face DETR and friends) and detections files."""
