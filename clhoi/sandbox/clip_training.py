"""Training the sandbox CLIP contrastively on a separate split of the world.

The ``clip`` split is never used by the demo's train or test split. Pairs are
(whole image, teacher-style caption), (union box of a person and the object
they interact with, an HOI prompt such as "a photo of a person riding a
bicycle", sometimes with synonyms), (an idle person beside an object, "a photo
of a person and a bicycle") and (an object, "a photo of a bicycle"). The loss
is CLIP's symmetric InfoNCE, with identical texts in a batch counted as
positives of each other.

Regenerate the shipped weights (about two minutes on 2 CPU cores)::

    python -m clhoi.sandbox.clip_training --out clhoi/sandbox/assets/clip
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor, nn
from transformers import CLIPModel

from clhoi.labelset import hoi_prompt, object_prompt, verb_prompt
from clhoi.sandbox.captions import OBJECT_WORDS, VERB_WORDS, describe
from clhoi.sandbox.labels import HOI_KINDS
from clhoi.sandbox.scene import Scene, render_scene, sample_scene
from clhoi.sandbox.tiny_clip import build_tokenizer, image_processor, save_clip, small_clip_config
from clhoi.sandbox.world import scene_seed
from clhoi.vocab import negative_verbs


def _union(a: tuple, b: tuple) -> tuple:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _crop(img: Image.Image, box: tuple, rng: random.Random, jitter: float = 0.04) -> Image.Image:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    box = (x1 + rng.gauss(0, jitter) * w, y1 + rng.gauss(0, jitter) * h, x2 + rng.gauss(0, jitter) * w,
           y2 + rng.gauss(0, jitter) * h)
    W, H = img.size
    m = 6  # at least 6 x 6 pixels: thinner crops are ambiguous to the image processor
    x1, y1 = min(max(int(box[0]), 0), W - m), min(max(int(box[1]), 0), H - m)
    return img.crop((x1, y1, min(max(int(round(box[2])), x1 + m), W), min(max(int(round(box[3])), y1 + m), H)))


def scene_pairs(scene: Scene, img: Image.Image, rng: random.Random) -> list[tuple[Image.Image, str]]:
    """(image or crop, text) training pairs from one scene."""
    pairs = []
    inter = [(HOI_KINDS[k].verb, HOI_KINDS[k].object) for _, _, k in scene.interactions]
    desc = describe(len(scene.people), inter, [t.category for t in scene.things], rng, miss_rate=0.15,
                    synonym_rate=0.3, hallucination_rate=0.0)
    pairs.append((img, desc.caption))
    busy = set()
    for p, t, k in scene.interactions:
        busy.add(p)
        kind = HOI_KINDS[k]
        crop = _crop(img, _union(scene.people[p].box, scene.things[t].box), rng)
        r = rng.random()
        if r < 0.55:
            text = hoi_prompt(kind.verb, kind.object)
        elif r < 0.8:
            verb = rng.choice(VERB_WORDS[kind.verb])[0]
            text = hoi_prompt(verb, rng.choice(OBJECT_WORDS[kind.object]))
        else:
            text = verb_prompt(kind.verb)
        pairs.append((crop, text))
    for p, person in enumerate(scene.people):
        if p in busy:
            continue
        if scene.things and rng.random() < 0.7:
            t = rng.randrange(len(scene.things))
            crop = _crop(img, _union(person.box, scene.things[t].box), rng)
            pairs.append((crop, hoi_prompt("no_interaction", scene.things[t].category)))
        else:
            pairs.append((_crop(img, person.box, rng), "a photo of a person standing"))
    for t in scene.things:
        if rng.random() < 0.4:
            pairs.append((_crop(img, t.box, rng, 0.08), object_prompt(t.category)))
    return pairs


def corpus(num: int = 3000, seed: int = 0) -> list[str]:
    """Texts the tokenizer is trained on: captions, prompts (canonical and synonyms), negative verbs."""
    rng = random.Random(seed)
    texts = []
    for i in range(num):
        scene = sample_scene(scene_seed(seed, "corpus", i))
        inter = [(HOI_KINDS[k].verb, HOI_KINDS[k].object) for _, _, k in scene.interactions]
        texts.append(describe(len(scene.people), inter, [t.category for t in scene.things], rng).caption)
    for forms in VERB_WORDS.values():
        for lemma, _ in forms:
            for objs in OBJECT_WORDS.values():
                for o in objs:
                    texts += [hoi_prompt(lemma, o), verb_prompt(lemma), object_prompt(o), hoi_prompt("no_interaction", o)]
    texts += [verb_prompt(v) for v in negative_verbs()] * 2
    texts += ["a photo of a person standing"] * 4
    return texts


@dataclass
class ZeroShot:
    """Zero-shot HOI classification of union crops.

    Attributes:
        accuracy: top-1 over all sandbox classes.
        accuracy_known_object: top-1 among the classes valid for the true object.
        chance, chance_known_object: the accuracies of guessing uniformly.
        count: crops evaluated.
    """

    accuracy: float
    accuracy_known_object: float
    chance: float
    chance_known_object: float
    count: int


@torch.no_grad()
def zero_shot(model: nn.Module, tokenizer, processor, num_scenes: int = 150, seed: int = 1) -> ZeroShot:
    """Classify union crops of held-out scenes among the sandbox's HOI prompts."""
    rng = random.Random(seed)
    texts = [hoi_prompt(k.verb, k.object) for k in HOI_KINDS]
    tok = tokenizer(texts, padding=True, return_tensors="pt")
    txt = nn.functional.normalize(model.get_text_features(**tok).pooler_output, dim=-1)
    crops, labels = [], []
    for i in range(num_scenes):
        scene = sample_scene(scene_seed(seed, "clip-val", i))
        img = render_scene(scene)
        for p, t, k in scene.interactions:
            crops.append(_crop(img, _union(scene.people[p].box, scene.things[t].box), rng, 0.0))
            labels.append(k)
    pix = processor(images=crops, return_tensors="pt")["pixel_values"]
    img = nn.functional.normalize(model.get_image_features(pixel_values=pix).pooler_output, dim=-1)
    sim = img @ txt.T
    y = torch.tensor(labels)
    acc = (sim.argmax(1) == y).float().mean().item()
    valid = torch.tensor([[HOI_KINDS[c].object == HOI_KINDS[k].object for c in range(len(HOI_KINDS))] for k in labels])
    acc_obj = (sim.masked_fill(~valid, -1e4).argmax(1) == y).float().mean().item()
    chance_obj = (1.0 / valid.sum(1).float()).mean().item()
    return ZeroShot(acc, acc_obj, 1.0 / len(HOI_KINDS), chance_obj, len(labels))


