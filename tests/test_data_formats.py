"""`--data` and the loaders read JSON Lines, JSON, CSV, Parquet and saved `datasets` directories alike, in
TRL's conversational, prompt-completion and preference formats, with one-line errors naming file, row, field."""
import csv
import json
import sys

import pytest

from sftkit.cli import main
from sftkit.data import load_conversations, load_preferences, load_world
from sftkit.io import SftkitError, read_records, write_jsonl

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
datasets = pytest.importorskip("datasets")


def one_per_skill():
    seen = {}
    for record in load_world("train"):
        seen.setdefault(record["skill"], record)
    return list(seen.values())


RECORDS = one_per_skill()  # nested fields of several shapes: messages, meta with lists, ints, lists of lists


def write_csv(path, records, delimiter=","):
    columns = list(dict.fromkeys(k for r in records for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, columns, delimiter=delimiter)
        w.writeheader()
        for r in records:
            w.writerow({k: v if isinstance(v, str) else json.dumps(v) for k, v in r.items()})


def write_dataset_dict(path, records):
    datasets.DatasetDict({"train": datasets.Dataset.from_list(records),
                          "test": datasets.Dataset.from_list(records[:1])}).save_to_disk(str(path))


WRITERS = {  # name -> (file name, writer)
    "jsonl": ("d.jsonl", write_jsonl),
    "json": ("d.json", lambda p, rs: p.write_text(json.dumps(rs, indent=1))),
    "json-data": ("d.json", lambda p, rs: p.write_text(json.dumps({"data": rs}))),
    "json-lines": ("d.json", write_jsonl),  # datasets' to_json writes JSON Lines under .json
    "csv": ("d.csv", write_csv),
    "tsv": ("d.tsv", lambda p, rs: write_csv(p, rs, "\t")),
    "parquet": ("d.parquet", lambda p, rs: pq.write_table(pa.Table.from_pylist(rs), p)),
    "dataset": ("ds", lambda p, rs: datasets.Dataset.from_list(rs).save_to_disk(str(p))),
    "dataset-dict": ("dsd", write_dataset_dict),  # the train split by default
}


def written(tmp_path, fmt, records):
    name, write = WRITERS[fmt]
    path = tmp_path / name
    write(path, records)
    return path


@pytest.mark.parametrize("fmt", WRITERS)
def test_each_format_round_trips_the_same_records(tmp_path, fmt):
    assert load_conversations(written(tmp_path, fmt, RECORDS), require_gold=True) == RECORDS


def test_a_dataset_dict_split_is_named_after_a_colon(tmp_path):
    path = written(tmp_path, "dataset-dict", RECORDS)
    assert load_conversations(f"{path}:test") == RECORDS[:1]
    with pytest.raises(SftkitError, match=r"dsd: no split 'dev' \(splits: train, test\); name one as .*dsd:SPLIT"):
        load_conversations(f"{path}:dev")
    with pytest.raises(SftkitError, match="a single saved dataset has no splits"):
        load_conversations(f"{written(tmp_path, 'dataset', RECORDS)}:train")


PROMPT_COMPLETION = [
    {"prompt": "Reverse the word abc.", "completion": "cba", "skill": "reverse", "answer": "cba"},
    {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Upper-case ok."}],
     "completion": [{"role": "assistant", "content": "OK"}], "skill": "uppercase", "answer": "OK"},
]
AS_CONVERSATIONS = [
    {"messages": [{"role": "user", "content": "Reverse the word abc."}, {"role": "assistant", "content": "cba"}],
     "skill": "reverse", "answer": "cba"},
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Upper-case ok."},
                  {"role": "assistant", "content": "OK"}], "skill": "uppercase", "answer": "OK"},
]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_prompt_completion_becomes_a_conversation(tmp_path, fmt):
    assert load_conversations(written(tmp_path, fmt, PROMPT_COMPLETION), require_gold=True) == AS_CONVERSATIONS


@pytest.mark.parametrize("fmt", ["parquet", "dataset"])
def test_prompt_completion_in_columnar_formats(tmp_path, fmt):  # one column type per file: plain strings here
    records = PROMPT_COMPLETION[:1] * 2
    assert load_conversations(written(tmp_path, fmt, records)) == AS_CONVERSATIONS[:1] * 2


PLAIN_PAIRS = [{"prompt": "Reverse the word abc.", "chosen": "cba", "rejected": "abc"},
               {"prompt": "Reverse the word xy.", "chosen": "yx", "rejected": "xy"}]
TURN_PAIRS = [{"prompt": [{"role": "user", "content": p["prompt"]}], "chosen": [{"role": "assistant", "content": p["chosen"]}],
               "rejected": [{"role": "assistant", "content": p["rejected"]}]} for p in PLAIN_PAIRS]


