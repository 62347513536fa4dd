"""Dataset readers (HICO-DET, V-COCO, teacher labels), transforms and batching."""
