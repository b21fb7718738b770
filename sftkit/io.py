"""Files: where data lives, atomic writes, and JSONL reading with errors that name the file and line."""
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
RESULTS_DIR = Path(os.environ.get("SFTKIT_RESULTS", REPO_DIR / "results"))


class SftkitError(Exception):
    """A user-facing error: the message names the file, line or field at fault."""


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield a temporary directory next to `path`; on success it replaces `path` in one rename."""
    path = Path(path)
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


def write_jsonl(path: str | os.PathLike, records) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_jsonl(path: str | os.PathLike, validate=None) -> list[dict]:
    """Read a JSONL file; `validate(record)` may raise ValueError, reported as 'file:line: message'."""
    path = Path(path)
    if not path.exists():
        raise SftkitError(f"{path}: file not found")
    records = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise SftkitError(f"{path}:{lineno}: malformed JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(record, dict):
                raise SftkitError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
            if validate is not None:
                try:
                    validate(record)
                except (ValueError, KeyError, TypeError) as e:
                    msg = e.args[0] if e.args else str(e)
                    raise SftkitError(f"{path}:{lineno}: {msg}") from None
            records.append(record)
    if not records:
        raise SftkitError(f"{path}: no records")
    return records


def replace_marked_block(path: str | os.PathLike, name: str, text: str) -> None:
    """Replace what lies between `<!-- name:start -->` and `<!-- name:end -->` in the file at `path`
    (a generated table in the README, say), atomically; a missing marker is an error naming the file."""
    import re

    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    content = Path(path).read_text()
    if start not in content or end not in content:
        raise SftkitError(f"{path}: markers {start} / {end} not found")
    content = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{text}\n{end}", content,
                     flags=re.S)
    atomic_write_text(path, content)
