"""Negative verbs (appendix A.2): drawn per image, reproducibly, never a positive."""

from clhoi.teacher.parse import draw_negatives, image_seed


def test_each_image_has_its_own_reproducible_seed():
    a, b = image_seed(0, "a.jpg"), image_seed(0, "b.jpg")
    assert a != b and image_seed(1, "a.jpg") != a and image_seed(0, "a.jpg") == a
    pool = [f"verb{i}" for i in range(50)]
    draws = {name: draw_negatives(["ride"], image_seed(0, name), k=2, dictionary=pool) for name in ("a", "b", "c")}
    assert len({tuple(d) for d in draws.values()}) > 1  # not the same negatives for every image
    assert draws["a"] == draw_negatives(["ride"], image_seed(0, "a"), k=2, dictionary=pool)
    assert all(len(d) == 2 for d in draws.values())


def test_a_positive_and_its_head_word_are_never_negatives():
    for seed in range(20):
        neg = draw_negatives(["play with", "ride"], seed, k=3, dictionary=["play", "play with", "ride", "eat", "cut"])
        assert sorted(neg) == ["cut", "eat"]
