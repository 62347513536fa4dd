"""The labeling run with the stub and captions-file teachers; the label / parse / merge-labels commands."""

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from clhoi import __version__, vocab
from clhoi.cli import app
from clhoi.teacher.backends import build_client
from clhoi.teacher.client import StubClient, TeacherFatalError, VlmClient, stub_caption
from clhoi.teacher.config import TeacherConfig
from clhoi.teacher.run import in_shard, label, list_images
from clhoi.teacher.store import read_labels


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    for i in range(12):
        Image.new("RGB", (24, 16), (i * 20, 0, 0)).save(root / "sub" / f"{i:02d}.jpg")
    (root / "broken.jpg").write_bytes(b"not an image")
    (root / "notes.txt").write_text("not listed")
    return root


CAPTIONS = {
    "sub/00.jpg": "A man is riding a horse and holding a flag.",
    "sub/01.jpg": "An empty street.",
    "sub/02.jpg": "",
}


def stub(**kw) -> StubClient:
    return StubClient(captions=lambda k: CAPTIONS.get(k, stub_caption(k)), **kw)


def run(images, out, cfg=None, **kw):
    cfg = cfg or TeacherConfig(backend="stub", batch_size=5)
    clients = kw.pop("clients", None)
    if clients is None:
        c = stub(fail=kw.pop("fail", ()))
        clients = (c, c)
    return label(cfg, images, out, progress=False, clients=clients, echo=lambda s: None, **kw)


def test_run_writes_one_record_per_image_with_statuses(images, tmp_path):
    out = tmp_path / "labels.jsonl"
    summary = run(images, out, fail=["sub/03.jpg"])
    records = {r.image: r for r in read_labels(out)}
    assert sorted(records) == list_images(images) and len(records) == 13
    assert records["broken.jpg"].status == "error" and "unreadable image" in records["broken.jpg"].reason
    assert records["sub/03.jpg"].status == "error" and "stub teacher failed" in records["sub/03.jpg"].reason
    assert records["sub/01.jpg"].status == "no_action" and records["sub/01.jpg"].negatives == []
    assert records["sub/02.jpg"].status == "no_action" and records["sub/02.jpg"].reason == "empty caption"
    ok = records["sub/00.jpg"]
    assert ok.status == "ok" and [(p.verb, p.object, p.coco) for p in ok.pairs] == [("ride", "horse", "horse"), ("hold", "flag", None)]
    assert ok.raw["caption"] == CAPTIONS["sub/00.jpg"] and ok.raw["parse"] == "*Ride, horse. *Hold, flag."
    assert ok.prompts == {"caption": "What are the persons doing in the image?",
                          "parse": "{caption}\nBriefly list human-object interactions in a triplet of <interaction, object> from the sentence."}
    for r in records.values():
        if r.status == "ok":
            assert len(r.negatives) == 2 and not set(r.negatives) & set(r.verbs)
            assert set(r.negatives) <= set(vocab.negative_verbs())
    prov = ok.provenance
    assert prov["clhoi_version"] == __version__ and "git_commit" in prov and prov["teacher"] == "stub"
    assert prov["prompts"] == ok.prompts and prov["generation"]["max_new_tokens"] == 64
    assert summary.total == 13 and summary.by_status["error"] == 2 and summary.labelled_now == 13
    assert ("ride", 1) in summary.top_verbs or summary.top_verbs[0][1] >= 1


def test_rerun_resumes_and_negatives_do_not_depend_on_order(images, tmp_path):
    out_a, out_b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run(images, out_a, limit=4)
    assert len(read_labels(out_a)) == 4
    summary = run(images, out_a)
    assert summary.labelled_now == 9 and summary.total == 13
    again = run(images, out_a)
    assert again.labelled_now == 0
    run(images, out_b, cfg=TeacherConfig(backend="stub", batch_size=1))
    a = {r.image: r.negatives for r in read_labels(out_a)}
    b = {r.image: r.negatives for r in read_labels(out_b)}
    assert a == b  # per-image seeds: batch size, order and resumption change nothing
    c = tmp_path / "c.jsonl"
    run(images, c, cfg=TeacherConfig(backend="stub", seed=1))
    assert {r.image: r.negatives for r in read_labels(c)} != a


