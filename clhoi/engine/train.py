"""The training loop: ``train`` sets up, ``train_one_epoch`` is the visible loop.

Runs on the CPU, one GPU, or many GPUs / nodes under ``accelerate launch`` or
``torchrun`` (DDP through :class:`accelerate.Accelerator`). The paper's
schedule is the default config: AdamW, lr 1e-4 dropped to 1e-5 after epoch 3,
5 epochs, batch 16.

A resumed run (``resume=``) restores model, optimizer, scheduler, RNG, epoch
and step, and the sampler replays the same order (it depends only on seed and
epoch), so it ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from torch import Tensor, nn
from torch.utils.data import DataLoader

from clhoi.config import ExperimentConfig, to_dict
from clhoi.data.collate import EpochSampler, TailMergingBatchSampler, collate
from clhoi.engine.checkpoint import (
    CheckpointError,
    TrainState,
    clean_stale_temporaries,
    config_differences,
    existing_checkpoint,
    get_rng_state,
    load_checkpoint_config,
    load_train_state,
    load_weights,
    save_checkpoint,
    set_rng_state,
)
from clhoi.engine.log import LossMeter, RunLogger, flat_config, format_losses, resolve_trackers
from clhoi.engine.setup import TrainingParts, build_training
from clhoi.engine.step import batch_losses

_log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
"""Name of the checkpoint directory inside ``cfg.output_dir``."""


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; the message names the step and the term."""


@dataclass
class TrainEvent:
    """What a progress callback receives.

    Attributes:
        kind: ``start``, ``step``, ``epoch`` (an epoch ended), ``checkpoint`` or ``done``.
        epoch: the epoch (0-based) the event belongs to.
        step: optimizer steps done so far.
        total_steps: optimizer steps the whole run will do.
        losses: ``step``: that step's loss terms (``total`` included), as floats;
            ``epoch``: their means over the epoch (all processes).
        lr: the current learning rate.
        checkpoint: the checkpoint directory, for ``checkpoint`` and ``done``.
    """

    kind: str
    epoch: int
    step: int
    total_steps: int
    losses: dict[str, float] = field(default_factory=dict)
    lr: float = 0.0
    checkpoint: Path | None = None


ProgressCallback = Callable[[TrainEvent], None]


