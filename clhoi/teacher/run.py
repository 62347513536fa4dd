"""``label``: images -> teacher -> parse -> label store (the whole of ``clhoi label``).

The run lists the images under a root, keeps its shard, skips the images the
store already holds, and labels the rest in batches: decode (when the teacher
needs pixels), caption (prompt 1), parse (prompt 2), normalise, draw the
negatives, append one record per image. A failed image is recorded with its
reason and the run goes on; Ctrl-C or a kill stops it at a record boundary
(or a torn last line, which the next run repairs), and running the same
command again finishes the job.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from clhoi.data.images import check_image_name
from clhoi.structures import LabelRecord
from clhoi.teacher.client import (
    RuleParser,
    TeacherFatalError,
    TeacherImage,
    VlmClient,
    render_parse_prompt,
)
from clhoi.teacher.backends import build_client
from clhoi.teacher.config import TeacherConfig
from clhoi.teacher.normalize import warm_up
from clhoi.teacher.parse import draw_negatives, image_seed, parse_caption, parse_pairs
from clhoi.teacher.prompts import load_prompt
from clhoi.teacher.provenance import teacher_provenance
from clhoi.teacher.store import LabelStore, read_labels
from clhoi.teacher.summary import LabelSummary, summarize

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"})


def list_images(root: str | Path, image_list: str | Path | None = None) -> list[str]:
    """Image keys (paths relative to ``root``, ``/``-separated), sorted.

    Args:
        root: the image folder (searched recursively unless ``image_list`` is given).
        image_list: a text file of keys, one per line (``#`` comments allowed).

    Raises:
        FileNotFoundError: ``root`` or ``image_list`` does not exist.
        ValueError: a listed name is absolute or leaves ``root`` (``..``).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if image_list is not None:
        path = Path(image_list)
        if not path.is_file():
            raise FileNotFoundError(f"image list {path} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"image list {path} is not a UTF-8 text file of image names") from None
        keys: dict[str, None] = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if line and not line.startswith("#"):
                keys[check_image_name(line, f"image list {path} line {lineno}")] = None  # nothing outside root
        return sorted(keys)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def in_shard(key: str, shard: tuple[int, int]) -> bool:
    """Whether image ``key`` belongs to shard ``i`` of ``n`` (a stable hash of the key)."""
    i, n = shard
    return n == 1 or zlib.crc32(key.encode("utf-8")) % n == i


def build_clients(cfg: TeacherConfig) -> tuple[VlmClient, VlmClient]:
    """The captioner and the parser a config names (``parser: same`` reuses the captioner)."""
    captioner = build_client(cfg, "caption")
    if cfg.parser == "same":
        return captioner, captioner
    if cfg.parser == "rules":
        return captioner, RuleParser()
    return captioner, build_client(cfg, "parse")


def _load_images(items: list[TeacherImage], pixels: bool, max_side: int) -> dict[str, str]:
    """Open (and, with ``pixels``, decode) each image; returns ``key -> reason`` for those that fail."""
    from PIL import Image

    failed: dict[str, str] = {}
    for item in items:
        try:
            with Image.open(item.path) as im:
                if pixels:
                    if max_side:
                        im.draft("RGB", (max_side, max_side))  # JPEG: decode at reduced size
                    image = im.convert("RGB")
                    if max_side and max(image.size) > max_side:
                        image.thumbnail((max_side, max_side))
                    item.image = image
        except Exception as e:  # noqa: BLE001 - any decoder error is the image's, recorded
            failed[item.key] = f"unreadable image: {type(e).__name__}: {e}"
    return failed


def _answers(call: Callable[[], list[str | Exception]], n: int, what: str) -> list[str | Exception]:
    try:
        out = call()
    except TeacherFatalError:
        raise
    except Exception as e:  # noqa: BLE001 - the batch failed; each image records why
        return [RuntimeError(f"{what} failed: {type(e).__name__}: {e}")] * n
    if len(out) != n:
        raise TeacherFatalError(f"teacher returned {len(out)} {what} answers for {n} inputs")
    return out


def label_batch(
    items: Sequence[TeacherImage],
    captioner: VlmClient,
    parser: VlmClient,
    cfg: TeacherConfig,
    prompts: dict[str, str],
    provenance: dict[str, Any],
) -> list[LabelRecord]:
    """Label a batch of images: one record per item, in order (the pipeline's core).

    Args:
        items: the images (``image`` is filled here when the captioner needs pixels).
        captioner: answers prompt 1.
        parser: answers prompt 2.
        cfg: seed, negatives count and rule fallback are read from it.
        prompts: ``{"caption": prompt 1, "parse": prompt 2 template}``.
        provenance: the dict stored in every record (see :func:`teacher_provenance`).
    """
    items = list(items)
    base = dict(teacher=captioner.name, prompts=prompts, provenance=provenance)
    failed = _load_images(items, captioner.needs_pixels, cfg.image_max_side)
    records: dict[str, LabelRecord] = {
        k: LabelRecord(image=k, status="error", reason=why, **base) for k, why in failed.items()
    }
    todo = [it for it in items if it.key not in failed]
    captions = _answers(lambda: captioner.caption(todo, prompts["caption"]), len(todo), "caption request")
    for it in todo:
        it.image = None  # free the pixels early
    texts: list[tuple[TeacherImage, str]] = []
    for it, cap in zip(todo, captions):
        if isinstance(cap, Exception):
            records[it.key] = LabelRecord(image=it.key, status="error", reason=str(cap), **base)
        elif not isinstance(cap, str):  # a broken server answer: an error --retry-errors retries
            records[it.key] = LabelRecord(image=it.key, status="error", reason=f"the teacher returned a "
                                          f"{type(cap).__name__} caption, not text", **base)
        elif not cap.strip():  # nothing to parse
            records[it.key] = LabelRecord(image=it.key, raw={"caption": cap}, status="no_action",
                                          reason="empty caption", **base)
        else:
            texts.append((it, cap.strip()))
    answers = _answers(lambda: parser.parse([c for _, c in texts], prompts["parse"]), len(texts), "parse request")
    for (it, cap), answer in zip(texts, answers):
        raw = {"caption": cap}
        if isinstance(answer, Exception) and not cfg.fallback_rules:
            records[it.key] = LabelRecord(
                image=it.key, caption=cap, raw=raw, status="error", reason=str(answer), **base
            )
            continue
        if not isinstance(answer, (str, Exception)):
            answer = RuntimeError(f"the teacher returned a {type(answer).__name__} parse answer, not text")
            if not cfg.fallback_rules:
                records[it.key] = LabelRecord(image=it.key, caption=cap, raw=raw, status="error",
                                              reason=str(answer), **base)
                continue
        pairs = [] if isinstance(answer, Exception) else parse_pairs(answer)
        raw["parse"] = f"error: {answer}" if isinstance(answer, Exception) else answer
        parsed_by = parser.name
        if not pairs and cfg.fallback_rules:
            pairs, parsed_by = parse_caption(cap), "rules"
        record = LabelRecord(image=it.key, caption=cap, pairs=pairs, raw=raw, **base)
        record.provenance = {**provenance, "parsed_by": parsed_by}
        if pairs:
            positives = [p.verb for p in pairs]
            record.negatives = draw_negatives(positives, image_seed(cfg.seed, it.key), cfg.num_negatives)
        else:
            record.status = "no_action"  # appendix A.2: kept out of training
            record.reason = "no action verb in the caption"
        records[it.key] = record
    return [records[it.key] for it in items]


def _progress(enabled: bool) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("labelling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} img/s"),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=Console(stderr=True), disable=not enabled, transient=False)


def label(
    cfg: TeacherConfig,
    images: str | Path,
    out: str | Path,
    *,
    shard: tuple[int, int] = (0, 1),
    limit: int | None = None,
    image_list: str | Path | None = None,
    retry_errors: bool = False,
    dry_run: bool = False,
    progress: bool = True,
    clients: tuple[VlmClient, VlmClient] | None = None,
    echo: Callable[[str], None] = print,
) -> LabelSummary:
    """Label the images under ``images`` into the store ``out``, resuming what is there.

    Args:
        cfg: the teacher config.
        images: the image root; record keys are paths relative to it.
        out: the label store (``labels.jsonl``).
        shard: ``(i, n)``: label only the images of shard ``i`` of ``n``.
        limit: label at most this many images in this run.
        image_list: label only the keys listed in this file (default: ``cfg.image_list``, if set).
        retry_errors: label again the images whose record is an error.
        dry_run: print what would be sent (no model is loaded, nothing written).
        progress: show a progress bar (on stderr).
        clients: ``(captioner, parser)`` to use instead of building them from ``cfg``.
        echo: where messages go.

    Returns:
        The summary of the whole store after the run (or of the plan, for a dry run).

    Raises:
        FileNotFoundError: the image root, image list, prompt or captions file is missing.
        TeacherFatalError: the teacher cannot work (records so far are kept).
        KeyboardInterrupt: after the records so far are safely written.
    """
    i, n = shard
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")
    prompts = {"caption": load_prompt(cfg.prompt_caption), "parse": load_prompt(cfg.prompt_parse, "caption")}
    image_list = image_list or cfg.image_list or None
    keys = [k for k in list_images(images, image_list) if in_shard(k, shard)]
    root = Path(images)
    if dry_run:
        return _dry_run(cfg, keys, root, out, prompts, limit, retry_errors, echo)
    captioner, parser = clients if clients is not None else build_clients(cfg)
    provenance = teacher_provenance(cfg, captioner.name, parser.name, prompts)
    started, done_now, failed_now, interrupted = time.perf_counter(), 0, 0, False
    store = LabelStore(out)
    try:
        todo = [k for k in keys if k not in store or (retry_errors and store.status[k] == "error")]
        todo = todo[:limit] if limit is not None else todo
        batches = [todo[s : s + cfg.batch_size] for s in range(0, len(todo), cfg.batch_size)]
        workers = max(getattr(captioner, "max_workers", 1), getattr(parser, "max_workers", 1))
        warm_up()

        def work(batch: list[str]) -> list[LabelRecord]:
            items = [TeacherImage(k, root / k) for k in batch]
            return label_batch(items, captioner, parser, cfg, prompts, provenance)

        with _progress(progress) as bar:
            task = bar.add_task("label", total=len(todo), rate="-")

            def write(records: list[LabelRecord]) -> None:
                nonlocal done_now, failed_now
                for record in records:
                    store.append(record)
                done_now += len(records)
                failed_now += sum(r.status == "error" for r in records)
                rate = done_now / max(time.perf_counter() - started, 1e-9)
                bar.update(task, advance=len(records), rate=f"{rate:.1f}")

            try:
                if workers == 1:
                    for batch in batches:
                        write(work(batch))
                else:
                    _run_parallel(batches, work, write, workers)
            except KeyboardInterrupt:
                interrupted = True
                raise
        if store.superseded:
            store.compact()
    finally:
        store.close()
        if interrupted:
            for client in (captioner, parser):
                if hasattr(client, "close"):
                    client.close()  # drop queued requests
            echo(
                f"interrupted: {done_now} images labelled in this run are saved in {out}; "
                "run the same command to resume"
            )
    summary = summarize(read_labels(out))
    summary.labelled_now, summary.elapsed_s = done_now, time.perf_counter() - started
    summary.failed_now = failed_now
    return summary


def _run_parallel(
    batches: list[list[str]],
    work: Callable[[list[str]], list[LabelRecord]],
    write: Callable[[list[LabelRecord]], None],
    workers: int,
) -> None:
    """Run ``work`` on batches in ``workers`` threads, writing results as they finish (main thread only)."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clhoi-label")
    pending: set[Future[list[LabelRecord]]] = set()
    queue = iter(batches)
    try:
        for batch in queue:
            pending.add(pool.submit(work, batch))
            if len(pending) >= 2 * workers:
                break
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                write(fut.result())
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(pool.submit(work, nxt))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _dry_run(
    cfg: TeacherConfig,
    keys: list[str],
    root: Path,
    out: str | Path,
    prompts: dict[str, str],
    limit: int | None,
    retry_errors: bool,
    echo: Callable[[str], None],
) -> LabelSummary:
    status = LabelStore.peek(out)
    todo = [k for k in keys if k not in status or (retry_errors and status[k] == "error")]
    todo = todo[:limit] if limit is not None else todo
    echo(f"teacher: backend={cfg.backend} model={cfg.model} parser={cfg.parser}")
    echo(f"images: {len(keys)} in this shard under {root}, {len(keys) - len(todo)} already in {out}, "
         f"{len(todo)} to label" + (f" (first: {', '.join(todo[:3])})" if todo else ""))
    wrap = {"blip2": " (sent as 'Question: ... Answer:')", "chat": " (in the model's chat template)"}
    echo(f"prompt 1, sent with each image{wrap.get(cfg.backend, '')}:\n  {prompts['caption']}")
    parser = cfg.backend if cfg.parser == "same" else cfg.parser
    example = render_parse_prompt(prompts["parse"], "<the caption>").replace("\n", "\n  ")
    echo(f"prompt 2, sent with each caption to the parser ({parser}):\n  {example}")
    summary = summarize([])
    summary.planned = len(todo)
    return summary


def load_teacher_config(path: str | Path | None, overrides: Sequence[str]) -> tuple[TeacherConfig, Any]:
    """The teacher config of an experiment YAML (or the defaults) with overrides applied.

    An override without a section (no dot) is read as a teacher key:
    ``backend=openai`` is ``teacher.backend=openai``, ``seed=1`` is ``teacher.seed=1``.

    Returns:
        ``(teacher config, the whole ExperimentConfig)``.

    Raises:
        clhoi.config.ConfigError: a bad file, key or value (the message lists the valid keys).
    """
    from clhoi.config import load_config

    full = [o if "." in o.split("=", 1)[0] else f"teacher.{o.strip()}" for o in overrides]
    cfg = load_config(path, full)
    return cfg.teacher, cfg