@pytest.mark.parametrize("fmt", WRITERS)
@pytest.mark.parametrize("pairs", [PLAIN_PAIRS, TURN_PAIRS], ids=["plain", "turns"])
def test_preferences_in_each_format(tmp_path, fmt, pairs):
    assert load_preferences(written(tmp_path, fmt, pairs)) == pairs


def bad_second_row(record):
    return [RECORDS[0], {**RECORDS[0], **record}]


ROBOT = {"messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]}
WHERE = {"jsonl": "d.jsonl:2", "json": "d.json row 2", "json-data": "d.json row 2", "json-lines": "d.json:2",
         "csv": "d.csv row 2", "tsv": "d.tsv row 2", "parquet": "d.parquet row 2", "dataset": "ds row 2",
         "dataset-dict": "dsd:train row 2"}


@pytest.mark.parametrize("fmt", WRITERS)
def test_a_bad_row_names_file_row_and_field_in_one_line(tmp_path, fmt):
    with pytest.raises(SftkitError) as e:
        load_conversations(written(tmp_path, fmt, bad_second_row(ROBOT)))
    assert f"{WHERE[fmt]}: messages[0] must be" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("records,path,expected", [
    ([PROMPT_COMPLETION[0], {"prompt": "hi"}], "d.csv", "d.csv row 2: field 'completion' is missing"),
    ([PLAIN_PAIRS[0], {"chosen": "a", "rejected": "b"}], "d.jsonl", "d.jsonl:2: field 'prompt' is missing"),
    ([{**AS_CONVERSATIONS[0], "messages": "[{not json"}], "d.csv", "d.csv row 1: field 'messages' must be a non-empty list"),
    ([{"prompt": [{"role": "assistant", "content": "a"}], "completion": "b"}], "d.json", "d.json row 1: field 'prompt' must end"),
])
def test_conversion_errors_name_the_field(tmp_path, records, path, expected):
    fmt = {"d.csv": "csv", "d.jsonl": "jsonl", "d.json": "json"}[path]
    loader = load_preferences if "chosen" in records[0] else load_conversations
    with pytest.raises(SftkitError, match=expected.replace("[", r"\[")):
        loader(written(tmp_path, fmt, records))


def test_preference_errors_in_a_columnar_format(tmp_path):
    pairs = [PLAIN_PAIRS[0], {**PLAIN_PAIRS[1], "rejected": PLAIN_PAIRS[1]["chosen"]}]
    with pytest.raises(SftkitError, match="d.parquet row 2: fields 'chosen' and 'rejected' are identical"):
        load_preferences(written(tmp_path, "parquet", pairs))


@pytest.mark.parametrize("name,content,expected", [
    ("d.txt", "{}", "d.txt: unknown data format '.txt'; expected .jsonl"),
    ("d.json", '{"messages": 1}', "d.json: expected a JSON list of records"),
    ("d.json", '[{"a": 1}, 2]', "d.json row 2: expected a JSON object, got int"),
    ("d.json", '[{"a": 1},\n {"a": ', "d.json:2: malformed JSON"),
    ("d.parquet", "not parquet", "d.parquet: not a readable Parquet file"),
    ("d.csv", "a,b\n1,2,3\n", "d.csv row 1: more cells than the header has columns"),
    ("d.csv", "a,b\n", "d.csv: no records"),
    ("d.jsonl", b"\xff\xfe\n", "d.jsonl: not UTF-8 text"),
    ("dir", None, "dir: a directory, but not a dataset saved with datasets' save_to_disk"),
    ("nope.parquet", None, "nope.parquet: file not found"),
])
def test_unreadable_input_is_one_line(tmp_path, name, content, expected):
    path = tmp_path / name
    if name == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(SftkitError) as e:
        read_records(path)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_a_missing_library_says_what_to_install(tmp_path, monkeypatch):
    path = written(tmp_path, "parquet", RECORDS)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(SftkitError, match=r"d.parquet: reading this format needs the pyarrow package \(pip install pyarrow\)"):
        read_records(path)


def test_cli_trains_on_parquet_and_reports_a_bad_row_in_one_line(tmp_path, capsys, random_models):
    data = written(tmp_path, "parquet", AS_CONVERSATIONS[:1] * 8)
    out = tmp_path / "model"
    assert main(["train", "sft", "--model", random_models["llama"], "--data", str(data), "--output", str(out),
                 "--steps", "2", "--batch-size", "4"]) == 0
    assert (out / "config.json").exists()
    bad = written(tmp_path, "dataset", bad_second_row(ROBOT))
    assert main(["train", "sft", "--model", random_models["llama"], "--data", str(bad), "--output", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sftkit: error: ") and len(err.splitlines()) == 1 and "ds row 2: messages[0]" in err
