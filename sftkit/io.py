"""Files: where data and results live, atomic writes, and JSONL reading with errors that name the file and line.

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
