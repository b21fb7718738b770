"""Files: where data and results live, atomic writes, and reading records (JSON Lines, JSON, Parquet, CSV, a saved
`datasets` dataset: `read_records`) with errors that name the file and line or row.

Where results go (`results_dir`): `$SFTKIT_RESULTS` when set; else the repository's `results/` when this user
may write there and owns it; else (a read-only or shared checkout, e.g. one checkout on a class's JupyterHub)
a per-user directory, `$XDG_DATA_HOME/sftkit/results` (by default `~/.local/share/sftkit/results`), with one
printed line saying so. Model outputs the same way (`runs_dir`, `$SFTKIT_RUNS`, `runs/`).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("SFTKIT_DATA", REPO_DIR / "data"))
WORLD_DIR = DATA_DIR / "world"
REPO_RESULTS = REPO_DIR / "results"  # the committed results; `results_dir()` says where a run writes
REPO_RUNS = REPO_DIR / "runs"  # git-ignored


class SftkitError(Exception):
    """A user-facing error: the message names the file, line or field at fault."""


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield a temporary directory next to `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    if path.exists() and not path.is_dir():  # never replace a file by a directory (it was moved to .NAME.old)
        raise SftkitError(f"{shown(path)} is an existing file, not a directory: choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = path.with_name(f".{path.name}.old")
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text to `path` via a temporary file and `os.replace`: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def shown(path: str | os.PathLike) -> str:
    """`path` for printing: relative to the repository inside it, with `~` for the home directory, so printed
    paths (and notebook outputs) carry no machine-specific prefix."""
    path = Path(path)
    for base, label in ((REPO_DIR, ""), (Path.home(), "~/")):
        try:
            return label + str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


def not_writable(path: str | os.PathLike) -> str | None:
    """Why this user should not write into directory `path` (None: it may): read-only for this user, or (a
    shared checkout) owned by another user. Root is exempt from the ownership rule (containers often run
    as root on files owned by someone else). A missing directory is judged by its nearest existing parent."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    if not os.access(path, os.W_OK | os.X_OK):
        return "is read-only for this user"
    if hasattr(os, "getuid") and os.getuid() != 0 and path.stat().st_uid != os.getuid():
        return "belongs to another user (a shared checkout)"
    return None


def user_data_dir() -> Path:
    """This user's own sftkit directory: `$XDG_DATA_HOME/sftkit`, by default `~/.local/share/sftkit`."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "sftkit"


_announced: set[Path] = set()


def _writable_place(env: str, repo_dir: Path, seed: bool) -> Path:
    """`$env`, else `repo_dir` when this user may write it, else the per-user directory of the same name
    (created, and for results seeded with a copy of the committed files, as a fresh clone has them)."""
    if os.environ.get(env):
        return Path(os.environ[env])
    why = not_writable(repo_dir)
    if why is None:
        return repo_dir
    mine = user_data_dir() / repo_dir.name
    if not mine.is_dir():
        try:
            mine.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SftkitError(f"{repo_dir} {why} and {mine} cannot be created ({e.strerror}); set {env} to a "
                              f"writable directory") from None
        for path in sorted(repo_dir.glob("*.jsonl")) if seed else []:
            shutil.copy(path, mine)
    if mine not in _announced:
        _announced.add(mine)
        print(f"sftkit: {shown(repo_dir)}/ {why}, so {repo_dir.name} go to {shown(mine)} (yours alone; "
              f"set {env} to choose another directory)", flush=True)
    return mine


def results_dir() -> Path:
    """Where results are written and read (see the module docstring); prints one line when it is not the
    repository's `results/`. Raises `SftkitError` when no writable place can be found."""
    return _writable_place("SFTKIT_RESULTS", REPO_RESULTS, seed=True)


def runs_dir() -> Path:
    """Where model outputs and other large files a notebook or exercise writes should go: `$SFTKIT_RUNS`,
    else the repository's git-ignored `runs/`, else `$XDG_DATA_HOME/sftkit/runs` (as `results_dir`)."""
    return _writable_place("SFTKIT_RUNS", REPO_RUNS, seed=False)


