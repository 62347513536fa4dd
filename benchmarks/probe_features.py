"""Where does a probe's cue live in the frozen CLIP features? Linear read-out accuracies.

For each ground-truth pair of a probe world, the cue (which of its object's two classes) is
read out by a logistic regression (fit on the training split's cached features, scored on
the test split's) from: the RoIAlign-pooled human box, object box and union box of
``f_img`` (what the box embeddings see), the mean of all patch tokens (what a global
read-out sees) and the mean of the patches outside the union box (the scene).

    python benchmarks/probe_features.py RUN_DIR/seedS   # a `clhoi probe` output's seed folder
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from clhoi.models.geometry import union_boxes
from clhoi.models.pooling import pool_box_features


def load(run: Path, split: str) -> dict[str, torch.Tensor]:
    from clhoi.engine.feature_store import FeatureCache as FeatureStore

    store = FeatureStore(run / "features" / split)
    return {name: store[name].image_features.float() for name in store}


def rows(feats, recs, grid=(8, 8)):
    xs = {k: [] for k in ("human", "object", "union", "all", "outside")}
    ys = []
    for r in recs:
        if r["file_name"] not in feats:
            continue
        tok = feats[r["file_name"]][None]  # [1, L, C]
        W, H = r["width"], r["height"]
        boxes = torch.tensor([[v - 1 for v in a["bbox"]] for a in r["annotations"]]) / torch.tensor([W, H, W, H])
        for h, k in zip(r["hoi_annotation"], r["probe"]["classes"]):
            bh, bo = boxes[h["subject_id"]][None], boxes[h["object_id"]][None]
            u = union_boxes(bh, bo)
            img = torch.zeros(1, dtype=torch.long)
            xs["human"].append(pool_box_features(tok, grid, bh, img)[0])
            xs["object"].append(pool_box_features(tok, grid, bo, img)[0])
            xs["union"].append(pool_box_features(tok, grid, u, img)[0])
            xs["all"].append(tok[0].mean(0))
            cy = (torch.arange(grid[0]) + 0.5) / grid[0]
            cx = (torch.arange(grid[1]) + 0.5) / grid[1]
            yy, xx = torch.meshgrid(cy, cx, indexing="ij")
            inside = (xx.flatten() >= u[0, 0]) & (xx.flatten() <= u[0, 2]) & (yy.flatten() >= u[0, 1]) & (yy.flatten() <= u[0, 3])
            xs["outside"].append(tok[0][~inside].mean(0) if (~inside).any() else tok[0].mean(0))
            ys.append(k % 2 + 2 * (k // 2))
    return {k: torch.stack(v) for k, v in xs.items()}, torch.tensor(ys)


def fit(xtr, ytr, xte, yte, steps=400):
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    lin = torch.nn.Linear(xtr.shape[1], 4)
    opt = torch.optim.Adam(lin.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(lin(xtr), ytr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        logits = lin(xte)
        # accuracy within the object's pair of classes
        pair = torch.stack([logits[torch.arange(len(yte)), (yte // 2) * 2], logits[torch.arange(len(yte)), (yte // 2) * 2 + 1]], 1)
        return float((pair.argmax(1) == yte % 2).float().mean())


def main() -> None:
    torch.manual_seed(0)
    run = Path(sys.argv[1])
    cfg = (run / "row0" / "checkpoint" / "config.yaml")
    import yaml

    data = yaml.safe_load(cfg.read_text())["data"]
    root = Path(data["image_root"]).parent
    probe = json.loads((root / "world.json").read_text())["spec"]["probe"]
    out = {}
    recs = {s: json.loads((root / "annotations" / f"{s}_probe.json").read_text()) for s in ("train", "test")}
    ftr, fte = load(run, "train"), load(run, "test")
    xtr, ytr = rows(ftr, recs["train"])
    xte, yte = rows(fte, recs["test"])
    for k in xtr:
        out[k] = round(100 * fit(xtr[k], ytr, xte[k], yte), 1)
    print(json.dumps({"probe": probe, "train_pairs": len(ytr), "test_pairs": len(yte), "cue_accuracy_percent": out}))


if __name__ == "__main__":
    main()
