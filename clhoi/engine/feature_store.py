"""The feature cache on disk: sharded safetensors files, written atomically, resumable.

A cache folder holds, for one split::

    meta.json                what made it (the key below, provenance)
    shard-00000.safetensors  tensors ``<k>.image_features``, ``<k>.boxes``, ``<k>.scores``,
    shard-00001.safetensors  ``<k>.labels`` [, ``<k>.embeddings``, ``<k>.union_pairs``,
    ...                      ``<k>.union_embeddings``] for the images ``k`` of the shard;
                             metadata ``files`` (JSON list of names) and ``sizes``

A shard is written to a temporary file and renamed, so an interrupted
``clhoi cache`` loses at most the shard in progress and a rerun continues
with the images not yet in a finished shard.

The *key* (frozen encoder, image size, detector settings) is stored in
``meta.json``; training refuses a cache whose key differs from its config.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from clhoi.data.labels import CachedImage
from clhoi.structures import Detections
from clhoi.tensor_files import save_tensors

META_FILE = "meta.json"
FORMAT_VERSION = 1


class CacheError(ValueError):
    """A feature cache that is missing, incomplete or made with other settings."""


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.safetensors"


def write_shard(path: Path, items: list[tuple[str, CachedImage]], metadata: dict[str, str] | None = None) -> None:
    """Write one shard atomically (temporary file, then rename)."""
    tensors: dict[str, torch.Tensor] = {}
    sizes: list[list[int] | None] = []
    for k, (_, item) in enumerate(items):
        d = item.detections
        tensors[f"{k}.image_features"] = item.image_features.detach().cpu().contiguous()
        tensors[f"{k}.boxes"] = d.boxes.detach().float().cpu().contiguous()
        tensors[f"{k}.scores"] = d.scores.detach().float().cpu().contiguous()
        tensors[f"{k}.labels"] = d.labels.detach().long().cpu().contiguous()
        if d.embeddings is not None:
            tensors[f"{k}.embeddings"] = d.embeddings.detach().cpu().contiguous()
        if item.union_pairs is not None and item.union_embeddings is not None:
            tensors[f"{k}.union_pairs"] = item.union_pairs.detach().long().cpu().contiguous()
            tensors[f"{k}.union_embeddings"] = item.union_embeddings.detach().cpu().contiguous()
        sizes.append(list(d.image_size) if d.image_size is not None else None)
    meta = {"files": json.dumps([name for name, _ in items]), "sizes": json.dumps(sizes), **(metadata or {})}
    save_tensors(tensors, path, metadata=meta)  # atomic, with the user's file mode


def read_meta(directory: str | Path) -> dict[str, Any]:
    """The ``meta.json`` of a cache folder."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise CacheError(f"{directory} is not a feature cache (no {META_FILE}); run `clhoi cache CONFIG --split ...`")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        meta = None
    if not isinstance(meta, dict):
        raise CacheError(f"{path} is damaged; delete the folder {directory} and rerun `clhoi cache` to rebuild it")
    return meta


def damaged_shard(path: Path, error: BaseException) -> CacheError:
    """The error for an unreadable shard: its name and how to rebuild just that shard."""
    text = str(error).strip().splitlines()
    why = text[0][:120] if text else type(error).__name__
    return CacheError(f"cache shard {path} is damaged ({why}); delete that file and rerun `clhoi cache` with the "
                      "same settings: it rebuilds only the missing shard")


def write_meta(directory: str | Path, meta: dict[str, Any]) -> None:
    path = Path(directory) / META_FILE
    tmp = path.with_name(f".{META_FILE}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def finished_shards(directory: str | Path) -> list[Path]:
    return sorted(Path(directory).glob("shard-*.safetensors"))


class FeatureCache(Mapping[str, CachedImage]):
    """Read-only view of a cache folder: file name -> :class:`CachedImage`.

    Only shard metadata is read on opening; tensors are read (memory-mapped)
    on access, so the object is cheap to pass to data-loader workers.

    Args:
        directory: the split's cache folder.
        dtype: cast floating features to this dtype on read (None = as stored).
    """

    def __init__(self, directory: str | Path, dtype: torch.dtype | None = torch.float32) -> None:
        self.directory = Path(directory)
        self.meta = read_meta(self.directory)
        self.dtype = dtype
        self._index: dict[str, tuple[str, int, tuple[int, int] | None]] = {}
        for shard in finished_shards(self.directory):
            try:
                with safe_open(str(shard), framework="pt") as f:
                    md = f.metadata() or {}
                entries = list(zip(json.loads(md["files"]), json.loads(md["sizes"]), strict=True))
            except Exception as e:  # noqa: BLE001 - SafetensorError, OSError, bad metadata: a damaged shard
                raise damaged_shard(shard, e) from None
            for k, (name, size) in enumerate(entries):
                self._index[name] = (shard.name, k, tuple(size) if size else None)

    def __getitem__(self, name: str) -> CachedImage:
        try:
            shard, k, size = self._index[name]
        except KeyError:
            raise KeyError(f"{name!r} is not in the feature cache {self.directory}; rerun `clhoi cache`") from None
        try:
            return self._read(shard, k, size)
        except CacheError:
            raise
        except Exception as e:  # noqa: BLE001 - a shard damaged after the cache was opened
            raise damaged_shard(self.directory / shard, e) from None

    def _read(self, shard: str, k: int, size: tuple[int, int] | None) -> CachedImage:
        with safe_open(str(self.directory / shard), framework="pt") as f:
            keys = set(f.keys())

            def get(field: str) -> torch.Tensor | None:
                key = f"{k}.{field}"
                if key not in keys:
                    return None
                t = f.get_tensor(key)
                return t.to(self.dtype) if self.dtype is not None and t.is_floating_point() else t

            dets = Detections(get("boxes"), get("scores"), get("labels"), get("embeddings"), size)  # type: ignore[arg-type]
            return CachedImage(dets, get("image_features"), get("union_pairs"), get("union_embeddings"))  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: object) -> bool:
        return name in self._index
