"""Mutation testing of the code that decides the published numbers: does a realistic one-line bug fail a test?

Each mutant is one exact text replacement in one file (``old`` must occur exactly once, otherwise the
mutant is reported ``stale``: its target line changed and the mutant needs updating, never silently
skipped). For every mutant the script

1. applies it to a private copy of the repository (``git archive HEAD``, or the working tree with
   ``--worktree``); the repository itself is never touched;
2. runs the mutant's test files in that copy (``python -m pytest -x``, ``PYTHONPATH`` = the copy,
   no bytecode cache, so the mutated source is what runs);
3. re-runs a survivor against the whole suite (unless ``--no-full``);

then prints the kill rate and the survivors. A mutant is *killed* when pytest fails (or runs past
``--timeout``). The copy's imports are checked: ``clhoi.__file__`` must lie inside the copy.

Usage::

    nice -n 10 python benchmarks/mutation.py                 # all mutants, on HEAD
    nice -n 10 python benchmarks/mutation.py --worktree      # on the working tree (uncommitted tests too)
    python benchmarks/mutation.py --check                    # only: does every mutant still apply?
    python benchmarks/mutation.py --list
    nice -n 10 python benchmarks/mutation.py --only ap-11-divisor,icn-key-padding-inverted --no-full

Results of the runs are in benchmarks/RESULTS.md ("Mutation testing").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPIED = ("clhoi", "tests", "configs", "docs", "pyproject.toml", "README.md")


@dataclass(frozen=True)
class Mutant:
    """One realistic one-line bug.

    Attributes:
        id: short name.
        file: path of the mutated file, relative to the repository root.
        old: exact text to replace (must occur exactly once in ``file``).
        new: its replacement.
        what: the bug, in words.
        tests: test files or folders run first (default: by package, see :data:`DEFAULT_TESTS`).
        alt: other ``(old, new)`` forms of the same bug, for other versions of the line (the first form that
            occurs exactly once is applied).
    """

    id: str
    file: str
    old: str
    new: str
    what: str
    tests: tuple[str, ...] = ()
    alt: tuple[tuple[str, str], ...] = ()

    def forms(self) -> tuple[tuple[str, str], ...]:
        return ((self.old, self.new), *self.alt)

    def apply(self, text: str) -> str | None:
        """``text`` with the bug in, or None when no form occurs exactly once (stale)."""
        for old, new in self.forms():
            if text.count(old) == 1:
                return text.replace(old, new, 1)
        return None


DEFAULT_TESTS: dict[str, tuple[str, ...]] = {
    "clhoi/eval/": ("tests/eval",),
    "clhoi/losses.py": ("tests/losses",),
    "clhoi/matching.py": ("tests/losses",),
    "clhoi/postprocess.py": ("tests/postprocess",),
    "clhoi/models/": ("tests/models",),
    "clhoi/targets.py": ("tests/losses",),
    "clhoi/teacher/": ("tests/teacher",),
    "clhoi/data/": ("tests/data",),
    "clhoi/engine/": ("tests/engine",),
}

SLOW_IN_MAPPED: tuple[str, ...] = (
    "tests/eval/test_eval_hicodet_real.py",
    "tests/teacher/test_teacher_resume.py",
    "tests/engine/test_engine_ddp.py",
)
"""Slow tests left out of a mapped run unless a mutant names them (the whole-suite re-run has them)."""

M = Mutant
MUTANTS: tuple[Mutant, ...] = (
    # ------------------------------------------------------------------ eval: AP integration and matching
    M("ap-11-divisor", "clhoi/eval/ap.py", "        ap = ap + p / 11", "        ap = ap + p / 10",
      "11-point AP divided by 10"),
    M("ap-11-recall-strict", "clhoi/eval/ap.py", 'np.searchsorted(rec, ELEVEN_POINTS, side="left")',
      'np.searchsorted(rec, ELEVEN_POINTS, side="right")', "p(t) = max prec over rec > t instead of rec >= t"),
    M("ap-voc-no-envelope", "clhoi/eval/ap.py", "mpre = np.maximum.accumulate(mpre[::-1])[::-1]", "mpre = mpre[::1]",
      "VOC AP without the precision envelope"),
    M("ap-colon-arange", "clhoi/eval/ap.py", "ELEVEN_POINTS: np.ndarray = matlab_colon(0.0, 0.1, 1.0)",
      "ELEVEN_POINTS: np.ndarray = np.arange(0.0, 1.1, 0.1)", "np.arange thresholds instead of MATLAB's 0:0.1:1"),
    M("iou-no-plus-one", "clhoi/eval/matching.py",
      "iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + 1",
      "iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])", "IoU width without the +1 pixel"),
    M("iou-or-overlap", "clhoi/eval/matching.py", "ok = (iw > 0) & (ih > 0)", "ok = (iw > 0) | (ih > 0)",
      "disjoint boxes overlap when one side does"),
    M("greedy-no-duplicate-check", "clhoi/eval/matching.py", "tp[visit[first]] = True", "tp[visit] = True",
      "a ground truth matched twice counts twice"),
    # ------------------------------------------------------------------ eval: HICO-DET
    M("hico-summary-rare-swapped", "clhoi/eval/hicodet.py", '"default_rare": 100 * self.default.rare,',
      '"default_rare": 100 * self.default.non_rare,', "summary(): Default Rare reads Non-rare"),
    M("hico-ko-rare-reads-default", "clhoi/eval/hicodet.py", '"known_object_rare": 100 * self.known_object.rare,',
      '"known_object_rare": 100 * self.default.rare,', "summary(): Known-Object Rare reads Default"),
    M("hico-todict-rare-swapped", "clhoi/eval/hicodet.py",
      '"mAP_rare": 100 * s.rare, "mAP_non_rare": 100 * s.non_rare,',
      '"mAP_rare": 100 * s.non_rare, "mAP_non_rare": 100 * s.rare,', "to_dict(): Rare and Non-rare swapped"),
    M("hico-todict-ko-ap-default", "clhoi/eval/hicodet.py", '"ap_known_object": 100 * float(self.known_object.ap[c])',
      '"ap_known_object": 100 * float(self.default.ap[c])', "to_dict(): per-class Known-Object AP reads Default"),
    M("hico-todict-recall", "clhoi/eval/hicodet.py", '"mean_recall": 100 * float(np.mean(s.recall))',
      '"mean_recall": 100 * float(np.mean(s.ap))', "to_dict(): mean recall reads AP"),
    M("hico-iou-strict", "clhoi/eval/hicodet.py", "tp = first_hits(order, best >= self.iou_threshold, picked)",
      "tp = first_hits(order, best > self.iou_threshold, picked)", "HICO-DET overlap exactly 0.5 is a miss"),
    M("hico-ties-reversed", "clhoi/eval/hicodet.py", "order = np.lexsort((np.arange(len(t)), -t.score, t.cls))",
      "order = np.lexsort((-np.arange(len(t)), -t.score, t.cls))", "score ties visited last-first",
      alt=(('by_score = np.argsort(-t.score, kind="stable")',
            'by_score = len(t) - 1 - np.argsort(-t.score[::-1], kind="stable")'),)),
    M("hico-ko-is-default", "clhoi/eval/hicodet.py", "known_object=self._setting(order[known[order]],",
      "known_object=self._setting(order,", "Known-Object keeps every image"),
    M("hico-full-classes-with-gt", "clhoi/eval/hicodet.py", "full=float(np.mean(ap)),",
      "full=float(np.mean(ap[num_gt > 0])),", "Full mAP over classes with ground truth only"),
    M("hico-ko-object-of-gt", "clhoi/eval/hicodet.py",
      "self._has_object[self._gt_image, self._class_object[self._gt_cls]] = True",
      "self._has_object[self._gt_image, 0] = True", "Known-Object: every image 'has' only persons"),
    # ------------------------------------------------------------------ eval: CLI table
    M("table-ko-reads-default", "clhoi/eval/run.py", '("Known-Object", result.known_object)',
      '("Known-Object", result.default)', "CLI table: Known-Object row shows Default"),
    M("table-rare-swapped", "clhoi/eval/run.py", "for v in (s.full, s.rare, s.non_rare)",
      "for v in (s.full, s.non_rare, s.rare)", "CLI table: Rare / Non-rare columns swapped"),
    M("table-vcoco-s2-reads-s1", "clhoi/eval/run.py", '("AP_role scenario 2", result.role_map_scenario_2)',
      '("AP_role scenario 2", result.role_map_scenario_1)', "CLI table: scenario 2 shows scenario 1"),
    M("out-json-summary", "clhoi/eval/run.py", "write_metrics(result.to_dict(), out)",
      "write_metrics(result.summary(), out)", "--out JSON holds only the summary"),
    # ------------------------------------------------------------------ eval: V-COCO
    M("vcoco-summary-s1-reads-s2", "clhoi/eval/vcoco.py", '"role_ap_scenario_1": 100 * self.role_map_scenario_1,',
      '"role_ap_scenario_1": 100 * self.role_map_scenario_2,', "summary(): scenario 1 reads scenario 2"),
    M("vcoco-todict-agent-reads-role", "clhoi/eval/vcoco.py", '"agent_mAP": pct(self.agent_map),',
      '"agent_mAP": pct(self.role_map_scenario_1),', "to_dict(): agent mAP reads role mAP"),
    M("vcoco-todict-role-s2", "clhoi/eval/vcoco.py", '"ap_scenario_2": pct(self.role_ap_scenario_2[k])}',
      '"ap_scenario_2": pct(self.role_ap_scenario_1[k])}', "to_dict(): per-class scenario 2 reads scenario 1"),
    M("vcoco-person-iou-strict", "clhoi/eval/vcoco.py", "hits_person = best >= self.iou_threshold",
      "hits_person = best > self.iou_threshold", "V-COCO person-box IoU exactly 0.5 is a miss"),
    M("vcoco-role-iou-strict", "clhoi/eval/vcoco.py", "role1 = self._class_aps(*args, is_true & (ov1 >= thr),",
      "role1 = self._class_aps(*args, is_true & (ov1 > thr),", "V-COCO role-box IoU exactly 0.5 is a miss (S1)",
      alt=(("np.stack([is_true & (ov1 >= thr),", "np.stack([is_true & (ov1 > thr),"),)),
    M("vcoco-s2-strict-like-s1", "clhoi/eval/vcoco.py", "ov2 = np.where(gt_has, role_iou, 1.0)",
      "ov2 = np.where(gt_has, role_iou, 0.0)", "scenario 2 rejects any box for a missing role object"),
    M("vcoco-s1-lenient", "clhoi/eval/vcoco.py",
      "ov1 = np.where(gt_has, role_iou, d.role_empty[r].astype(np.float64))",
      "ov1 = np.where(gt_has, role_iou, 1.0)", "scenario 1 accepts any box for a missing role object"),
    M("vcoco-ignored-count", "clhoi/eval/vcoco.py", "kept = ~gt.ignore[person]",
      "kept = np.ones_like(gt.ignore[person])", "matches to unlabelled persons become false positives"),
    M("vcoco-agent-nanmean", "clhoi/eval/vcoco.py", "agent_map=float(np.nansum(agent_ap) / num_actions),",
      "agent_map=float(np.nanmean(agent_ap)),", "agent mAP = nanmean instead of nansum / 26",
      alt=(("agent_map=float(np.nansum(agent_ap[0].astype(np.float32))) / num_actions,",
            "agent_map=float(np.nanmean(agent_ap[0].astype(np.float32))),"),)),
    M("vcoco-role-map-s1-from-s2", "clhoi/eval/vcoco.py", "role_map_scenario_1=_nanmean(role1),",
      "role_map_scenario_1=_nanmean(role2),", "role mAP scenario 1 computed from scenario 2",
      alt=(("role_map_scenario_1=self._official_role_mean(role1),", "role_map_scenario_1=self._official_role_mean(role2),"),)),
    M("vcoco-agent-score-min", "clhoi/eval/vcoco_detections.py", "np.fmax.at(scores, (agent_of, action_of[t.cls]), score32)",
      "np.fmin.at(scores, (agent_of, action_of[t.cls]), score32)", "agent score = min over its triplets"),
    M("vcoco-official-zero-box", "clhoi/eval/vcoco_detections.py", "empty = (rb == 0).all(1) | np.isnan(rb).all(1)",
      "empty = np.isnan(rb).all(1)", "official records: an all-zero role box is not 'no object'"),
    M("gather-insertion-order", "clhoi/eval/gather.py", "keys = sorted(self._parts)", "keys = list(self._parts)",
      "triplets in processing order, not ground-truth image order (ties)",
      alt=(("if (np.diff(position) > 0).all():", "if True:"),)),
    # ------------------------------------------------------------------ losses
    M("eq5-softmax-axis", "clhoi/losses.py", "weights = sim.masked_fill(~m2, torch.finfo(sim.dtype).min).softmax(dim=-1) * m2",
      "weights = sim.masked_fill(~m2, torch.finfo(sim.dtype).min).softmax(dim=-2) * m2", "Eq. 5 softmax over the wrong axis"),
    M("lc-no-temperature", "clhoi/losses.py", "c = F.normalize(context, dim=-1) / temperature",
      "c = F.normalize(context, dim=-1)", "L_c ignores the temperature"),
    M("i2t-sign", "clhoi/losses.py", "per_image = F.softplus(s_neg - s_pos)", "per_image = F.softplus(s_pos - s_neg)",
      "L_I2T rewards the negatives"),
    M("i2t-no-temperature", "clhoi/losses.py", "q = (F.normalize(img, dim=-1) / temperature)[:, None]",
      "q = F.normalize(img, dim=-1)[:, None]", "L_I2T ignores the temperature"),
    M("t2i-no-temperature", "clhoi/losses.py", "q = F.normalize(positives, dim=-1) / temperature",
      "q = F.normalize(positives, dim=-1)", "L_T2I ignores the temperature"),
    M("sr-threshold-strict", "clhoi/losses.py", "y = (sim1 >= threshold) & (sim2 >= threshold) & valid",
      "y = (sim1 > threshold) & (sim2 > threshold) & valid", "SR label: similarity equal to the threshold is 0"),
    M("sr-labels-or", "clhoi/losses.py", "y = (sim1 >= threshold) & (sim2 >= threshold) & valid",
      "y = ((sim1 >= threshold) | (sim2 >= threshold)) & valid", "SR label: verb OR object instead of AND"),
    M("sr-mode-inverted", "clhoi/losses.py", '    if mode == "minmax":\n        sim1, sim2',
      '    if mode != "minmax":\n        sim1, sim2', "sr_label_mode switch inverted"),
    M("sr-loss-fixed-temperature", "clhoi/losses.py", "cos / temperature, labels.to(cos.dtype)",
      "cos / 0.1, labels.to(cos.dtype)", "L_SR ignores sr_temperature"),
    M("criterion-sr-threshold-lost", "clhoi/losses.py", "sr_mask,\n                                            self.sr_threshold,",
      "sr_mask,\n                                            0.5,", "Criterion ignores sr_threshold"),
    M("config-sr-temperature-lost", "clhoi/losses.py", "sr_temperature=cfg.sr_temperature,",
      "sr_temperature=cfg.temperature,", "loss.sr_temperature never reaches the criterion"),
    M("config-focal-gamma-lost", "clhoi/losses.py", "focal_gamma=cfg.focal_gamma,", "focal_gamma=0.2,",
      "loss.focal_gamma never reaches the criterion"),
    M("config-label-mode-lost", "clhoi/losses.py", "sr_label_mode=cfg.sr_label_mode,", 'sr_label_mode="minmax",',
      "loss.sr_label_mode never reaches the criterion"),
    M("i2t-weight-dropped", "clhoi/losses.py", 'out["i2t"] = w["i2t"] * i2t_loss(', 'out["i2t"] = i2t_loss(',
      "the i2t weight is not applied"),
    M("iimg-unnormalised", "clhoi/losses.py", "    feats = F.normalize(interaction, dim=-1)\n    total",
      "    feats = interaction\n    total", "I_img averages raw, not L2-normalised, pair features"),
    M("masked-mean-all", "clhoi/losses.py", "return values[valid].mean()", "return values.mean()",
      "images without the term's inputs count in its mean"),
    M("lc-no-caption-mask", "clhoi/losses.py", "logits = s.masked_fill(~has[None, :], torch.finfo(s.dtype).min)\n    diag",
      "logits = s\n    diag", "images without caption stay in L_c's denominator"),
    M("minmax-flat-zero", "clhoi/losses.py", "return torch.where(flat, torch.ones_like(sim),",
      "return torch.where(flat, torch.zeros_like(sim),", "minmax: a constant column gives 0 instead of 1"),
    M("supervised-iou-strict", "clhoi/matching.py", "(torch.minimum(iou_h, iou_o) >= iou_threshold)",
      "(torch.minimum(iou_h, iou_o) > iou_threshold)", "supervised match: IoU exactly 0.5 is a miss"),
    M("supervised-prior-lambda-lost", "clhoi/matching.py", ".to(inter) ** prior_lambda", ".to(inter) ** 1.0",
      "prior_lambda never reaches the supervised loss"),
    # ------------------------------------------------------------------ post-processing (Eqs. 17-18)
    M("eq18-exponents-swapped", "clhoi/postprocess.py",
      "torch.sigmoid(cos * logit_scale) ** (1.0 - score_lambda) * det[:, None] ** score_lambda",
      "torch.sigmoid(cos * logit_scale) ** score_lambda * det[:, None] ** (1.0 - score_lambda)",
      "Eq. 18: lambda on the wrong factor"),
    M("post-no-valid-mask", "clhoi/postprocess.py", "scores = scores.masked_fill(~label_set.valid_mask(output.object_labels), -1.0)",
      "scores = scores.masked_fill(~label_set.valid_mask(output.object_labels) & False, -1.0)",
      "classes not allowed for the detected object are kept"),
    M("post-min-score-strict", "clhoi/postprocess.py", "keep = val >= self.min_score", "keep = val > self.min_score",
      "a triplet scoring exactly min_score is dropped"),
    M("post-topk-worst", "clhoi/postprocess.py", "order = val.argsort(descending=True, stable=True)",
      "order = val.argsort(descending=False, stable=True)", "top_k keeps the worst triplets"),
    M("post-logit-scale-ignored", "clhoi/postprocess.py", "return float(output.logit_scale.detach().float())",
      "return 1.0", "the student's logit scale is ignored at inference"),
    M("post-agent-min", "clhoi/postprocess.py", '.expand_as(sub), sub, "amax")', '.expand_as(sub), sub, "amin")',
      "agent-only classes take the worst pair of a human"),
    # ------------------------------------------------------------------ models: ICN and geometry
    M("icn-key-padding-inverted", "clhoi/models/icn.py", "pad = _unmask_empty_rows(~box_mask)",
      "pad = _unmask_empty_rows(box_mask)", "Eq. 1 self-attention: key-padding mask inverted"),
    M("icn-no-key-padding", "clhoi/models/icn.py", "x, _ = layer(x, x + pe, x + pe, x, key_padding=pad)",
      "x, _ = layer(x, x + pe, x + pe, x, key_padding=None)", "Eq. 1 attends to padded boxes"),
    M("eq1-pe-on-xyxy", "clhoi/models/icn.py", "pe = sine_encoding(box_cxcywh(boxes), self.dim // 4)",
      "pe = sine_encoding(boxes, self.dim // 4)", "Eq. 1: PE of corners, not centre and size"),
    M("eq1-key-without-pe", "clhoi/models/icn.py", "x, _ = layer(x, x + pe, x + pe, x, key_padding=pad)",
      "x, _ = layer(x, x + pe, x, x, key_padding=pad)", "Eq. 1: keys without PE"),
    M("eq3-patch-xy-swapped", "clhoi/models/icn.py", "pos = sine_encoding(patch_centres(grid, f_v.device), self.dim // 2)",
      "pos = sine_encoding(patch_centres(grid, f_v.device).flip(-1), self.dim // 2)",
      "Eq. 3: patch PE with x and y swapped"),
    M("eq2-union-size", "clhoi/models/icn.py", "x, w = self.visual(x, centre[:, :2].view(*pair_h.shape, 2)",
      "x, w = self.visual(x, centre[:, 2:].view(*pair_h.shape, 2)", "Eq. 2: PE of the union size, not its centre",
      alt=(("centre = box_cxcywh(union)[:, :2].view(*pair_h.shape, 2)",
            "centre = box_cxcywh(union)[:, 2:].view(*pair_h.shape, 2)"),)),
    M("eq2-human-centre", "clhoi/models/icn.py",
      "centre = box_cxcywh(union_boxes(_gather(boxes, pair_h).flatten(0, 1), _gather(boxes, pair_o).flatten(0, 1)))",
      "centre = box_cxcywh(_gather(boxes, pair_h).flatten(0, 1))", "Eq. 2: human-box centre, not union centre",
      alt=(("centre = box_cxcywh(union)[:, :2].view(*pair_h.shape, 2)",
            "centre = box_cxcywh(_gather(boxes, pair_h).flatten(0, 1))[:, :2].view(*pair_h.shape, 2)"),)),
    M("spatial-object-lost", "clhoi/models/icn.py", "[_gather(x, pair_h), _gather(x, pair_o), s], -1))  # I_s",
      "[_gather(x, pair_h), _gather(x, pair_h), s], -1))  # I_s", "I_s reads the human twice, not the object",
      alt=(("parts = [_gather(x, pair_h), _gather(x, pair_o), s]", "parts = [_gather(x, pair_h), _gather(x, pair_h), s]"),)),
    M("block-no-residual", "clhoi/models/icn.py", "x = self.norm1(x + self.drop(out))", "x = self.norm1(self.drop(out))",
      "attention block without its residual"),
    M("cxcywh-height", "clhoi/models/geometry.py", "(x2 - x1), (y2 - y1)], -1)", "(x2 - x1), (x2 - x1)], -1)",
      "box height computed as its width"),
    M("pairfeat-dy-scale", "clhoi/models/geometry.py", "d[:, 1] / wh_h[:, 1]", "d[:, 1] / wh_h[:, 0]",
      "vertical offset scaled by the human width"),
    M("sine-no-2pi", "clhoi/models/geometry.py", "x = coords.float().unsqueeze(-1) * (2 * math.pi) / freq",
      "x = coords.float().unsqueeze(-1) / freq", "PE without the 2 pi scale"),
    M("patch-centre-corner", "clhoi/models/geometry.py",
      "ys = (torch.arange(rows, device=device, dtype=torch.float32) + 0.5) / rows",
      "ys = torch.arange(rows, device=device, dtype=torch.float32) / rows", "patch rows at their top edge"),
    M("layout-hw-swapped", "clhoi/models/pairs.py", "for h, w in (d.image_size for d in detections)",
      "for w, h in (d.image_size for d in detections)", "boxes normalised by (w, h) swapped"),
    M("student-object-label-from-human", "clhoi/models/student.py", "return values[first + layout.object_idx]",
      "return values[first + layout.human_idx]", "object labels read from the human box"),
    M("student-logit-scale-log", "clhoi/models/student.py", "logit_scale=self.log_logit_scale.exp().clamp(max=100.0)",
      "logit_scale=self.log_logit_scale.clamp(max=100.0)", "logit scale not exponentiated"),
    M("student-pooled-switch-ignored", "clhoi/models/student.py",
      'use_det = [d.embeddings is not None and mode != "pooled" and len(d) > 0',
      "use_det = [d.embeddings is not None and len(d) > 0", "box_embedding=pooled still uses detector embeddings"),
    # ------------------------------------------------------------------ engine
    M("lr-drop-late", "clhoi/engine/train.py", "build_scheduler(optimizer, cfg.train.lr_drop_epoch, cfg.train.lr_drop_factor)",
      "build_scheduler(optimizer, cfg.train.lr_drop_epoch + 1, cfg.train.lr_drop_factor)", "lr drop one epoch late",
      ("tests/engine",)),
    M("lr-factor-fixed", "clhoi/engine/train.py", "milestones=[drop_epoch], gamma=factor)",
      "milestones=[drop_epoch], gamma=0.1)", "lr_drop_factor never reaches the scheduler"),
    M("clip-norm-fixed", "clhoi/engine/train.py",
      "accelerator.clip_grad_norm_(parts.model.parameters(), cfg.train.clip_grad_norm)",
      "accelerator.clip_grad_norm_(parts.model.parameters(), 1.0)", "clip_grad_norm never reaches the clipping"),
    M("weight-decay-lost", "clhoi/engine/train.py", "build_optimizer(parts.model, cfg.train.lr, cfg.train.weight_decay)",
      "build_optimizer(parts.model, cfg.train.lr, 0.0)", "weight_decay never reaches AdamW"),
    M("ddp-per-process-batch", "clhoi/engine/train.py", "per_proc = cfg.train.batch_size // world",
      "per_proc = cfg.train.batch_size", "each process takes the global batch",
      ("tests/engine", "tests/engine/test_engine_ddp.py")),
    M("no-zero-grad", "clhoi/engine/train.py", "optimizer.zero_grad(set_to_none=True)", "pass",
      "gradients accumulate across steps"),
    M("resume-skip-steps", "clhoi/engine/train.py", "skip=state.step_in_epoch * per_proc)", "skip=state.step_in_epoch)",
      "a resumed epoch skips steps, not images"),
    M("ckpt-old-deleted-first", "clhoi/engine/checkpoint.py", "os.replace(final, old)", "shutil.rmtree(final)",
      "checkpoint lost when a save dies between its two renames"),
    M("ckpt-no-old-fallback", "clhoi/engine/checkpoint.py", "        if old.is_dir():\n            return resolve_checkpoint(old)",
      "        if False:\n            return resolve_checkpoint(old)", "the .old checkpoint left by a crash is not found"),
    M("ckpt-rng-not-restored", "clhoi/engine/checkpoint.py", '    torch.set_rng_state(state["torch"])', "    pass",
      "resume does not restore the torch RNG"),
    M("step-verb-template-lost", "clhoi/engine/step.py", "union, verb_template=raw.config.verb_template)", "union)",
      "model.verb_template never reaches the training targets",
      alt=(("union, verb_template=raw.config.verb_template,", "union,"),)),
    M("step-union-key-swapped", "clhoi/engine/step.py", "keys = (cached.union_pairs[:, 0] * n + cached.union_pairs[:, 1])",
      "keys = (cached.union_pairs[:, 1] * n + cached.union_pairs[:, 0])", "cached union crops looked up (object, human)"),
    M("eval-score-lambda-lost", "clhoi/engine/evaluate.py", "post = PostProcess(score_lambda=cfg.model.score_lambda)",
      "post = PostProcess(score_lambda=0.5)", "model.score_lambda never reaches evaluation"),
    M("predict-threshold-lost", "clhoi/engine/predict.py", "score_lambda, top_k=top_k, min_score=threshold)",
      "score_lambda, top_k=top_k, min_score=0.0)",
      "the predict threshold is ignored"),
    M("targets-status-ignored", "clhoi/targets.py", 'ok = rec is not None and rec.status == "ok"', "ok = rec is not None",
      "records that are not ok still give targets"),
    M("targets-negatives-are-positives", "clhoi/targets.py",
      "[slot(verb_prompt(v, verb_template)) for v in dict.fromkeys(rec.negatives)]",
      "[slot(verb_prompt(v, verb_template)) for v in rec.verbs]", "negatives encoded from the positive verbs",
      alt=(("negatives.append([slot(verb_prompt(v, verb_template)) for v in negs])",
            "negatives.append([slot(verb_prompt(v, verb_template)) for v in rec.verbs] if ok else [])"),)),
    # ------------------------------------------------------------------ data
    M("sampler-same-every-epoch", "clhoi/data/collate.py", "manual_seed(self.seed * 100_003 + self.epoch)",
      "manual_seed(self.seed * 100_003)", "every epoch sees the same order", ("tests/data", "tests/engine")),
    M("sampler-contiguous-shards", "clhoi/data/collate.py", "return order[self.rank :: self.world_size]",
      "return order[self.rank * (total // self.world_size) : (self.rank + 1) * (total // self.world_size)]",
      "contiguous shards: a DDP step's global batch is not the 1-process batch",
      ("tests/data", "tests/engine", "tests/engine/test_engine_ddp.py")),
    M("union-is-intersection", "clhoi/data/transforms.py", "torch.cat([torch.minimum(h[:, :2], o[:, :2]), torch.maximum(h[:, 2:], o[:, 2:])], dim=1)",
      "torch.cat([torch.maximum(h[:, :2], o[:, :2]), torch.minimum(h[:, 2:], o[:, 2:])], dim=1)",
      "SR union crop is the intersection", ("tests/data", "tests/engine", "tests/losses")),
    M("hico-mat-one-based", "clhoi/data/hicodet.py", "reshape(-1, 4) - 1.0,  # 1-based -> 0-based",
      "reshape(-1, 4),  # 1-based -> 0-based", "anno_bbox.mat boxes kept 1-based",
      alt=(("reshape(-1, 4) - np.float32(1),  # 1-based -> 0-based", "reshape(-1, 4),  # 1-based -> 0-based"),)),
    M("hico-verb-off-by-one", "clhoi/data/hicodet.py", 'where + "category_id", 1, 117) - 1',
      'where + "category_id", 1, 117)', "HICO-DET verb ids read 1-based"),
    M("vcoco-box-exclusive", "clhoi/data/vcoco.py", "x1 + max(0.0, x2 - x1 - 1.0)", "x1 + max(0.0, x2 - x1)",
      "V-COCO boxes not moved to the inclusive frame"),
    M("coco-inclusive-frame", "clhoi/data/coco.py", "box = [x, y, x + max(0.0, w - 1.0), y + max(0.0, h - 1.0)]",
      "box = [x, y, x + w, y + h]", "COCO instances not in the official inclusive frame", ("tests/data", "tests/eval")),
    # ------------------------------------------------------------------ teacher
    M("negatives-head-word-allowed", "clhoi/teacher/parse.py", "banned.update((words[0], verb_lemma(words[0])))", "pass",
      "'play' can be drawn as a negative of 'play with'"),
    M("negatives-one-short", "clhoi/teacher/parse.py", "return rng.sample(pool, min(k, len(pool)))",
      "return rng.sample(pool, min(k - 1, len(pool)))", "one negative fewer than asked"),
    M("negatives-seed-ignores-image", "clhoi/teacher/parse.py", 'f"{seed}:{image}".encode()', 'f"{seed}".encode()',
      "every image draws the same negatives"),
    M("tuple-order-not-fixed", "clhoi/teacher/parse.py", "            return parts[1], parts[0]\n",
      "            return parts[0], parts[1]\n", "'<horse, ride>' read as verb 'horse'"),
)


def _tests_for(m: Mutant) -> tuple[str, ...]:
    if m.tests:
        return m.tests
    for prefix, tests in DEFAULT_TESTS.items():
        if m.file.startswith(prefix):
            return tests
    return ("tests",)


def make_copy(root: Path, worktree: bool, rev: str = "HEAD") -> Path:
    """The repository's files under ``root/repo`` (``root/shared`` links the repo's sibling ``shared`` if any)."""
    dest = root / "repo"
    if worktree:
        dest.mkdir()
        for name in COPIED:
            src = REPO / name
            if src.is_dir():
                shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif src.exists():
                shutil.copy2(src, dest / name)
    else:
        dest.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    sibling = REPO.parent / "shared"
    if sibling.is_dir():  # tests that read optional real data find it where they look (a reference folder beside the repository, if any)
        (root / "shared").symlink_to(sibling)
    return dest


def _env(copy: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    return env


PRELOAD = ("numpy", "torch", "torch._dynamo", "torchvision", "torchvision.ops", "transformers",
           "transformers.modeling_utils", "transformers.models.clip.modeling_clip",
           "transformers.models.blip_2.modeling_blip_2", "accelerate", "accelerate.utils", "safetensors.torch", "PIL",
           "PIL.Image", "rich", "rich.table", "rich.progress", "typer", "typer.testing", "yaml", "lemminflect",
           "hypothesis", "pytest")
"""Imported once by this script, before forking a pytest per mutant (importing torch takes seconds to a minute
on a loaded machine). ``clhoi`` itself is never imported here: each fork imports the mutated copy."""


def preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _run_forked(copy: Path, args: list[str], timeout: float, log: Path) -> tuple[int | None, float]:
    """``pytest.main(args)`` in a forked child working in ``copy``; ``(exit code or None on timeout, seconds)``."""
    t0 = time.time()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.setpgid(0, 0)  # its own process group: a timeout kills torchrun workers too
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(copy)
            os.environ.update(_env(copy))
            sys.dont_write_bytecode = True
            sys.path.insert(0, str(copy))
            import pytest as _pytest

            rc = int(_pytest.main(args))
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)
        except BaseException:  # noqa: BLE001 - report anything and leave the child
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            os._exit(3)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), time.time() - t0
        if time.time() - t0 > timeout:
            try:
                os.killpg(pid, 9)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return None, time.time() - t0
        time.sleep(0.2)


def pytest(copy: Path, paths: tuple[str, ...], timeout: float, mapped: bool = True) -> tuple[str, float, str]:
    """Run pytest in the copy: ``("pass" | "fail" | "timeout" | "error rc=N", seconds, tail of output)``."""
    paths = tuple(p for p in paths if p.startswith("-") or (copy / p.split("::")[0]).exists())
    ignore = [f"--ignore={p}" for p in SLOW_IN_MAPPED if mapped and p not in paths]
    args = ["-x", "-q", "-p", "no:cacheprovider", "--no-header", *ignore, *paths]
    log = copy.parent / "pytest.log"
    if FORK:
        rc, secs = _run_forked(copy, args, timeout, log)
        text = log.read_text(errors="replace") if log.exists() else ""
    else:
        t0 = time.time()
        try:
            done = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=copy, env=_env(copy),
                                  capture_output=True, text=True, timeout=timeout)
            rc, text = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired:
            rc, text = None, ""
        secs = time.time() - t0
    if rc is None:
        return "timeout", secs, ""
    out = text.strip().splitlines()
    if rc not in (0, 1):  # 2: interrupted/collection error, 5: no tests: the run itself is broken
        return f"error rc={rc}", secs, "\n".join(out[-15:])
    return ("pass" if rc == 0 else "fail"), secs, "\n".join(out[-3:])


FORK = hasattr(os, "fork")


def check_imports(copy: Path) -> None:
    """Fail unless a run in the copy imports the copy's ``clhoi`` (not the editable install)."""
    probe_test = copy / "tests" / "test_zz_mutation_probe.py"
    probe_test.write_text("import clhoi\n\ndef test_probe():\n    print('CLHOI_FILE=' + clhoi.__file__)\n")
    try:
        status, _, _ = pytest(copy, ("tests/test_zz_mutation_probe.py", "-s"), 600)
        text = (copy.parent / "pytest.log").read_text() if FORK else ""
        if not FORK:
            text = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                                   "tests/test_zz_mutation_probe.py"], cwd=copy, env=_env(copy),
                                  capture_output=True, text=True).stdout
    finally:
        probe_test.unlink()
    import re

    found = re.search(r"CLHOI_FILE=(\S+)", text)
    probe = found.group(1) if found else f"? (probe {status})"
    if not Path(probe).resolve().is_relative_to(copy.resolve()):
        raise SystemExit(f"the copy imports clhoi from {probe}, not from {copy}; mutants would not run")
    print(f"clhoi imported from the copy: {probe}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worktree", action="store_true", help="mutate a copy of the working tree (default: HEAD)")
    ap.add_argument("--rev", default="HEAD", help="the commit to copy (without --worktree)")
    ap.add_argument("--overlay", nargs="*", default=[], help="files copied from the working tree over the copy "
                    "(e.g. new tests, to measure them on the code of --rev)")
    ap.add_argument("--survivors-of", default="", help="run only the mutants that survived in this --json file "
                    "(plus --only)")
    ap.add_argument("--only", default="", help="comma-separated mutant ids")
    ap.add_argument("--no-full", action="store_true", help="do not re-run survivors against the whole suite")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the mapped tests")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per pytest run (past it: killed)")
    ap.add_argument("--check", action="store_true", help="only report which mutants no longer apply")
    ap.add_argument("--list", action="store_true", help="list the mutants")
    ap.add_argument("--json", default="", help="write the per-mutant results here")
    ap.add_argument("--no-fork", action="store_true", help="a fresh python per pytest run (slower)")
    args = ap.parse_args(argv)
    global FORK
    FORK = FORK and not args.no_fork

    ids = [m.id for m in MUTANTS]
    if len(set(ids)) != len(ids):
        raise SystemExit("duplicate mutant ids")
    wanted = set(args.only.split(",")) if args.only else set()
    if args.survivors_of:
        wanted |= {r["id"] for r in json.loads(Path(args.survivors_of).read_text())["results"] if not r["killed"]}
    chosen = [m for m in MUTANTS if not wanted or m.id in wanted]
    if args.list:
        for m in chosen:
            print(f"{m.id:34s} {m.file:32s} {m.what}")
        return 0

    with tempfile.TemporaryDirectory(prefix="clhoi-mutation-") as tmp:
        copy = make_copy(Path(tmp), args.worktree, args.rev)
        for name in args.overlay:
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
        stale = []
        for m in chosen:
            if not (copy / m.file).is_file() or m.apply((copy / m.file).read_text(encoding="utf-8")) is None:
                text = (copy / m.file).read_text(encoding="utf-8") if (copy / m.file).is_file() else ""
                stale.append((m, [text.count(old) for old, _ in m.forms()]))
        for m, n in stale:
            print(f"STALE {m.id}: {m.file} holds its target text(s) {n} times (one must occur exactly once)")
        if args.check:
            print(f"{len(chosen) - len(stale)}/{len(chosen)} mutants apply")
            return 1 if stale else 0
        if FORK:
            preload()
        check_imports(copy)
        runnable = [m for m in chosen if m not in {s for s, _ in stale}]
        if not args.no_baseline:
            paths = tuple(sorted({p for m in runnable for p in _tests_for(m)}))
            status, secs, tail = pytest(copy, paths, args.timeout * 3)
            print(f"baseline (unmutated) {' '.join(paths)}: {status} in {secs:.0f}s")
            if status != "pass":
                print(tail)
                raise SystemExit("the unmutated tests do not pass; fix that first")
        results = []
        t_start = time.time()
        for i, m in enumerate(runnable, 1):
            target = copy / m.file
            original = target.read_text(encoding="utf-8")
            target.write_text(m.apply(original), encoding="utf-8")
            try:
                tests = _tests_for(m)
                status, secs, tail = pytest(copy, tests, args.timeout)
                stage = "mapped"
                if status == "pass" and not args.no_full:
                    status, more, tail = pytest(copy, ("tests",), args.timeout * 3, mapped=False)
                    secs += more
                    stage = "full"
            finally:
                target.write_text(original, encoding="utf-8")
            killed = status in ("fail", "timeout")
            if status.startswith("error"):
                print(tail)
            results.append({"id": m.id, "file": m.file, "what": m.what, "status": status, "stage": stage,
                            "killed": killed, "seconds": round(secs, 1)})
            print(f"[{i:3d}/{len(runnable)}] {'KILLED ' if killed else 'SURVIVED'} {m.id:34s} "
                  f"({stage}, {status}, {secs:.0f}s)", flush=True)
        killed = [r for r in results if r["killed"]]
        survivors = [r for r in results if not r["killed"]]
        print()
        print(f"mutants: {len(chosen)}, stale: {len(stale)}, run: {len(results)}, killed: {len(killed)}, "
              f"survived: {len(survivors)}; kill rate {100 * len(killed) / max(len(results), 1):.1f}% "
              f"({time.time() - t_start:.0f}s, source {'working tree' if args.worktree else args.rev})")
        for r in survivors:
            print(f"  survivor {r['id']}: {r['file']}: {r['what']} [{r['status']}]")
        if args.json:
            Path(args.json).write_text(json.dumps({"results": results, "stale": [m.id for m, _ in stale]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
