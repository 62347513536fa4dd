"""Training the sandbox CLIP contrastively on a separate split of the world.

The ``clip`` split is never used by the demo's train or test split. Pairs are
(whole image, teacher-style caption), (union box of a person and the object
they interact with, an HOI prompt such as "a photo of a person riding a
bicycle", sometimes with synonyms; for a surfboard or snowboard, whose verb the
place outside the pair decides, the whole image), (an idle person beside an
object, "a photo of a person and a bicycle") and (an object, "a photo of a
bicycle"). Captions of board images name their place, as the teacher's do. The loss
is CLIP's symmetric InfoNCE, with identical texts in a batch counted as
positives of each other.

Regenerate the shipped weights (about two minutes on 2 CPU cores)::

    python -m clhoi.sandbox.clip_training --out clhoi/sandbox/assets/clip

With ``--probe-scenes N`` the CLIP also learns the capability probes' worlds
(:mod:`clhoi.sandbox.probe_worlds`) from N scenes of each probe's own ``clip`` split
(disjoint from every probe's train and test splits), so that its text tower knows their
words ("surfboard", "stand on", "talk on"). The probes' CLIP is regenerated with::

    python -m clhoi.sandbox.clip_training --probe-scenes 400 --steps 900 --out clhoi/sandbox/assets/clip_probes

(The shipped probes' CLIP was trained at commit 97ab0c6, whose demo scenes were world version 3's;
run at a later commit the command draws the current demo world's scenes and gives another CLIP.)
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
from clhoi.sandbox.probe_worlds import PLACES, PROBE_CLASSES, PROBES, ProbeScene, ProbeWorldSpec, probe_split, render_probe_scene
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


def _places(scene: Scene) -> tuple[str, ...] | None:
    """What a caption of ``scene`` may say of where it is: the place of a board image, else the defaults."""
    return PLACES[scene.place] if scene.place else None


def scene_pairs(scene: Scene, img: Image.Image, rng: random.Random) -> list[tuple[Image.Image, str]]:
    """(image or crop, text) training pairs from one scene."""
    pairs = []
    inter = [(HOI_KINDS[k].verb, HOI_KINDS[k].object) for _, _, k in scene.interactions]
    desc = describe(len(scene.people), inter, [t.category for t in scene.things], rng, miss_rate=0.15,
                    synonym_rate=0.3, hallucination_rate=0.0, places=_places(scene))
    pairs.append((img, desc.caption))
    busy = set()
    for p, t, k in scene.interactions:
        busy.add(p)
        kind = HOI_KINDS[k]
        # a board's verb is in the place outside the pair: its prompt goes with the whole image (as in the
        # probes' CLIP); every other prompt with the union crop
        crop = img if kind.place else _crop(img, _union(scene.people[p].box, scene.things[t].box), rng)
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


PROBE_CLIP_SEED = 0
"""The probe world seed whose ``clip`` split trains the probes' CLIP (its train/test splits are not used)."""


def _probe_words():
    from clhoi.sandbox.probes import PROBE_OBJECT_WORDS, PROBE_VERB_WORDS  # probes imports this module's users

    return PROBE_VERB_WORDS, PROBE_OBJECT_WORDS


def probe_scene_pairs(scene: ProbeScene, img: Image.Image, rng: random.Random) -> list[tuple[Image.Image, str]]:
    """(image or crop, text) training pairs from one probe scene.

    The whole image with a teacher-style caption that names the place; for each pair an HOI
    prompt (canonical, synonym or verb only) on the union crop (``geometry``, ``appearance``) or
    on the whole image (``context``: the cue is outside the union box); the object with its
    object prompt.
    """
    verb_words, object_words = _probe_words()
    classes = PROBE_CLASSES[scene.probe]
    inter = [(classes[k].verb, classes[k].object) for _, _, k in scene.interactions]
    desc = describe(len(scene.people), inter, [t.category for t in scene.things], rng, miss_rate=0.15,
                    synonym_rate=0.3, hallucination_rate=0.0, kinds=[(c.verb, c.object) for c in classes],
                    verb_words=verb_words, object_words=object_words, places=PLACES[scene.scene])
    pairs = [(img, desc.caption)]
    for p, t, k in scene.interactions:
        cls = classes[k]
        if scene.probe == "context":
            view = img
        else:
            view = _crop(img, _union(scene.people[p].figure.box(), scene.things[t].box), rng)
        r = rng.random()
        if r < 0.55:
            text = hoi_prompt(cls.verb, cls.object)
        elif r < 0.8:
            text = hoi_prompt(rng.choice(verb_words[cls.verb])[0], rng.choice(object_words[cls.object]))
        else:
            text = verb_prompt(cls.verb)
        pairs.append((view, text))
    for t in scene.things:
        if rng.random() < 0.4:
            pairs.append((_crop(img, t.box, rng, 0.08), object_prompt(t.category)))
    return pairs


