"""Where do the visual link (Eq. 3) and the VLT's context queries look, in a probe checkpoint?

Prints the share of attention mass that falls on patches inside each pair's union box
(visual cognition, per pair) and inside the union of all pairs' boxes (the VLT's last
Q-Former cross-attention of the context queries, per image), next to the share of the
patches that lie there (what uniform attention would give).

    python benchmarks/probe_attention.py RUN_DIR/seedS/rowK/checkpoint
"""

from __future__ import annotations

import json
import sys

import torch

from clhoi.engine.checkpoint import load_model
from clhoi.engine.evaluate import eval_loader
from clhoi.engine.step import image_features
from clhoi.models.geometry import normalize_boxes, patch_centres, union_boxes


def inside(centres: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    return (centres[:, 0] >= box[0]) & (centres[:, 0] <= box[2]) & (centres[:, 1] >= box[1]) & (centres[:, 1] <= box[3])


@torch.no_grad()
def main() -> None:
    torch.set_num_threads(1)
    model, cfg = load_model(sys.argv[1], "cpu")
    from pathlib import Path

    root = Path(cfg.data.image_root).parent
    names = [r["file_name"] for r in json.loads((root / "annotations" / "test_probe.json").read_text())]
    loader = eval_loader(cfg, model, names, True, 16)
    centres = patch_centres(model.grid)
    vis, vis_uniform, ctx, ctx_uniform = [], [], [], []
    for batch in loader:
        dets = batch.detections
        out = model(dets, image_features=image_features(model, batch, "cpu"), return_attention=True)
        att = out.attentions or {}
        for p in range(out.interaction.shape[0]):
            i = int(out.pair_image[p])
            boxes = normalize_boxes(dets[i].boxes, dets[i].image_size)
            u = union_boxes(boxes[[int(out.human_idx[p])]], boxes[[int(out.object_idx[p])]])[0]
            m = inside(centres, u)
            if "visual" in att:
                vis.append(float(att["visual"][p][m].sum()))
                vis_uniform.append(float(m.float().mean()))
        if "vlt" in att:
            for i, d in enumerate(dets):
                if not len(d):
                    continue
                b = normalize_boxes(d.boxes, d.image_size)
                u = torch.cat([b[:, :2].min(0).values, b[:, 2:].max(0).values])
                m = inside(centres, u)
                ctx.append(float(att["vlt"][i][:, m].sum(-1).mean()))
                ctx_uniform.append(float(m.float().mean()))

    def mean(x):
        return round(100 * sum(x) / len(x), 1) if x else None

    print(json.dumps({"visual_mass_in_union_pct": mean(vis), "uniform_in_union_pct": mean(vis_uniform),
                      "vlt_context_mass_in_pairs_box_pct": mean(ctx), "uniform_in_pairs_box_pct": mean(ctx_uniform)}))


if __name__ == "__main__":
    main()
