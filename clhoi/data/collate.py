"""Batching: a resumable, shardable epoch sampler, its batch sampler, and the collate function."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Sampler

from clhoi.data.labels import CachedImage, Sample
from clhoi.structures import Detections, ImageAnnotation, LabelRecord


@dataclass
class Batch:
    """A list of samples, with the tensors stacked where shapes allow.

    Attributes:
        file_names: ``B`` image names.
        detections: ``B`` detections (xyxy pixels of each original image).
        records: ``B`` teacher label records (None entries in supervised runs), or None.
        annotations: ``B`` ground truths, or None.
        pixel_values: ``[B, 3, H, W]`` float32, or None when features are cached.
        image_features: ``[B, L, C]`` cached CLIP patch tokens, or None.
        images: ``B`` decoded RGB images (union crops), or None.
        cached: ``B`` cached entries (union-crop embeddings), or None.
    """

    file_names: list[str]
    detections: list[Detections]
    records: list[LabelRecord | None] | None = None
    annotations: list[ImageAnnotation | None] | None = None
    pixel_values: Tensor | None = None
    image_features: Tensor | None = None
    images: list[Image.Image] | None = None
    cached: list[CachedImage] | None = None

    def __len__(self) -> int:
        return len(self.file_names)


def collate(samples: list[Sample]) -> Batch:
    """Stack a list of :class:`Sample` into a :class:`Batch`."""
    if not samples:
        raise ValueError("cannot collate an empty batch")

    def all_or_none(values: list) -> list | None:
        return None if all(v is None for v in values) else values

    pixel = [s.pixel_values for s in samples]
    cached = [s.cached for s in samples]
    images = [s.image for s in samples]
    return Batch(
        file_names=[s.file_name for s in samples],
        detections=[s.detections for s in samples],
        records=all_or_none([s.record for s in samples]),
        annotations=all_or_none([s.annotation for s in samples]),
        pixel_values=torch.stack(pixel) if all(p is not None for p in pixel) else None,
        image_features=torch.stack([c.image_features for c in cached]) if all(c is not None for c in cached) else None,  # type: ignore[union-attr]
        images=images if all(i is not None for i in images) else None,
        cached=cached if all(c is not None for c in cached) else None,  # type: ignore[arg-type]
    )


class EpochSampler(Sampler[int]):
    """Dataset indices for one epoch: shuffled from ``(seed, epoch)``, sharded, resumable.

    The order depends only on ``seed`` and the epoch, so a resumed run sees the
    same batches as an uninterrupted one. Each of ``world_size`` processes takes
    every ``world_size``-th index (padded by wrapping so all shards are equally
    long, as ``DistributedSampler`` does).

    Args:
        size: dataset length.
        seed: base seed of the shuffle.
        shuffle: shuffle (training) or keep dataset order (evaluation).
        rank: this process's index.
        world_size: number of processes.
    """

    def __init__(self, size: int, seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1) -> None:
        if size <= 0:
            raise ValueError("EpochSampler over an empty dataset")
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select the epoch's order and skip its first ``skip`` indices of this shard (resume)."""
        self.epoch, self.skip = epoch, skip

    def _shard(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        total = -(-self.size // self.world_size) * self.world_size
        while len(order) < total:
            order += order[: total - len(order)]
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self._shard()[self.skip :])

    def __len__(self) -> int:
        return max(0, -(-self.size // self.world_size) - self.skip)


def min_tail(batch_size: int) -> int:
    """The smallest tail batch kept on its own: half the batch, and at least 2 images.

    A smaller tail is merged into the batch before it (see :class:`TailMergingBatchSampler`).
    """
    return max(2, -(-batch_size // 2))


class TailMergingBatchSampler(Sampler[list[int]]):
    """Batches of ``batch_size`` indices from ``sampler``; a too-small tail joins the batch before it.

    The contrastive terms (Eqs. 8-9) contrast the images of a batch, so a
    batch of one image has no negatives, and a 2-image batch out of 16 gives
    noisy, near-zero terms. A tail batch with fewer than :func:`min_tail` images
    is therefore merged into the previous batch (so no image is dropped and the
    last batch has at most ``1.5 * batch_size`` images). A tail of at least
    ``min_tail`` images, and the only batch of an epoch, stay as they are.
    Every process of a DDP run holds a shard of the same length, so all take
    the same number of steps.

    Args:
        sampler: the epoch's indices (:class:`EpochSampler`).
        batch_size: images per batch on this process.
    """

    def __init__(self, sampler: Sampler[int], batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.sampler, self.batch_size = sampler, batch_size

    def __iter__(self) -> Iterator[list[int]]:
        indices = list(self.sampler)
        batches = [indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
        if len(batches) > 1 and len(batches[-1]) < min(self.batch_size, min_tail(self.batch_size)):
            batches[-2].extend(batches.pop())
        return iter(batches)

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        full, tail = divmod(n, self.batch_size)
        if tail and (full == 0 or tail >= min_tail(self.batch_size)):
            full += 1
        return full