def probe_examples(num_per_probe: int, rng: random.Random) -> list[tuple[Image.Image, str]]:
    """Training pairs from ``num_per_probe`` scenes of each probe's ``clip`` split."""
    examples = []
    for name in PROBES:
        for scene in probe_split(ProbeWorldSpec(name, PROBE_CLIP_SEED), "clip", num_per_probe):
            examples += probe_scene_pairs(scene, render_probe_scene(scene), rng)
    return examples


def probe_corpus(seed: int = 0, num: int = 300) -> list[str]:
    """The probes' texts for the tokenizer: captions with places, HOI and verb prompts, synonyms."""
    verb_words, object_words = _probe_words()
    rng = random.Random(seed)
    texts = []
    for name in PROBES:
        classes = PROBE_CLASSES[name]
        kinds = [(c.verb, c.object) for c in classes]
        for scene in probe_split(ProbeWorldSpec(name, PROBE_CLIP_SEED), "corpus", num):
            inter = [kinds[k] for _, _, k in scene.interactions]
            texts.append(describe(len(scene.people), inter, [t.category for t in scene.things], rng, kinds=kinds,
                                  verb_words=verb_words, object_words=object_words,
                                  places=PLACES[scene.scene]).caption)
        for c in classes:
            for lemma, _ in verb_words[c.verb]:
                for o in object_words[c.object]:
                    texts += [hoi_prompt(lemma, o), verb_prompt(lemma), object_prompt(o), hoi_prompt("no_interaction", o)]
    return texts


def corpus(num: int = 3000, seed: int = 0) -> list[str]:
    """Texts the tokenizer is trained on: captions, prompts (canonical and synonyms), negative verbs."""
    rng = random.Random(seed)
    texts = []
    for i in range(num):
        scene = sample_scene(scene_seed(seed, "corpus", i))
        inter = [(HOI_KINDS[k].verb, HOI_KINDS[k].object) for _, _, k in scene.interactions]
        texts.append(describe(len(scene.people), inter, [t.category for t in scene.things], rng,
                              places=_places(scene)).caption)
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
               seed: int = 0, threads: int = 1, log_every: int = 50, probe_scenes: int = 0) -> ZeroShot:
    """Train the sandbox CLIP from scratch and ``save_pretrained`` it into ``out``.

    ``probe_scenes``: scenes of each capability probe's ``clip`` split added to the data (0: none).
    """
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    t0 = time.time()
    texts_for_tokenizer = corpus(seed=seed) + (probe_corpus(seed) if probe_scenes else [])
    tokenizer = build_tokenizer(texts_for_tokenizer)
    config = small_clip_config(tokenizer)
    model = CLIPModel(config)
    processor = image_processor(config.vision_config.image_size)
    rng = random.Random(seed)
    examples: list[tuple[Image.Image, str]] = []
    for i in range(num_scenes):
        scene = sample_scene(scene_seed(seed, "clip", i))
        examples += scene_pairs(scene, render_scene(scene), rng)
    if probe_scenes:
        examples += probe_examples(probe_scenes, rng)
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
    if probe_scenes:
        for name, acc in probe_zero_shot(model, tokenizer, processor).items():
            print(f"probe {name}: zero-shot accuracy between the two classes of each object {acc:.3f} (chance 0.5)",
                  flush=True)
    return zs


@torch.no_grad()
def probe_zero_shot(model: nn.Module, tokenizer, processor, num_scenes: int = 60) -> dict[str, float]:
    """Per probe: share of held-out pairs (probe world seed 1's ``clip`` split) whose view (union crop;
    whole image for ``context``) is closer to its class prompt than to the other class of its object."""
    out = {}
    rng = random.Random(1)
    for name in PROBES:
        classes = PROBE_CLASSES[name]
        tok = tokenizer([hoi_prompt(c.verb, c.object) for c in classes], padding=True, return_tensors="pt")
        txt = nn.functional.normalize(model.get_text_features(**tok).pooler_output, dim=-1)
        views, labels = [], []
        for scene in probe_split(ProbeWorldSpec(name, 1), "clip", num_scenes):
            img = render_probe_scene(scene)
            for p, t, k in scene.interactions:
                views.append(img if name == "context" else
                             _crop(img, _union(scene.people[p].figure.box(), scene.things[t].box), rng, 0.0))
                labels.append(k)
        pix = processor(images=views, return_tensors="pt")["pixel_values"]
        emb = nn.functional.normalize(model.get_image_features(pixel_values=pix).pooler_output, dim=-1)
        sim = emb @ txt.T
        right = 0
        for i, k in enumerate(labels):
            other = [j for j, c in enumerate(classes) if c.object == classes[k].object and j != k][0]
            right += int(sim[i, k] > sim[i, other])
        out[name] = right / len(labels)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="Train the sandbox CLIP and save it with save_pretrained.")
    ap.add_argument("--out", default=str(Path(__file__).parent / "assets" / "clip"))
    ap.add_argument("--scenes", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--probe-scenes", type=int, default=0,
                    help="scenes of each capability probe's clip split to learn as well (0: none)")
    a = ap.parse_args()
    train_clip(a.out, num_scenes=a.scenes, steps=a.steps, seed=a.seed, threads=a.threads, log_every=a.log_every,
               probe_scenes=a.probe_scenes)


if __name__ == "__main__":
    main()
