"""Detections files: write once, read many, so training need not run the detector.

Formats, chosen by suffix:

* ``.safetensors`` (default): tensors ``{i}.boxes``, ``{i}.scores``,
  ``{i}.labels`` and optionally ``{i}.embeddings`` for the ``i``-th image;
  the metadata entry ``clhoi.detections`` holds JSON
  ``{"file_names": [...], "image_sizes": [[h, w] or null, ...]}``.
* ``.npz``: the same arrays, with the JSON in the array ``__meta__``.
* ``.json`` (read only, for files from any other detector): either
  ``{file_name: record}`` or ``[{"file_name": ..., **record}]`` where a
  record has ``boxes`` (xyxy pixels), ``scores``, ``labels`` (COCO-80
  indices or COCO names) and optionally ``image_size`` ``[h, w]`` and
  ``embeddings``. Detections without embeddings get them pooled from image
  features by the student (``model.box_embedding: auto``).
* a folder (read only): UPT's per-image ``.json`` files; COCO results JSON
  (detectron2, mmdetection, ultralytics) go through ``clhoi convert-detections``
  (both in :mod:`clhoi.detect.formats`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open

from clhoi.structures import Detections
from clhoi.tensor_files import save_tensors
from clhoi.vocab import COCO_CLASSES, coco_index

META_KEY = "clhoi.detections"
FIELDS = ("boxes", "scores", "labels", "embeddings")
SUFFIXES = (".safetensors", ".npz", ".json")


def _meta(dets: dict[str, Detections]) -> str:
    sizes = [list(d.image_size) if d.image_size is not None else None for d in dets.values()]
    return json.dumps({"file_names": list(dets), "image_sizes": sizes})


def _arrays(dets: dict[str, Detections]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for i, d in enumerate(dets.values()):
        out[f"{i}.boxes"] = d.boxes.detach().float().cpu().contiguous()
        out[f"{i}.scores"] = d.scores.detach().float().cpu().contiguous()
        out[f"{i}.labels"] = d.labels.detach().long().cpu().contiguous()
        if d.embeddings is not None:
            out[f"{i}.embeddings"] = d.embeddings.detach().float().cpu().contiguous()
    return out


def save_detections(path: str | Path, detections: dict[str, Detections]) -> None:
    """Write ``{file_name: Detections}`` to ``path`` (``.safetensors`` or ``.npz``)."""
    path = Path(path)
    if path.suffix not in (".safetensors", ".npz"):
        raise ValueError(f"{path}: detections files are written as .safetensors or .npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = _arrays(detections)
    if path.suffix == ".safetensors":
        save_tensors(arrays, path, metadata={META_KEY: _meta(detections)})  # atomic, the user's file mode
    else:
        np.savez(path, __meta__=np.array(_meta(detections)), **{k: v.numpy() for k, v in arrays.items()})


def load_detections(path: str | Path) -> dict[str, Detections]:
    """Read a detections file (``.safetensors``, ``.npz`` or ``.json``) into ``{file_name: Detections}``.

    Every entry is checked on read (:func:`check_detections`): a NaN or
    infinite box, ``x2 < x1``, a label outside COCO-80 or a record that is not
    an object is refused with a message naming the file, the image and the field.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unknown suffix or a malformed or damaged file, naming what is wrong.
    """
    path = Path(path)
    if path.is_dir():  # UPT's per-image .json files (clhoi/detect/formats.py)
        from clhoi.detect.formats import read_upt_folder

        return read_upt_folder(path)
    if not path.is_file():
        raise FileNotFoundError(f"detections file {path} does not exist")
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = (f.metadata() or {}).get(META_KEY)
                if meta is None:
                    raise ValueError(f"{path}: not a clhoi detections file (no {META_KEY!r} metadata)")
                arrays = {k: f.get_tensor(k) for k in f.keys()}
        except ValueError:
            raise
        except Exception as e:  # SafetensorError, OSError: a damaged or truncated file
            raise ValueError(f"{path}: damaged detections file ({_first_line(e)}); write it again "
                             "(`clhoi detect` or your detector's export)") from None
        return _assemble(path, _parse_meta(path, meta), arrays)
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                if "__meta__" not in z:
                    raise ValueError(f"{path}: not a clhoi detections file (no __meta__ array)")
                meta = str(z["__meta__"])
                arrays = {k: torch.from_numpy(z[k]) for k in z.files if k != "__meta__"}
        except ValueError as e:
            if str(e).startswith(str(path)):
                raise
            raise ValueError(f"{path}: damaged detections file ({_first_line(e)}); write it again") from None
        except Exception as e:  # BadZipFile, OSError, EOFError
            raise ValueError(f"{path}: damaged detections file ({_first_line(e)}); write it again") from None
        return _assemble(path, _parse_meta(path, meta), arrays)
    if path.suffix == ".json":
        return _from_json(path)
    raise ValueError(f"{path}: unknown detections format; use one of {', '.join(SUFFIXES)}")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


def _parse_meta(path: Path, meta: str) -> dict[str, Any]:
    try:
        data = json.loads(meta)
    except (ValueError, RecursionError):
        raise ValueError(f"{path}: field 'file_names': the metadata is not valid JSON; write the file again") from None
    names, sizes = (data.get("file_names"), data.get("image_sizes")) if isinstance(data, dict) else (None, None)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{path}: field 'file_names': expected a list of image names in the metadata")
    if not isinstance(sizes, list) or len(sizes) != len(names):
        raise ValueError(f"{path}: field 'image_sizes': expected one [h, w] or null per image in the metadata")
    return data


def check_detections(det: Detections, where: str) -> Detections:
    """``det`` when its boxes are finite with ``x2 >= x1, y2 >= y1``, its scores finite and its labels COCO-80.

    ``where`` names the file and the image (``"dets.json [img.jpg]"``) in the message.

    Raises:
        ValueError: naming the field and the first bad entry.
    """
    boxes, scores, labels = det.boxes, det.scores, det.labels
    if boxes.numel():
        bad = ~torch.isfinite(boxes).all(dim=1)
        if bad.any():
            k = int(bad.nonzero()[0])
            raise ValueError(f"{where}: field 'boxes[{k}]': non-finite coordinate {boxes[k].tolist()}; "
                             "fix or drop that detection")
        bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
        if bad.any():
            k = int(bad.nonzero()[0])
            raise ValueError(f"{where}: field 'boxes[{k}]': {boxes[k].tolist()} has x2 < x1 or y2 < y1; "
                             "boxes are [x1, y1, x2, y2] in pixels")
    if scores.numel() and not bool(torch.isfinite(scores).all()):
        k = int((~torch.isfinite(scores)).nonzero()[0])
        raise ValueError(f"{where}: field 'scores[{k}]': non-finite score {float(scores[k])}")
    if labels.is_floating_point():
        raise ValueError(f"{where}: field 'labels': expected integer COCO-80 indices, got {labels.dtype}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(COCO_CLASSES)):
        k = int(((labels < 0) | (labels >= len(COCO_CLASSES))).nonzero()[0])
        raise ValueError(f"{where}: field 'labels[{k}]': {int(labels[k])} is not a COCO-80 index "
                         f"(0..{len(COCO_CLASSES) - 1})")
    if det.embeddings is not None and det.embeddings.numel() and not bool(torch.isfinite(det.embeddings).all()):
        raise ValueError(f"{where}: field 'embeddings': non-finite values")
    if det.image_size is not None:
        size = det.image_size
        if len(size) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                     and v >= 1 and float(v).is_integer() for v in size):
            raise ValueError(f"{where}: field 'image_size': expected [height, width] in pixels, got {list(size)}")
        det.image_size = (int(size[0]), int(size[1]))
    return det


def _assemble(path: Path, meta: dict[str, Any], arrays: dict[str, torch.Tensor]) -> dict[str, Detections]:
    out: dict[str, Detections] = {}
    for i, (name, size) in enumerate(zip(meta["file_names"], meta["image_sizes"])):
        where = f"{path} [{name}]"
        if size is not None and not isinstance(size, list):
            raise ValueError(f"{where}: field 'image_size': expected [height, width] or null, got {size!r}")
        try:
            det = Detections(
                arrays[f"{i}.boxes"].float(), arrays[f"{i}.scores"].float(), arrays[f"{i}.labels"],
                arrays.get(f"{i}.embeddings"), tuple(size) if size is not None else None,
            )
        except KeyError as e:
            raise ValueError(f"{path}: entry {i} ({name}) lacks tensor {e}") from None
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        out[name] = check_detections(det, where)
        out[name].labels = out[name].labels.long()
    return out


def _labels(raw: list[Any], where: str) -> torch.Tensor:
    values = []
    for k, v in enumerate(raw):
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            raise ValueError(f"{where}: field 'labels[{k}]': expected a COCO-80 index or name, got {v!r}")
        try:
            values.append(v if isinstance(v, int) else coco_index(v))
        except KeyError as e:
            raise ValueError(f"{where}: field 'labels[{k}]': {e.args[0]}") from None
    return torch.tensor(values, dtype=torch.long)


def _number_list(value: Any, where: str, field: str) -> list:
    """A (nested) list of numbers, else an error naming the field."""
    def ok(x: Any) -> bool:
        if isinstance(x, list):
            return all(ok(v) for v in x)
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    if not isinstance(value, list) or not ok(value):
        raise ValueError(f"{where}: field '{field}': expected a list of numbers, got {str(value)[:80]}")
    return value


def _from_json(path: Path) -> dict[str, Detections]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text JSON file (not UTF-8); give a detections file") from None
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{path}: not valid JSON ({_first_line(e)})") from None
    from clhoi.detect.formats import is_coco_results

    if is_coco_results(data):
        raise ValueError(f"{path}: COCO results (image_id, bbox) name images by id only; convert them with "
                         f"`clhoi convert-detections {path} --images IMAGES.json --out dets.safetensors`")
    if isinstance(data, dict):
        records = list(data.items())
    elif isinstance(data, list):
        records = []
        for k, r in enumerate(data):
            if not isinstance(r, dict):
                raise ValueError(f"{path} [record #{k}]: expected an object {{\"file_name\": ..., \"boxes\": ...}}, "
                                 f"got {type(r).__name__} {str(r)[:60]}")
            records.append((r.get("file_name"), r))
    else:
        raise ValueError(f"{path}: expected {{file_name: record}} or a list of records, got {type(data).__name__}")
    out: dict[str, Detections] = {}
    for name, rec in records:
        where = f"{path} [{name}]"
        if not isinstance(name, str) or not name or not isinstance(rec, dict):
            raise ValueError(f"{where}: expected records with a string file_name and an object of "
                             "boxes, scores, labels")
        if name in out:
            raise ValueError(f"{where}: the image appears twice; keep one record per image")
        missing = [k for k in ("boxes", "scores", "labels") if k not in rec]
        if missing:
            raise ValueError(f"{where}: missing field(s) {missing}; need boxes (xyxy pixels), scores, labels")
        if not isinstance(rec["labels"], list):
            raise ValueError(f"{where}: field 'labels': expected a list, got {type(rec['labels']).__name__}")
        emb = rec.get("embeddings")
        size = rec.get("image_size")
        if size is not None and not isinstance(size, list):
            raise ValueError(f"{where}: field 'image_size': expected [height, width], got {size!r}")
        try:
            det = Detections(
                torch.tensor(_number_list(rec["boxes"], where, "boxes"), dtype=torch.float32).reshape(-1, 4),
                torch.tensor(_number_list(rec["scores"], where, "scores"), dtype=torch.float32).reshape(-1),
                _labels(rec["labels"], where),
                None if emb is None else torch.tensor(_number_list(emb, where, "embeddings"), dtype=torch.float32),
                tuple(size) if size is not None else None,
            )
        except (TypeError, RuntimeError) as e:
            raise ValueError(f"{where}: malformed detections ({_first_line(e)})") from None
        except ValueError as e:
            if str(e).startswith(where):
                raise
            raise ValueError(f"{where}: {e}") from None
        out[name] = check_detections(det, where)
    return out