def test_shards_partition_the_images_and_merge(images, tmp_path):
    keys = list_images(images)
    shards = [[k for k in keys if in_shard(k, (i, 3))] for i in range(3)]
    assert sorted(sum(shards, [])) == keys and all(shards)
    for i in range(3):
        run(images, tmp_path / f"s{i}.jsonl", shard=(i, 3))
        assert sorted(r.image for r in read_labels(tmp_path / f"s{i}.jsonl")) == shards[i]
    res = CliRunner().invoke(app, ["merge-labels", *(str(tmp_path / f"s{i}.jsonl") for i in range(3)),
                                   "--out", str(tmp_path / "all.jsonl")])
    assert res.exit_code == 0, res.output
    assert "13 images" in res.output and sorted(r.image for r in read_labels(tmp_path / "all.jsonl")) == keys
    with pytest.raises(ValueError, match="shard"):
        run(images, tmp_path / "x.jsonl", shard=(3, 3))


def test_retry_errors_relabels_and_keeps_one_record(images, tmp_path):
    out = tmp_path / "labels.jsonl"
    run(images, out, fail=["sub/04.jpg"])
    summary = run(images, out, retry_errors=True)
    assert summary.labelled_now == 2  # the failed caption and the broken file
    assert len(out.read_text().splitlines()) == 13
    assert {r.image: r.status for r in read_labels(out)}["sub/04.jpg"] == "ok"


def test_unparseable_answer_falls_back_to_the_rules(images, tmp_path):
    class Babbler(StubClient):
        def parse(self, captions, prompt):
            return ["I am a language model." for _ in captions]

    out = tmp_path / "labels.jsonl"
    c = Babbler(captions=lambda k: "A man is kicking a ball.")
    run(images, out, clients=(c, c), image_list=_list(tmp_path, ["sub/00.jpg"]))
    (r,) = read_labels(out)
    assert r.verbs == ["kick"] and r.provenance["parsed_by"] == "rules" and r.raw["parse"] == "I am a language model."
    run(images, tmp_path / "strict.jsonl", cfg=TeacherConfig(backend="stub", fallback_rules=False), clients=(c, c),
        image_list=_list(tmp_path, ["sub/00.jpg"]))
    assert read_labels(tmp_path / "strict.jsonl")[0].status == "no_action"


def _list(tmp_path, keys):
    p = tmp_path / "list.txt"
    p.write_text("# images\n" + "\n".join(keys) + "\n")
    return p


def test_fatal_teacher_error_stops_and_keeps_records(images, tmp_path):
    class Dies(StubClient):
        calls = 0

        def caption(self, images, prompt):
            Dies.calls += 1
            if Dies.calls == 2:
                raise TeacherFatalError("endpoint gone")
            return super().caption(images, prompt)

    out = tmp_path / "labels.jsonl"
    c = Dies()
    with pytest.raises(TeacherFatalError, match="endpoint gone"):
        run(images, out, clients=(c, c))
    assert len(read_labels(out)) == 5  # the first batch
    assert run(images, out).labelled_now == 8


def test_captions_file_backend(images, tmp_path):
    coco = {"images": [{"id": 1, "file_name": "00.jpg"}, {"id": 2, "file_name": "01.jpg"}],
            "annotations": [{"image_id": 1, "caption": "A man riding a horse"}, {"image_id": 1, "caption": "A rider on a horse."},
                            {"image_id": 2, "caption": "A boy is kicking a ball"}]}
    path = tmp_path / "captions_train2014.json"
    path.write_text(json.dumps(coco))
    cfg = TeacherConfig(backend="captions", captions_file=str(path))
    captioner = build_client(cfg)
    assert isinstance(captioner, VlmClient) and captioner.name == "captions:captions_train2014.json"
    out = tmp_path / "labels.jsonl"
    label(cfg, images, out, progress=False, image_list=_list(tmp_path, ["sub/00.jpg", "sub/01.jpg", "sub/02.jpg"]))
    records = {r.image: r for r in read_labels(out)}
    assert records["sub/00.jpg"].caption == "A man riding a horse. A rider on a horse."
    assert records["sub/00.jpg"].verbs == ["ride"] and records["sub/01.jpg"].pairs[0].coco == "sports ball"
    assert records["sub/02.jpg"].status == "error" and "no caption" in records["sub/02.jpg"].reason
    lines = tmp_path / "caps.jsonl"
    lines.write_text('{"image": "sub/05.jpg", "caption": "A woman holding an umbrella"}\n')
    assert build_client(TeacherConfig(backend="captions", captions_file=str(lines))).captions == {
        "sub/05.jpg": "A woman holding an umbrella."}
    lines.write_text("not json\n")
    with pytest.raises(ValueError, match="caps.jsonl:1"):
        build_client(TeacherConfig(backend="captions", captions_file=str(lines)))