def write_jsonl(path: str | os.PathLike, records) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_jsonl(path: str | os.PathLike, validate=None) -> list[dict]:
    """Read a JSONL file; `validate(record)` may raise ValueError, reported as 'file:line: message'."""
    located = _located(Path(path), _jsonl_rows)
    if validate is not None:
        check_records(located, validate)
    return [record for _, record in located]


# ----------------------------------------------------------------------------------------------------
# Data files in the formats practitioners have


DATA_FORMATS = (".jsonl/.ndjson (JSON Lines), .json, .parquet, .csv/.tsv, or a directory written by "
                "datasets' save_to_disk")


def read_records(path: str | os.PathLike) -> list[tuple[str, dict]]:
    """Every record of a data file or saved dataset, paired with where it is, for error messages.

    Formats, chosen by the file's extension:

    - JSON Lines (`.jsonl`, `.ndjson`): one object a line; located as 'file:line'.
    - JSON (`.json`): a list of objects, or {"data": [...]}; a `.json` file holding JSON Lines (what
      `datasets`' `to_json` writes) is read as JSON Lines. Located as 'file row N'.
    - Parquet (`.parquet`, `.pq`, through pyarrow) and a directory written by `datasets`' `save_to_disk` (through
      `datasets`): one record a row, nested columns (lists of {role, content} turns) as they are; a null
      value (Arrow fills a field some rows lack with null) counts as absent. A `DatasetDict` directory gives
      its `train` split; `dir:SPLIT` names another. Located as 'file row N' / 'dir:split row N'.
    - CSV (`.csv`; `.tsv` tab-separated), read with the standard library: the header names the fields and
      each further row is one record. An empty cell is an absent field. A cell holding a JSON object or a
      JSON list of objects is read as that JSON value: that is how a `messages` column (or a conversational
      prompt/completion/chosen/rejected) is written, e.g. `[{"role": "user", "content": "hi"}, ...]`. Any
      other cell is plain text, so plain `prompt`/`completion`/`chosen`/`rejected` string columns need
      nothing special (and "[1, 2]" stays text); numbers read as text too. Located as 'file row N'.

    Rows count from 1 (a CSV header is not a row). Raises `SftkitError` (one line naming the file, and the
    row where there is one) for a missing file, an unknown extension, a directory that is not a saved
    dataset, unreadable content, no records, or a missing library (naming what to install). The records'
    content is checked by the caller, through `check_records`.
    """
    path = Path(path)
    split = None
    if not path.exists() and ":" in path.name:  # dir:split
        base, _, split = str(path).rpartition(":")
        if Path(base).is_dir():
            path = Path(base)
        else:
            split = None
    if path.is_dir():
        return _located(path, lambda p: _saved_dataset_rows(p, split))
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        if not path.exists():
            raise SftkitError(f"{path}: file not found")
        raise SftkitError(f"{path}: unknown data format {path.suffix or '(no extension)'!r}; expected {DATA_FORMATS}")
    return _located(path, reader)


def check_records(located: list[tuple[str, dict]], check) -> list:
    """`check(record)` for each (where, record) pair, returning its results; a ValueError, KeyError or
    TypeError it raises becomes one `SftkitError` line, 'where: message'."""
    out = []
    for where, record in located:
        try:
            out.append(check(record))
        except (ValueError, KeyError, TypeError) as e:
            msg = e.args[0] if e.args else str(e)
            raise SftkitError(f"{where}: {msg}") from None
    return out


def _located(path: Path, rows) -> list[tuple[str, dict]]:
    if not path.exists():
        raise SftkitError(f"{path}: file not found")
    try:
        located = rows(path)
    except UnicodeDecodeError as e:
        raise SftkitError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not located:
        raise SftkitError(f"{path}: no records")
    return located


def _objects(located) -> list[tuple[str, dict]]:
    for where, record in located:
        if not isinstance(record, dict):
            raise SftkitError(f"{where}: expected a JSON object, got {type(record).__name__}")
    return located