def build_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the trainable parameters (the frozen encoders have ``requires_grad=False``)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters; check the model.freeze_* settings")
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, drop_epoch: int, factor: float) -> torch.optim.lr_scheduler.LRScheduler:
    """The step schedule, stepped once per epoch: ``lr`` until ``drop_epoch``, then ``lr * factor``."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[drop_epoch], gamma=factor)


def check_finite(losses: dict[str, Tensor], step: int) -> None:
    """Raise :class:`NonFiniteLossError` naming the step and every non-finite term."""
    bad = {k: float(v.detach()) for k, v in losses.items() if not bool(torch.isfinite(v.detach()).all())}
    if bad:
        terms = ", ".join(f"{k}={v}" for k, v in bad.items() if k != "total") or f"total={bad.get('total')}"
        raise NonFiniteLossError(
            f"non-finite loss at step {step}: {terms}. Lower train.lr, set train.mixed_precision=no, "
            f"or check the inputs of that term; resume from the last checkpoint with --resume"
        )


def train_one_epoch(
    parts: TrainingParts,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    accelerator: Accelerator,
    state: TrainState,
    cfg: ExperimentConfig,
    on_step: Callable[[dict[str, float]], None],
) -> bool:
    """One pass over ``loader``: forward, losses, backward, clip, step.

    ``state.step`` and ``state.step_in_epoch`` are advanced in place. ``on_step``
    is called after every optimizer step (logging, periodic checkpoints).

    Returns:
        False when ``train.max_steps`` was reached (the run should stop).
    """
    parts.model.train()
    for batch in loader:
        losses = batch_losses(parts, batch, accelerator)
        check_finite(losses, state.step + 1)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(losses["total"])
        if cfg.train.clip_grad_norm > 0:
            accelerator.clip_grad_norm_(parts.model.parameters(), cfg.train.clip_grad_norm)
        optimizer.step()
        state.step += 1
        state.step_in_epoch += 1
        on_step({k: float(v.detach()) for k, v in losses.items()})
        if cfg.train.max_steps and state.step >= cfg.train.max_steps:
            return False
    return True


def train(
    cfg: ExperimentConfig,
    resume: str | Path | bool | None = None,
    callback: ProgressCallback | None = None,
    progress: bool = True,
) -> Path:
    """Train the student of ``cfg`` and return its checkpoint directory.

    Args:
        cfg: the experiment.
        resume: ``True`` to continue from ``<output_dir>/checkpoint``, or a
            checkpoint directory; ``None``/``False`` starts afresh (an existing
            checkpoint in ``output_dir`` is then an error, to protect it).
        callback: called with a :class:`TrainEvent` at start, every step, every
            epoch end, every checkpoint and at the end (main process only).
        progress: show a rich progress bar on the console.

    Returns:
        ``<output_dir>/checkpoint``: config.yaml, model.safetensors, provenance
        and the resumable trainer state.
    """
    if not cfg.train.deterministic:
        return _train(cfg, resume, callback, progress)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _train(cfg, resume, callback, progress)
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def _train(
    cfg: ExperimentConfig,
    resume: str | Path | bool | None,
    callback: ProgressCallback | None,
    progress: bool,
) -> Path:
    out_dir = Path(cfg.output_dir)
    ckpt_dir = out_dir / CHECKPOINT_DIR
    resume_from = _resume_path(resume, ckpt_dir)
    previous = existing_checkpoint(ckpt_dir)  # also the one a save killed between its two renames left
    if resume_from is None and previous is not None:
        raise CheckpointError(
            f"{previous} already holds a checkpoint; pass --resume to continue it or choose another output_dir"
        )
    clean_stale_temporaries(ckpt_dir)  # left by saves that were killed
    if resume_from is not None:
        # What changes the trajectory must match; paths, logging and the stopping point may differ.
        diff = config_differences(load_checkpoint_config(resume_from), cfg,
                                  ("model", "loss", "train", "data", "seed", "supervision"))
        loose = ("train.epochs", "train.max_steps", "train.log_every", "train.save_every", "train.tensorboard",
                 "train.trackers",
                 "train.deterministic", "train.strict_annotation_free", "data.")
        diff = [d for d in diff if not d.startswith(loose) or d.startswith("data.dataset:")]
        if diff:
            raise CheckpointError(
                f"checkpoint {resume_from} was trained with another config: {'; '.join(diff[:6])}; "
                "resume with the checkpoint's own config.yaml"
            )

    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    # A second train() in one process may ask for another precision: forget the last run's
    # AcceleratorState (the process group lives in PartialState and is kept).
    AcceleratorState._reset_state()
    # cpu=True without a GPU also makes CPU multi-process runs (torchrun, gloo) distributed
    trackers = resolve_trackers(cfg.train.tensorboard, cfg.train.trackers, out_dir)  # TensorBoard, W&B, MLflow...
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=cfg.train.mixed_precision,
                              kwargs_handlers=[ddp], log_with=trackers or None, project_dir=str(out_dir))
    set_seed(cfg.seed)
    parts = build_training(cfg, accelerator.device)
    if parts.dataset is None:  # train.epochs == 0: the randomly initialised model (Table 6, "w/o training")
        if accelerator.is_main_process:
            save_checkpoint(ckpt_dir, parts.model, cfg, TrainState(rng=get_rng_state()), parts.provenance)
        accelerator.wait_for_everyone()
        return ckpt_dir
    world = accelerator.num_processes
    if cfg.train.batch_size % world:
        raise ValueError(f"train.batch_size={cfg.train.batch_size} must be divisible by the {world} processes")
    per_proc = cfg.train.batch_size // world
    sampler = EpochSampler(len(parts.dataset), cfg.seed, True, accelerator.process_index, world)
    batches = TailMergingBatchSampler(sampler, per_proc)  # a too-small tail joins the batch before it
    loader = DataLoader(
        parts.dataset, batch_sampler=batches, collate_fn=collate,
        num_workers=cfg.data.num_workers, generator=torch.Generator(),  # keeps the global RNG untouched
    )
    steps_per_epoch = len(batches)
    total = cfg.train.epochs * steps_per_epoch
    if cfg.train.max_steps:
        total = min(total, cfg.train.max_steps)

    optimizer = build_optimizer(parts.model, cfg.train.lr, cfg.train.weight_decay)
    scheduler = build_scheduler(optimizer, cfg.train.lr_drop_epoch, cfg.train.lr_drop_factor)
    state = TrainState()
    if resume_from is not None:
        load_weights(parts.model, resume_from)
        state = load_train_state(resume_from)
        optimizer.load_state_dict(state.optimizer)
        scheduler.load_state_dict(state.scheduler)
    parts.model, optimizer = accelerator.prepare(parts.model, optimizer)
    if resume_from is not None:
        set_rng_state(state.rng)

    main = accelerator.is_main_process
    if trackers:
        accelerator.init_trackers("clhoi", config=flat_config(to_dict(cfg)),
                                  init_kwargs={"wandb": {"name": cfg.name}, "mlflow": {"run_name": cfg.name}})
    logger = RunLogger(out_dir, enabled=main, tensorboard=False, accelerator=accelerator if trackers else None)
    emit = callback if (callback is not None and main) else (lambda e: None)
    bar = _Progress(total, enabled=progress and main, start=state.step)
    lr = lambda: optimizer.param_groups[0]["lr"]  # noqa: E731

    def save() -> Path:
        accelerator.wait_for_everyone()
        if main:
            state.optimizer, state.scheduler, state.rng = optimizer.state_dict(), scheduler.state_dict(), get_rng_state()
            # Provenance is written here, and only here (see TrainingParts.provenance).
            save_checkpoint(ckpt_dir, accelerator.unwrap_model(parts.model), cfg, state, parts.provenance)
            logger.log("checkpoint", state.step, epoch=state.epoch, path=str(ckpt_dir))
            emit(TrainEvent("checkpoint", state.epoch, state.step, total, lr=lr(), checkpoint=ckpt_dir))
        accelerator.wait_for_everyone()
        return ckpt_dir

    meter = LossMeter()
    # means over all processes; called by every process at the same step
    reduce = lambda t: accelerator.reduce(t.to(accelerator.device), "mean")  # noqa: E731

    def on_step(values: dict[str, float]) -> None:
        meter.add(values)
        bar.update(state.epoch, meter.epoch())  # this process's running epoch means
        if state.step % cfg.train.log_every == 0 or state.step == total:
            steps = meter.interval_steps
            logger.log("train", state.step, epoch=state.epoch, lr=lr(), steps=steps, **meter.interval(reduce))
        emit(TrainEvent("step", state.epoch, state.step, total, values, lr()))
        if cfg.train.save_every and state.step % cfg.train.save_every == 0:
            save()

    if main:
        for note in parts.notes:
            _log.info("note: %s", note)
    if main:
        logger.log("start", state.step, config=cfg.name, images=len(parts.dataset), total_steps=total,
                   processes=world, device=str(accelerator.device), notes=parts.notes)
    emit(TrainEvent("start", state.epoch, state.step, total, lr=lr()))
    try:
        keep_going = not (cfg.train.max_steps and state.step >= cfg.train.max_steps)
        while keep_going and state.epoch < cfg.train.epochs:
            sampler.set_epoch(state.epoch, skip=state.step_in_epoch * per_proc)
            keep_going = train_one_epoch(parts, loader, optimizer, accelerator, state, cfg, on_step)
            if keep_going:
                means, steps = meter.epoch(reduce), meter.epoch_steps
                meter.reset_epoch()
                scheduler.step()
                state.epoch += 1
                state.step_in_epoch = 0
                logger.log("epoch", state.step, epoch=state.epoch - 1, lr=lr(), steps=steps, **means)
                bar.note(f"epoch {state.epoch - 1}: {format_losses(means)} (mean of {steps} steps)")
                emit(TrainEvent("epoch", state.epoch - 1, state.step, total, means, lr=lr()))
                save()
        if not keep_going or not (ckpt_dir / "model.safetensors").exists():
            save()  # stopped by train.max_steps
    finally:
        bar.close()
        logger.close()
    emit(TrainEvent("done", state.epoch, state.step, total, lr=lr(), checkpoint=ckpt_dir))
    return ckpt_dir


def _resume_path(resume: str | Path | bool | None, default: Path) -> Path | None:
    if resume is None or resume is False:
        return None
    path = default if resume is True else Path(resume)
    found = existing_checkpoint(path)  # the previous checkpoint when a save was killed between its renames
    if found is None:
        what = "is not a checkpoint (no model.safetensors)" if path.exists() else "does not exist"
        raise CheckpointError(f"cannot resume: {path} {what}; run without --resume to start afresh")
    return found


class _Progress:
    """A rich progress bar showing the epoch and its running mean losses (a no-op when disabled)."""

    def __init__(self, total: int, enabled: bool, start: int = 0) -> None:
        self._bar = None
        if not enabled or total <= 0:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("[bold]train[/] epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[losses]}"), transient=False,
        )
        self._task = self._bar.add_task("train", total=total, completed=start, epoch=0, losses="")
        self._bar.start()

    def update(self, epoch: int, losses: dict[str, float]) -> None:
        """Advance one step; ``losses`` are shown (the epoch's running means)."""
        if self._bar is not None:
            self._bar.update(self._task, advance=1, epoch=epoch, losses=format_losses(losses))

    def note(self, text: str) -> None:
        """Print a line above the bar (kept in the console's scrollback)."""
        if self._bar is not None:
            self._bar.console.print(text, highlight=False, markup=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
