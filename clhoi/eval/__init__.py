"""HICO-DET and V-COCO evaluators, to the official protocols."""