def _jsonl_rows(path: Path) -> list[tuple[str, dict]]:
    located = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                located.append((f"{path}:{lineno}", json.loads(line)))
            except json.JSONDecodeError as e:
                raise SftkitError(f"{path}:{lineno}: malformed JSON ({e.msg} at column {e.colno})") from None
    return _objects(located)


def _json_rows(path: Path) -> list[tuple[str, dict]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # JSON Lines in a .json file, as datasets' to_json writes by default
            return _jsonl_rows(path)
        raise SftkitError(f"{path}:{e.lineno}: malformed JSON ({e.msg} at column {e.colno})") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise SftkitError(f"{path}: expected a JSON list of records or {{\"data\": [...]}}, got {type(data).__name__}")
    return _objects([(f"{path} row {i}", record) for i, record in enumerate(data, 1)])


def _csv_cell(text: str):
    if text.lstrip()[:1] in ("[", "{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return text
        if isinstance(value, dict) or (isinstance(value, list) and value and all(isinstance(v, dict) for v in value)):
            return value
    return text


def _csv_rows(path: Path) -> list[tuple[str, dict]]:
    import csv

    located = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        try:
            for i, row in enumerate(reader, 1):
                if None in row:
                    raise SftkitError(f"{path} row {i}: more cells than the header has columns")
                located.append((f"{path} row {i}", {k: _csv_cell(v) for k, v in row.items() if v not in (None, "")}))
        except csv.Error as e:
            raise SftkitError(f"{path}:{reader.line_num}: malformed CSV ({e})") from None
    return located


def _library(module: str, package: str, path: Path):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SftkitError(f"{path}: reading this format needs the {package} package (pip install {package})") from None


def _no_nulls(value):
    """Arrow gives a field that some rows (or turns) lack as null in the others: drop it, as absent."""
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


def _parquet_rows(path: Path) -> list[tuple[str, dict]]:
    pq = _library("pyarrow.parquet", "pyarrow", path)
    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, ValueError) as e:
        raise SftkitError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0]})") from None
    return [(f"{path} row {i}", _no_nulls(row)) for i, row in enumerate(rows, 1)]


def _saved_dataset_rows(path: Path, split: str | None) -> list[tuple[str, dict]]:
    if not ((path / "dataset_dict.json").exists() or (path / "state.json").exists()):
        raise SftkitError(f"{path}: a directory, but not a dataset saved with datasets' save_to_disk (it has no "
                          f"state.json or dataset_dict.json); expected {DATA_FORMATS}")
    datasets = _library("datasets", "datasets", path)
    try:
        dataset = datasets.load_from_disk(str(path))
    except (OSError, ValueError, KeyError) as e:
        raise SftkitError(f"{path}: not a readable saved dataset ({str(e).splitlines()[0]})") from None
    name = str(path)
    if isinstance(dataset, datasets.DatasetDict):
        split = split or "train"
        if split not in dataset:
            raise SftkitError(f"{path}: no split {split!r} (splits: {', '.join(dataset)}); name one as {path}:SPLIT")
        dataset, name = dataset[split], f"{path}:{split}"
    elif split is not None:
        raise SftkitError(f"{path}: a single saved dataset has no splits; give {path} without ':{split}'")
    return [(f"{name} row {i}", _no_nulls(row)) for i, row in enumerate(dataset.to_list(), 1)]


_READERS = {".jsonl": _jsonl_rows, ".ndjson": _jsonl_rows, ".json": _json_rows, ".csv": _csv_rows,
            ".tsv": _csv_rows, ".parquet": _parquet_rows, ".pq": _parquet_rows}


def replace_marked_block(path: str | os.PathLike, name: str, text: str) -> None:
    """Replace what lies between `<!-- name:start -->` and `<!-- name:end -->` in the file at `path`
    (a generated table in the README, say), atomically; a missing marker is an error naming the file."""
    import re

    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    try:
        content = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SftkitError(f"{path}: cannot read it ({e.strerror if isinstance(e, OSError) else e})") from None
    if start not in content or end not in content:
        raise SftkitError(f"{path}: markers {start} / {end} not found")
    content = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{text}\n{end}", content,
                     flags=re.S)
    atomic_write_text(path, content)
