"""``model.visual_feature_layer``: the visual link reads its own CLIP layer, the rest reads ``f_img``."""

import dataclasses

import pytest
import torch
from PIL import Image

from clhoi.models.config import ModelConfig
from clhoi.models.student import CLHOI, build_student
from clhoi.models.testing import tiny_student_config
from clhoi.structures import Detections

C = 32  # tiny CLIP vision width


def _dets() -> list[Detections]:
    boxes = torch.tensor([[2.0, 2.0, 20.0, 40.0], [15.0, 10.0, 40.0, 30.0]])
    return [Detections(boxes, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]), torch.randn(2, 16,
            generator=torch.Generator().manual_seed(0)), (48, 64))]


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> ModelConfig:
    return tiny_student_config(tmp_path_factory.mktemp("tiny"), visual_feature_layer=0)


@pytest.mark.parametrize("use_vlt", [False, True])
def test_encode_images_appends_the_visual_layer_and_f_v_reads_only_it(cfg: ModelConfig, use_vlt: bool) -> None:
    torch.manual_seed(0)
    model: CLHOI = build_student(dataclasses.replace(cfg, use_vlt=use_vlt, use_context=use_vlt)).eval()
    pixels = model.preprocess([Image.new("RGB", (64, 48), (200, 30, 30))])
    feats = model.encode_images(pixels)
    assert feats.shape == (1, 16, 2 * C)
    hidden = model.encoders.clip.vision_model(pixel_values=pixels, output_hidden_states=True).hidden_states
    torch.testing.assert_close(feats[..., :C], hidden[-1][:, 1:])  # f_img: clip_feature_layer
    torch.testing.assert_close(feats[..., C:], hidden[0][:, 1:])  # the visual link's layer
    base = model(_dets(), image_features=feats)
    torch.testing.assert_close(base.visual, model.visual_adapter(feats[..., C:]))
    other = feats.clone()
    other[..., C:] += torch.randn(other[..., C:].shape, generator=torch.Generator().manual_seed(3))
    changed = model(_dets(), image_features=other)
    assert not torch.allclose(changed.visual, base.visual)
    assert not torch.allclose(changed.interaction, base.interaction)  # f_v reaches I through Eq. 3
    if use_vlt:  # f_c reads f_img only
        torch.testing.assert_close(changed.context, base.context)


def test_single_layer_features_are_refused_with_the_fix(cfg: ModelConfig) -> None:
    model = build_student(cfg).eval()
    with pytest.raises(ValueError, match="rebuild the feature cache"):
        model(_dets(), image_features=torch.randn(1, 16, C))


def test_cache_key_names_the_visual_layer_only_when_set(cfg: ModelConfig, tmp_path) -> None:
    from clhoi.config import ExperimentConfig
    from clhoi.engine.sources import cache_key, key_differences

    dets = tmp_path / "d.safetensors"
    dets.write_bytes(b"x")
    plain = ExperimentConfig(model=dataclasses.replace(cfg, visual_feature_layer=None))
    plain = dataclasses.replace(plain, data=dataclasses.replace(plain.data, detections_test=str(dets)))
    two = dataclasses.replace(plain, model=cfg)
    assert "visual_feature_layer" not in cache_key(plain, "test", "c")
    assert cache_key(two, "test", "c")["visual_feature_layer"] == 0
    assert key_differences(cache_key(two, "test", "c"), plain, "test", "c") == [
        "visual_feature_layer: cache has 0, config has None"]
    assert key_differences(cache_key(plain, "test", "c"), two, "test", "c") == [
        "visual_feature_layer: cache has None, config has 0"]
    assert key_differences(cache_key(two, "test", "c"), two, "test", "c") == []
