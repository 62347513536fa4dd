"""The label store: append-only, resumable, torn-line repair, strict reading, merge."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clhoi.structures import InteractionPair, LabelRecord
from clhoi.teacher.store import LabelStore, LabelStoreError, merge_labels, read_labels


def rec(image: str, status: str = "ok", verb: str = "ride") -> LabelRecord:
    pairs = [InteractionPair(verb, "horse", "horse")] if status == "ok" else []
    return LabelRecord(image=image, caption=f"a person {verb}s", pairs=pairs, status=status,
                       reason="boom" if status == "error" else None)


def test_append_reopen_and_read(tmp_path):
    path = tmp_path / "sub" / "labels.jsonl"
    with LabelStore(path) as store:
        store.append(rec("a.jpg"))
        store.append(rec("b.jpg", "no_action"))
        assert "a.jpg" in store and "c.jpg" not in store
    with LabelStore(path) as store:
        assert len(store) == 2 and store.status == {"a.jpg": "ok", "b.jpg": "no_action"}
        store.append(rec("c.jpg", "error"))
    records = read_labels(path)
    assert [r.image for r in records] == ["a.jpg", "b.jpg", "c.jpg"]
    assert records[0].pairs == [InteractionPair("ride", "horse", "horse")]
    assert [r.image for r in read_labels(path, only_ok=True)] == ["a.jpg"]
    assert json.loads(path.read_text().splitlines()[0]) == rec("a.jpg").to_dict()


def test_torn_last_line_is_cut_and_its_image_redone(tmp_path):
    path = tmp_path / "labels.jsonl"
    with LabelStore(path) as store:
        store.append(rec("a.jpg"))
    whole = rec("b.jpg").to_json()
    with open(path, "a") as f:
        f.write(whole[: len(whole) // 2])  # killed mid-write
    with pytest.raises(LabelStoreError, match=r"labels.jsonl:2: incomplete last line"):
        read_labels(path)
    with LabelStore(path) as store:
        assert store.repaired and "b.jpg" not in store
        store.append(rec("b.jpg"))
    assert [r.image for r in read_labels(path)] == ["a.jpg", "b.jpg"]


def test_complete_but_unterminated_last_line_is_kept(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text(rec("a.jpg").to_json())  # written by hand, no final newline
    assert [r.image for r in read_labels(path)] == ["a.jpg"]
    with LabelStore(path) as store:
        assert "a.jpg" in store and not store.repaired
        store.append(rec("b.jpg"))
    assert [r.image for r in read_labels(path)] == ["a.jpg", "b.jpg"]


def test_corrupt_line_names_file_and_line(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text(rec("a.jpg").to_json() + "\n{not json\n" + rec("b.jpg").to_json() + "\n")
    with pytest.raises(LabelStoreError, match=r"labels.jsonl:2: not valid JSON"):
        read_labels(path)
    with pytest.raises(LabelStoreError, match=r"labels.jsonl:2"):
        LabelStore(path)
    path.write_text('{"image": "a.jpg", "colour": 1}\n')
    with pytest.raises(LabelStoreError, match=r"labels.jsonl:1: not a label record.*colour"):
        read_labels(path)
    path.write_text('{"image": "a.jpg", "status": "maybe"}\n')
    with pytest.raises(LabelStoreError, match=r":1: .*status"):
        read_labels(path)
    with pytest.raises(FileNotFoundError, match="clhoi label"):
        read_labels(tmp_path / "missing.jsonl")


def test_one_writer_at_a_time(tmp_path):
    path = tmp_path / "labels.jsonl"
    with LabelStore(path):
        with pytest.raises(LabelStoreError, match="another process"):
            LabelStore(path)
    LabelStore(path).close()  # released


def test_retried_records_win_and_compact_keeps_one_per_image(tmp_path):
    path = tmp_path / "labels.jsonl"
    with LabelStore(path) as store:
        store.append(rec("a.jpg", "error"))
        store.append(rec("b.jpg"))
        store.append(rec("a.jpg", "ok", verb="hold"))
        assert store.superseded == 1
        store.compact()
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    records = read_labels(path)
    assert [(r.image, r.status, r.verbs) for r in records] == [("a.jpg", "ok", ["hold"]), ("b.jpg", "ok", ["ride"])]
    assert LabelStore.peek(path) == {"a.jpg": "ok", "b.jpg": "ok"}


def test_merge_shards_prefers_good_records(tmp_path):
    s0, s1, out = tmp_path / "s0.jsonl", tmp_path / "s1.jsonl", tmp_path / "all.jsonl"
    with LabelStore(s0) as store:
        store.append(rec("a.jpg"))
        store.append(rec("b.jpg", "error"))
    with LabelStore(s1) as store:
        store.append(rec("c.jpg", "no_action"))
        store.append(rec("b.jpg", "ok", verb="kick"))
        store.append(rec("a.jpg", "error"))  # an error never replaces a label
    result = merge_labels([s0, s1], out)
    assert (result.records, result.inputs, result.duplicates) == (3, 5, 2)
    merged = {r.image: r for r in read_labels(out)}
    assert merged["a.jpg"].status == "ok" and merged["b.jpg"].verbs == ["kick"] and merged["c.jpg"].status == "no_action"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a.jpg", "b/c.png", "é ü.jpg", "d\u2028e.jpg"]), st.text(max_size=60)),
                min_size=1, max_size=8),
       st.integers(min_value=0, max_value=200))
def test_any_text_round_trips_and_any_torn_tail_is_repaired(tmp_path_factory, rows, cut):
    path = tmp_path_factory.mktemp("store") / "labels.jsonl"
    expected = {}
    with LabelStore(path) as store:
        for image, text in rows:
            record = LabelRecord(image=image, caption=text, raw={"caption": text, "parse": text + "\r\n"})
            if image not in store:
                store.append(record)
                expected[image] = record
    assert {r.image: r for r in read_labels(path)} == expected
    tail = LabelRecord(image="torn.jpg", caption="x" * 50).to_json().encode()
    with open(path, "ab") as f:
        f.write(tail[: cut % len(tail)])
    with LabelStore(path) as store:
        assert set(store.status) == set(expected)
    assert {r.image: r for r in read_labels(path)} == expected