def test_label_command(images, tmp_path):
    out = tmp_path / "labels.jsonl"
    runner = CliRunner()
    res = runner.invoke(app, ["label", "--images", str(images), "--out", str(out), "backend=stub", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "What are the persons doing in the image?" in res.output and "13 images would be labelled" in res.output
    assert not out.exists()
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(f"teacher:\n  backend: stub\ndata:\n  image_root: {images}\n  labels: {out}\n")
    res = runner.invoke(app, ["label", str(cfg), "batch_size=3", "--no-progress", "--limit", "5"])
    assert res.exit_code == 0, res.output
    assert "this run: 5 images" in res.output and len(read_labels(out)) == 5
    res = runner.invoke(app, ["label", "--images", str(images), "--out", str(out), "bakend=stub"])
    assert res.exit_code == 2 and "valid keys" in res.output
    res = runner.invoke(app, ["label", "--images", str(tmp_path / "nope"), "--out", str(out), "backend=stub"])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["label", "--images", str(images), "--out", str(out), "--shard", "2"])
    assert res.exit_code == 2 and "i/n" in res.output


def test_parse_command_reads_json_lines():
    text = "*Swing, Baseball Bat.\n*Catch, Baseball."
    stdin = json.dumps({"text": text}) + "\n\n" + json.dumps({"text": "A quiet street."}) + "\n"
    res = CliRunner().invoke(app, ["parse"], input=stdin)
    assert res.exit_code == 0, res.output
    first, second = (json.loads(line) for line in res.output.splitlines())
    assert first == {"text": text, "status": "ok", "pairs": [
        {"verb": "swing", "object": "baseball bat", "coco": "baseball bat"},
        {"verb": "catch", "object": "baseball", "coco": "sports ball"}]}
    assert second["status"] == "no_action" and second["pairs"] == []
    res = CliRunner().invoke(app, ["parse"], input='{"txt": 1}\n')
    assert res.exit_code == 2 and "line 1" in res.output


def test_prompts_from_files_and_config_validation(images, tmp_path):
    from clhoi.config import ConfigError
    from clhoi.teacher.prompts import load_prompt
    from clhoi.teacher.run import load_teacher_config

    custom = tmp_path / "mine.txt"
    custom.write_text("Caption: {caption}\nList the <verb, object> pairs.\n")
    cfg = TeacherConfig(backend="stub", prompt_caption="caption", prompt_parse=str(custom))
    run(images, tmp_path / "l.jsonl", cfg=cfg, limit=1)
    assert read_labels(tmp_path / "l.jsonl")[0].prompts["parse"] == "Caption: {caption}\nList the <verb, object> pairs."
    custom.write_text("no placeholder")
    with pytest.raises(ValueError, match=r"\{caption\}"):
        run(images, tmp_path / "m.jsonl", cfg=cfg)
    with pytest.raises(FileNotFoundError, match="bundled prompt"):
        load_prompt("nope")
    teacher, exp = load_teacher_config(None, ["backend=openai", "seed=3", "data.labels=x.jsonl"])
    assert (teacher.backend, teacher.seed, exp.seed, exp.data.labels) == ("openai", 3, 42, "x.jsonl")
    with pytest.raises(ConfigError, match="instructblip"):
        load_teacher_config(None, ["backend=gpt"])
    with pytest.raises(ConfigError, match="captions_file"):
        load_teacher_config(None, ["backend=captions"])


def test_pixels_are_decoded_and_downscaled_when_the_teacher_needs_them(images, tmp_path):
    seen = {}

    class Looks(StubClient):
        def caption(self, batch, prompt):
            seen.update({it.key: it.image.size for it in batch})
            return super().caption(batch, prompt)

    c = Looks(needs_pixels=True)
    run(images, tmp_path / "l.jsonl", cfg=TeacherConfig(backend="stub", image_max_side=12), clients=(c, c))
    assert len(seen) == 12 and all(max(size) <= 12 for size in seen.values())
    assert seen["sub/00.jpg"] == (12, 8)  # 24x16, aspect kept


def test_image_list_from_the_config(images, tmp_path):
    cfg = TeacherConfig(backend="stub", image_list=str(_list(tmp_path, ["sub/01.jpg", "sub/07.jpg"])))
    run(images, tmp_path / "l.jsonl", cfg=cfg)
    assert [r.image for r in read_labels(tmp_path / "l.jsonl")] == ["sub/01.jpg", "sub/07.jpg"]
