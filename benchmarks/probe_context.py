"""What do the context features ``f_c`` know about the scene, with and without the context loss L_c?

For a ``clhoi probe context`` seed folder, every row with the VLT (``row3``: CL-HOI, ``row4``:
CL-HOI without L_c) is loaded and ``f_c`` (the VLT's context features, mean over the context
queries) is computed for each image of the world from the cached ``f_img``. Two measures, on the
test split:

* ``readout``: a logistic regression fit on the training images' ``f_c`` recovers the scene
  (water / sand / snow / grass): whether the scene is in ``f_c`` at all;
* ``text``: zero-shot, in CLIP's text space, which L_c aligns ``f_c`` with: the scene whose
  teacher place phrases ("a photo on a wave", ...) have the highest Eq. 5 similarity
  ``s(f_c, f_text)`` is the guess. Chance is 25%. Without L_c nothing ties ``f_c`` to text.

The same two numbers for the untrained VLT (the row's initial weights: same seed) separate what
the frozen features already hold from what training added.

    python benchmarks/probe_context.py RUN_DIR/seedS     # a `clhoi probe context` output's seed folder
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

SCENES = ("water", "sand", "snow", "grass")


def _features(run: Path, split: str) -> dict[str, torch.Tensor]:
    from clhoi.engine.feature_store import FeatureCache as FeatureStore

    store = FeatureStore(run / "features" / split)
    return {name: store[name].image_features.float() for name in store}


def _scenes(root: Path, split: str) -> dict[str, int]:
    recs = json.loads((root / "annotations" / f"{split}_probe.json").read_text())
    return {r["file_name"]: SCENES.index(r["probe"]["scene"]) for r in recs}


@torch.no_grad()
def _context(model, feats: dict[str, torch.Tensor], names: list[str]) -> torch.Tensor:
    x = torch.stack([feats[n] for n in names])
    c = model.encoders.image_dim
    x = x[..., :c].to(model.out_proj.weight.dtype)  # the VLT's input (first layer when two are cached)
    out = []
    for i in range(0, len(x), 64):
        out.append(model.vlt(x[i:i + 64]).context)
    return torch.cat(out)  # [N, Q, D]


def _readout(xtr, ytr, xte, yte, steps=300) -> float:
    torch.manual_seed(0)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    lin = torch.nn.Linear(xtr.shape[1], len(SCENES))
    opt = torch.optim.Adam(lin.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(lin(xtr), ytr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((lin(xte).argmax(1) == yte).float().mean())


@torch.no_grad()
def _text(model, fc: torch.Tensor, y: torch.Tensor, temperature: float) -> float:
    from clhoi.losses import soft_similarity
    from clhoi.sandbox.probe_worlds import PLACES

    fc = torch.nn.functional.normalize(fc, dim=-1) / temperature  # as L_c scales it
    scores = []
    for scene in SCENES:
        t = torch.nn.functional.normalize(model.encode_text([f"a photo {p}" for p in PLACES[scene]]), dim=-1)
        scores.append(soft_similarity(fc, t[None].expand(len(fc), -1, -1))[0])  # Eq. 5, [N]
    return float((torch.stack(scores, 1).argmax(1) == y).float().mean())


def main() -> None:
    from accelerate.utils import set_seed

    from clhoi.engine.checkpoint import load_model
    from clhoi.models.student import build_student

    torch.set_num_threads(1)
    run = Path(sys.argv[1])
    feats = {s: _features(run, s) for s in ("train", "test")}
    out = {}
    for row, label in (("row3", "CL-HOI"), ("row4", "CL-HOI without L_c")):
        ckpt = run / row / "checkpoint"
        if not ckpt.is_dir():
            continue
        model, cfg = load_model(ckpt, "cpu")
        root = Path(cfg.data.image_root).parent
        ys = {s: _scenes(root, s) for s in ("train", "test")}
        names = {s: [n for n in ys[s] if n in feats[s]] for s in ys}
        y = {s: torch.tensor([ys[s][n] for n in names[s]]) for s in ys}
        set_seed(cfg.seed)
        init = build_student(cfg.model).eval()  # the same seed's initial weights, as train() draws them
        for name, m in (("trained", model.eval()), ("initial", init)):
            fc = {s: _context(m, feats[s], names[s]) for s in ys}
            out[f"{label} ({name})"] = {
                "readout_pct": round(100 * _readout(fc["train"].mean(1), y["train"], fc["test"].mean(1), y["test"]), 1),
                "text_pct": round(100 * _text(m, fc["test"], y["test"], cfg.loss.temperature), 1),
            }
    print(json.dumps({"run": str(run), "chance_pct": 25.0, "scene_from_f_c": out}))


if __name__ == "__main__":
    main()