def _multi_positive_loss(logits: Tensor, texts: list[str]) -> Tensor:
    ids = {t: i for i, t in enumerate(dict.fromkeys(texts))}
    t = torch.tensor([ids[x] for x in texts])
    target = (t[:, None] == t[None, :]).float()
    target = target / target.sum(1, keepdim=True)
    return 0.5 * (-(target * logits.log_softmax(1)).sum(1).mean() - (target * logits.T.log_softmax(1)).sum(1).mean())


def train_clip(out: str | Path, num_scenes: int = 1500, steps: int = 600, batch_size: int = 64, lr: float = 2e-3,
               seed: int = 0, threads: int = 1, log_every: int = 50) -> ZeroShot:
    """Train the sandbox CLIP from scratch and ``save_pretrained`` it into ``out``."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    t0 = time.time()
    tokenizer = build_tokenizer(corpus(seed=seed))
    config = small_clip_config(tokenizer)
    model = CLIPModel(config)
    processor = image_processor(config.vision_config.image_size)
    rng = random.Random(seed)
    examples: list[tuple[Image.Image, str]] = []
    for i in range(num_scenes):
        scene = sample_scene(scene_seed(seed, "clip", i))
        examples += scene_pairs(scene, render_scene(scene), rng)
    pixels = torch.cat([processor(images=[im for im, _ in examples[i:i + 512]], return_tensors="pt")["pixel_values"]
                        for i in range(0, len(examples), 512)])
    texts = [t for _, t in examples]
    tok = tokenizer(texts, padding="max_length", truncation=True, max_length=config.text_config.max_position_embeddings,
                    return_tensors="pt")
    lengths = tok["attention_mask"].sum(1)
    print(f"clip data: {len(examples)} pairs from {num_scenes} scenes, vocab {len(tokenizer)}, "
          f"{time.time() - t0:.1f}s", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randperm(len(texts), generator=gen)[:batch_size]
        pix = pixels[idx]
        n = int(lengths[idx].max())  # pad to the longest text of the batch only
        res = model(input_ids=tok["input_ids"][idx, :n], attention_mask=tok["attention_mask"][idx, :n], pixel_values=pix)
        loss = _multi_positive_loss(res.logits_per_image, [texts[i] for i in idx.tolist()])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if (step + 1) % log_every == 0:
            print(f"step {step + 1}/{steps} loss {loss.item():.3f} ({time.time() - t0:.0f}s)", flush=True)
    model.eval()
    save_clip(model, tokenizer, out)
    zs = zero_shot(model, tokenizer, processor)
    print(f"zero-shot HOI accuracy {zs.accuracy:.3f} (chance {zs.chance:.3f}); among the object's classes "
          f"{zs.accuracy_known_object:.3f} (chance {zs.chance_known_object:.3f}); {time.time() - t0:.0f}s", flush=True)
    return zs


def main() -> None:
    ap = argparse.ArgumentParser(description="Train the sandbox CLIP and save it with save_pretrained.")
    ap.add_argument("--out", default=str(Path(__file__).parent / "assets" / "clip"))
    ap.add_argument("--scenes", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=50)
    a = ap.parse_args()
    train_clip(a.out, num_scenes=a.scenes, steps=a.steps, seed=a.seed, threads=a.threads, log_every=a.log_every)


if __name__ == "__main__":
    main()
