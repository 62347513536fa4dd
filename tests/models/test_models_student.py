"""The assembled student on tiny random CLIP / Q-Former checkpoints saved to disk."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import yaml
from PIL import Image

from clhoi.config import ConfigError, ExperimentConfig, save_config
from clhoi.labelset import LabelSet
from clhoi.models.config import ModelConfig
from clhoi.models.student import CLHOI, build_student, read_model_config
from clhoi.models.testing import tiny_student_config
from clhoi.structures import Detections, StudentOutput

EMB = 16  # tiny config's box_embed_dim


def make_dets(labels: list[int], size: tuple[int, int] = (48, 64), seed: int = 0, emb: bool = True) -> Detections:
    g = torch.Generator().manual_seed(seed)
    n = len(labels)
    h, w = size
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
    wh = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.3, h * 0.3]) + 2
    embeddings = torch.randn(n, EMB, generator=g) if emb else None
    return Detections(torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g), torch.tensor(labels, dtype=torch.long),
                      embeddings, size)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> ModelConfig:
    return tiny_student_config(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def model(cfg: ModelConfig) -> CLHOI:
    torch.manual_seed(0)
    return build_student(cfg).eval()


def feats(b: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(b, 16, 32, generator=torch.Generator().manual_seed(seed))


def test_pairs_and_shapes(model: CLHOI) -> None:
    dets = [make_dets([0, 0, 5, 7]), make_dets([0, 3, 3], seed=1)]
    out = model(dets, image_features=feats(2))
    # image 0: 2 humans x 3 others = 6 pairs; image 1: 1 human x 2 others = 2 pairs
    assert out.num_pairs == 8
    assert out.interaction.shape == (8, 32)
    assert out.pair_image.tolist() == [0] * 6 + [1] * 2
    assert out.human_idx.tolist() == [0, 0, 0, 1, 1, 1, 0, 0]
    assert out.object_idx.tolist() == [1, 2, 3, 0, 2, 3, 1, 2]
    assert out.object_labels.tolist() == [0, 5, 7, 0, 5, 7, 3, 3]
    assert torch.equal(out.pair_scores[0], torch.stack([dets[0].scores[0], dets[0].scores[1]]))
    assert out.context.shape == (2, 4, 32) and out.visual.shape == (2, 16, 32)
    assert out.logit_scale.ndim == 0 and out.attentions is None


@pytest.mark.parametrize(
    "labels",
    [[[], [0, 1]], [[0], [0, 1]], [[2, 3], [0, 1]], [[0, 0], [0, 1]]],
    ids=["no-detections", "human-no-object", "objects-no-human", "two-humans-only"],
)
def test_edge_cases_in_a_batch(model: CLHOI, labels: list[list[int]]) -> None:
    dets = [make_dets(labels[0]), make_dets(labels[1], seed=3)]
    out = model(dets, image_features=feats(2))
    expect0 = 2 if labels[0] == [0, 0] else 0
    assert out.num_pairs == expect0 + 1
    assert out.pair_image.tolist() == [0] * expect0 + [1]
    assert torch.isfinite(out.interaction).all()
    # the pair of image 1 does not depend on what image 0 holds
    alone = model([dets[1]], image_features=feats(2)[1:])
    torch.testing.assert_close(out.interaction[-1], alone.interaction[0], atol=1e-5, rtol=1e-5)


def test_batch_without_any_pair(model: CLHOI) -> None:
    out = model([make_dets([]), make_dets([4, 5])], image_features=feats(2))
    assert out.interaction.shape == (0, 32) and out.pair_scores.shape == (0, 2)
    assert out.object_labels.shape == (0,) and out.context.shape == (2, 4, 32)


def test_errors_name_the_fix(model: CLHOI) -> None:
    with pytest.raises(ValueError, match="image_size"):
        model([Detections(torch.zeros(1, 4), torch.ones(1), torch.zeros(1, dtype=torch.long))], image_features=feats(1))
    with pytest.raises(ValueError, match="pixel_values or image_features"):
        model([make_dets([0])])
    with pytest.raises(ValueError, match="box_embed_dim"):
        model([Detections(torch.zeros(1, 4), torch.ones(1), torch.zeros(1, dtype=torch.long), torch.zeros(1, 3),
                          (8, 8))], image_features=feats(1))
    with pytest.raises(ValueError, match="use_context"):
        ModelConfig(use_vlt=False)


def test_pixel_path_matches_feature_path(model: CLHOI) -> None:
    images = [Image.new("RGB", (64, 48), (200, 30, 30)), Image.new("RGB", (30, 50), (10, 90, 200))]
    pixels = model.preprocess(images)
    assert pixels.shape == (2, 3, 32, 32)
    dets = [make_dets([0, 1]), make_dets([0, 2], size=(50, 30))]
    a = model(dets, pixel_values=pixels)
    b = model(dets, image_features=model.encode_images(pixels))
    torch.testing.assert_close(a.interaction, b.interaction)
    assert model.encode_images(pixels).shape == (2, 16, 32)
    half = model(dets, image_features=model.encode_images(pixels).half())  # a float16 feature cache
    torch.testing.assert_close(half.interaction, a.interaction, atol=1e-2, rtol=1e-2)
    emb = model.embed_images(pixels)
    assert emb.shape == (2, 32)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(2))


def test_text_encoder_cache_and_prompts(model: CLHOI) -> None:
    model.encoders.clear_text_cache()
    texts = [model.prompt("ride", "bicycle"), model.prompt("hold")]
    assert texts == ["a photo of a person riding a bicycle", "a photo of a person holding"]
    a = model.encode_text(texts)
    assert a.shape == (2, 32)
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(2))
    assert set(model.encoders._text_cache) == set(texts)
    b = model.encode_text(texts[::-1])
    torch.testing.assert_close(a, b.flip(0))
    labels = LabelSet.verbs(["ride", "kick"])
    y = model.encode_label_set(labels)
    out = model([make_dets([0, 1, 2])], image_features=feats(1))
    sim = model.similarity(out, y)  # Eq. 17
    assert sim.shape == (2, 2) and sim.abs().max() <= 1.0 + 1e-5


def test_attention_maps(model: CLHOI) -> None:
    dets = [make_dets([0, 1, 2]), make_dets([0, 4], seed=2)]
    out = model(dets, image_features=feats(2), return_attention=True)
    att = out.attentions
    assert att["visual"].shape == (3, 16) and att["context"].shape == (3, 4) and att["vlt"].shape == (2, 4, 16)
    for a in att.values():
        torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:-1]), atol=1e-5, rtol=1e-5)
    plain = model(dets, image_features=feats(2))
    torch.testing.assert_close(plain.interaction, out.interaction)


def test_gradients_reach_trainable_and_only_trainable(cfg: ModelConfig) -> None:
    torch.manual_seed(0)
    model = build_student(dataclasses.replace(cfg, box_embedding="auto")).train()
    dets = [make_dets([0, 1, 2]), make_dets([0, 0, 3], seed=1, emb=False)]  # one image pools its embeddings
    out = model(dets, image_features=feats(2))
    loss = out.interaction.pow(2).mean() + out.context.pow(2).mean() + out.logit_scale
    loss.backward()
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith(("encoders.", "vlt.qformer.")) for n in names)  # frozen by default
    assert {"vlt.context_queries", "embed_proj.weight", "pooled_proj.weight", "out_proj.weight"} <= names
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reached {n}"
        else:
            assert p.grad is None, f"frozen {n} got a gradient"


def test_unfrozen_qformer_trains(cfg: ModelConfig) -> None:
    model = build_student(dataclasses.replace(cfg, freeze_qformer=False)).train()
    assert model.vlt.qformer.training
    out = model([make_dets([0, 1])], image_features=feats(1))
    (out.interaction.sum() + out.context.sum()).backward()
    grads = [p.grad for n, p in model.named_parameters() if n.startswith("vlt.qformer.encoder")]
    assert grads and all(g is not None for g in grads)
    frozen = build_student(cfg).train()
    assert not frozen.vlt.qformer.training and not frozen.encoders.clip.training


ABLATIONS = {
    "no-context": dict(use_context=False),
    "no-visual": dict(use_visual=False),
    "no-spatial": dict(use_spatial=False),
    "no-vlt": dict(use_vlt=False, use_context=False),
    "baseline": dict(use_vlt=False, use_context=False, use_visual=False, use_spatial=False),
}


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_each_ablation_switch_changes_the_computation(cfg: ModelConfig, name: str) -> None:
    dets = [make_dets([0, 1, 2])]
    f = feats(1)
    torch.manual_seed(0)
    full = build_student(cfg).eval()
    torch.manual_seed(0)
    ablated = build_student(dataclasses.replace(cfg, **ABLATIONS[name])).eval()
    ref = full(dets, image_features=f).interaction
    # copy every shared weight so that only the switched-off link differs
    ablated.load_state_dict({k: v for k, v in full.state_dict().items() if k in ablated.state_dict()
                             and v.shape == ablated.state_dict()[k].shape}, strict=False)
    out = ablated(dets, image_features=f)
    assert out.interaction.shape == ref.shape
    assert not torch.allclose(out.interaction, ref, atol=1e-4)
    assert (out.context is None) == (not ablated.config.use_vlt)
    n_full = sum(p.numel() for p in full.parameters())
    assert sum(p.numel() for p in ablated.parameters()) < n_full


def test_visual_link_reads_the_image_and_context_link_reads_f_c(cfg: ModelConfig) -> None:
    torch.manual_seed(0)
    dets = [make_dets([0, 1, 2])]
    spatial_only = build_student(dataclasses.replace(cfg, use_vlt=False, use_context=False, use_visual=False,
                                                     baseline="mlp")).eval()
    a = spatial_only(dets, image_features=feats(1, seed=1)).interaction
    b = spatial_only(dets, image_features=feats(1, seed=2)).interaction
    torch.testing.assert_close(a, b)  # no visual link, MLP baseline: the image does not matter
    upt = build_student(dataclasses.replace(cfg, use_vlt=False, use_context=False, use_visual=False)).eval()
    assert not torch.allclose(upt(dets, image_features=feats(1, seed=1)).interaction,  # UPT's pooled global token
                              upt(dets, image_features=feats(1, seed=2)).interaction)
    visual = build_student(dataclasses.replace(cfg, use_vlt=False, use_context=False)).eval()
    assert not torch.allclose(visual(dets, image_features=feats(1, seed=1)).interaction,
                              visual(dets, image_features=feats(1, seed=2)).interaction)


def test_deterministic_under_a_seed(cfg: ModelConfig) -> None:
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        m = build_student(cfg).train()  # dropout 0 in the tiny config; the build itself is seeded
        outs.append(m([make_dets([0, 1, 2])], image_features=feats(1)).interaction)
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_save_and_load_round_trip(model: CLHOI, tmp_path) -> None:
    model.save_pretrained(tmp_path / "ck")
    assert {p.name for p in (tmp_path / "ck").iterdir()} >= {"config.json", "model.safetensors"}
    loaded = CLHOI.from_pretrained(tmp_path / "ck").eval()
    assert loaded.config == model.config
    dets = [make_dets([0, 1, 2]), make_dets([0, 5], seed=4, emb=False)]
    a, b = model(dets, image_features=feats(2)), loaded(dets, image_features=feats(2))
    torch.testing.assert_close(a.interaction, b.interaction, rtol=0, atol=0)
    torch.testing.assert_close(model.encode_text(["a person"]), loaded.encode_text(["a person"]))


def test_from_pretrained_reads_an_experiment_config(model: CLHOI, tmp_path) -> None:
    model.save_pretrained(tmp_path)
    save_config(ExperimentConfig(model=model.config), tmp_path / "config.yaml")  # what the engine writes
    assert "model" in yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert CLHOI.from_pretrained(tmp_path).config == model.config
    (tmp_path / "config.yaml").write_text("model:\n  bogus: 1\n")
    with pytest.raises(ConfigError, match="bogus"):
        read_model_config(tmp_path / "config.yaml")


def test_output_is_the_contract(model: CLHOI) -> None:
    out = model([make_dets([0, 1])], image_features=feats(1))
    assert isinstance(out, StudentOutput)
    assert out.pair_image.dtype == out.human_idx.dtype == out.object_idx.dtype == torch.long
    assert out.pair_scores.dtype == torch.float32 and out.object_labels.dtype == torch.long


def test_a_few_steps_fit_a_target(cfg: ModelConfig) -> None:
    """Trainable parts can move each pair's feature towards a text embedding of its object's class."""
    torch.manual_seed(0)
    model = build_student(cfg).train()
    dets = [make_dets([0, 1, 2, 3]), make_dets([0, 2, 1], seed=5)]
    f = feats(2)
    targets = model.encode_text([model.prompt(v) for v in ("ride", "kick", "hold", "eat")])  # [4, D]
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2)

    def loss_fn() -> torch.Tensor:
        out = model(dets, image_features=f)
        cos = torch.nn.functional.cosine_similarity(out.interaction, targets[out.object_labels], dim=-1)
        return (1 - cos).mean()

    first = loss_fn().item()
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    assert loss_fn().item() < 0.25 * first
