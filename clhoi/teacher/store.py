"""The label store: ``labels.jsonl``, append-only, one :class:`LabelRecord` per line.

Writing (:class:`LabelStore`) is resumable: opening a store reads what is
there, so a run skips the images already labelled; a torn last line (the
process was killed mid-write) is cut off and its image redone. Each record is
written with one ``write`` call on an ``O_APPEND`` descriptor, so a crash
loses at most the line being written. A lock keeps two runs from writing one
file.

Reading for training (:func:`read_labels`) is strict: a malformed line is an
error naming the file and line.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from clhoi.structures import LabelRecord


class LabelStoreError(ValueError):
    """A label file that cannot be read or written as it is."""


def record_json(record: LabelRecord) -> str:
    """One record as one JSON line (the same as ``record.to_json()``, without its deep copy)."""
    data = {f: getattr(record, f) for f in LabelRecord.__dataclass_fields__}
    data["pairs"] = [vars(p) for p in record.pairs]
    return json.dumps(data, ensure_ascii=False)


def _parse_line(line: bytes, where: str) -> LabelRecord:
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as e:
        raise LabelStoreError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise LabelStoreError(f"{where}: expected a JSON object (one label record), got {type(data).__name__}")
    try:
        return LabelRecord.from_dict(data)
    except (TypeError, ValueError) as e:
        raise LabelStoreError(f"{where}: not a label record ({e})") from None


def iter_label_file(path: str | Path) -> Iterator[tuple[int, LabelRecord]]:
    """``(line number, record)`` for every line of a label file; strict (see :func:`read_labels`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label file {path} does not exist; write it with `clhoi label`")
    with open(path, "rb") as f:
        lineno = 0
        for lineno, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                try:
                    record = _parse_line(line, f"{path}:{lineno}")
                except LabelStoreError:
                    raise LabelStoreError(
                        f"{path}:{lineno}: incomplete last line (was a `clhoi label` run interrupted?); "
                        "run the same `clhoi label` command again to repair and finish the file"
                    ) from None
                yield lineno, record
                return
            if line.strip():
                yield lineno, _parse_line(line, f"{path}:{lineno}")


def read_labels(path: str | Path, only_ok: bool = False) -> list[LabelRecord]:
    """The records of a label file, one per image, in the order images first appear.

    Where an image has several records (a retried error), the last one wins.

    Args:
        path: a ``labels.jsonl`` written by ``clhoi label`` (or ``clhoi merge-labels``).
        only_ok: keep only ``status == "ok"`` records, the ones training uses
            (appendix A.2: ``no_action`` images are left out).

    Raises:
        FileNotFoundError: no such file.
        LabelStoreError: a malformed line; the message names the file and line.
    """
    by_image: dict[str, LabelRecord] = {}
    for _, record in iter_label_file(path):
        by_image[record.image] = record
    records = list(by_image.values())
    return [r for r in records if r.status == "ok"] if only_ok else records


class LabelStore:
    """An open ``labels.jsonl`` being written; resumes what is already there.

    Use as a context manager. ``image in store`` tells whether an image has a
    record; :meth:`append` writes one.

    Args:
        path: the label file; created (with its folder) when absent.
        fsync_every: force records to disk every this many appends (and on close).

    Raises:
        LabelStoreError: another process holds the file, or a complete line in
            the middle of the file is malformed (file and line named).
    """

    def __init__(self, path: str | Path, fsync_every: int = 256) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync_every = fsync_every
        self.status: dict[str, str] = {}
        self.repaired = False
        self.superseded = 0
        self._unsynced = 0
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise LabelStoreError(
                f"{self.path} is being written by another process (another `clhoi label`?); "
                "give each shard its own --out file"
            ) from None
        try:
            self._remove_stale_rewrites()
            self._load()
        except BaseException:
            self.close()
            raise

    def _remove_stale_rewrites(self) -> None:
        """Delete ``.<name>.tmp<pid>`` files a compaction killed before its rename left (we hold the lock)."""
        for tmp in self.path.parent.glob(f".{self.path.name}.tmp*"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)

    def _load(self) -> None:
        with open(self.path, "rb") as f:
            data = f.read()
        end = data.rfind(b"\n") + 1  # bytes after the last newline are a torn (or unterminated) line
        tail = data[end:]
        lineno = 0
        for lineno, line in enumerate(data[:end].splitlines(), 1):
            if line.strip():
                record = _parse_line(line, f"{self.path}:{lineno}")
                if record.image in self.status:  # a retried image whose compaction did not finish
                    self.superseded += 1
                self.status[record.image] = record.status
        if tail.strip():
            try:
                record = _parse_line(tail, "")
            except LabelStoreError:
                os.ftruncate(self._fd, end)  # torn: drop it, its image is redone
                self.repaired = True
            else:
                os.write(self._fd, b"\n")  # complete but unterminated: keep it
                self.status[record.image] = record.status
        elif tail:
            os.ftruncate(self._fd, end)

    def __contains__(self, image: str) -> bool:
        return image in self.status

    def __len__(self) -> int:
        return len(self.status)

    def append(self, record: LabelRecord) -> None:
        """Write one record (one line, one ``write`` call)."""
        if record.image in self.status:
            self.superseded += 1
        line = (record_json(record) + "\n").encode("utf-8")
        written = os.write(self._fd, line)
        while written < len(line):  # a short write only on a full disk or a signal: finish the line
            written += os.write(self._fd, line[written:])
        self.status[record.image] = record.status
        self._unsynced += 1
        if self._unsynced >= self.fsync_every:
            self.sync()

    def sync(self) -> None:
        os.fsync(self._fd)
        self._unsynced = 0

    def compact(self) -> None:
        """Rewrite the file with only the last record of each image (after retried errors); closes the store."""
        self.sync()
        write_labels(read_labels(self.path), self.path)
        self.close()

    @staticmethod
    def peek(path: str | Path) -> dict[str, str]:
        """``image -> status`` of the complete records of a label file, without locking or repairing it."""
        path = Path(path)
        if not path.is_file():
            return {}
        status: dict[str, str] = {}
        with open(path, "rb") as f:
            for lineno, line in enumerate(f, 1):
                if line.endswith(b"\n") and line.strip():
                    record = _parse_line(line, f"{path}:{lineno}")
                    status[record.image] = record.status
        return status

    def close(self) -> None:
        if self._fd < 0:
            return
        try:
            if self._unsynced:
                os.fsync(self._fd)
        finally:
            os.close(self._fd)  # releases the lock
            self._fd = -1

    def __enter__(self) -> "LabelStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_labels(records: Iterable[LabelRecord], path: str | Path) -> None:
    """Write records to ``path`` atomically (a temporary file renamed over it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            f.write(record_json(record) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass
class MergeResult:
    """What :func:`merge_labels` did.

    Attributes:
        records: records written (one per image).
        inputs: records read, over all inputs.
        duplicates: images met more than once.
    """

    records: int
    inputs: int
    duplicates: int


def merge_labels(inputs: Iterable[str | Path], out: str | Path) -> MergeResult:
    """Merge label files (the shards of ``--shard i/n`` runs) into one, one record per image.

    Where an image appears in several files, a record that is not an error
    beats an error; otherwise the later file wins. Inputs are read strictly.
    """
    merged: dict[str, LabelRecord] = {}
    seen = dupes = 0
    for path in inputs:
        for record in read_labels(path):
            seen += 1
            old = merged.get(record.image)
            if old is not None:
                dupes += 1
                if record.status == "error" and old.status != "error":
                    continue
            merged[record.image] = record
    write_labels(merged.values(), out)
    return MergeResult(records=len(merged), inputs=seen, duplicates=dupes)
