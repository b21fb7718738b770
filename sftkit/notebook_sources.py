"""The notebooks' one source format: a jupytext percent script per notebook, `notebooks/src/NN_name.py`.

Every notebook in `notebooks/` has its cells in `notebooks/src/<same name>.py` (`# %%` starts a code cell,
`# %% [markdown]` a markdown cell, `# %% tags=["parameters"]` a tagged one). The script is what a contributor
edits and reviews; the `.ipynb` beside it carries the same cells plus the outputs of the last full run.

    python -m sftkit.notebook_sources build [NAME ...]   # `make notebooks`: rewrite each .ipynb's cells from
                                                         # its script, keeping the outputs of unchanged cells
    python -m sftkit.notebook_sources export [NAME ...]  # `make notebook-sources`: rewrite each script from
                                                         # its .ipynb (after editing a notebook in Jupyter)
    python -m sftkit.notebook_sources check              # one line per notebook whose script and .ipynb differ
    python -m sftkit.notebook_sources clean [NAME ...]   # clean each .ipynb's saved outputs as `sftkit tutorial`
                                                         # saves them (sftkit.notebook_outputs): explorers as one
                                                         # line of text, no widget state or timestamps

`build` is `jupytext --update`: cells whose text is unchanged keep their outputs, ids and execution metadata;
an edited code cell keeps its old outputs until the notebook is run again (`sftkit tutorial`), a new cell has
none. Every notebook gets the one kernelspec (`kernelspec()`, what `ipykernel install` writes), the one
`tests/test_notebooks.py` checks. The pairing is also declared in `jupytext.toml` at the repository root, so
JupyterLab with jupytext installed saves both files, and `jupytext --sync notebooks/src/NN_name.py` works.
The scripts carry no YAML header (`notebook_metadata_filter = "-all"`): notebook metadata (kernelspec,
language_info, widget state) lives in the .ipynb only. `tests/test_notebook_sources.py` checks that every
script and its .ipynb agree cell for cell.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from sftkit.io import REPO_DIR

NOTEBOOKS_DIR = REPO_DIR / "notebooks"
SOURCES_DIR = NOTEBOOKS_DIR / "src"
# The same format jupytext.toml pairs the notebooks with: percent cells, no YAML header in the script.
FORMAT = {"extension": ".py", "format_name": "percent", "notebook_metadata_filter": "-all"}


def kernelspec() -> dict:
    """The kernelspec `python -m ipykernel install` writes (what JupyterLab keeps on opening, unmodified)."""
    from ipykernel.kernelspec import KERNEL_NAME, get_kernel_dict

    spec = get_kernel_dict()
    return {"display_name": spec["display_name"], "language": spec["language"], "name": KERNEL_NAME}


def notebooks(directory: Path = NOTEBOOKS_DIR) -> list[Path]:
    return sorted(directory.glob("[0-9]*.ipynb"))


def source_of(notebook: Path, sources: Path | None = None) -> Path:
    """notebooks/NN_name.ipynb -> notebooks/src/NN_name.py (or the same name under `sources`)."""
    return (sources or notebook.parent / "src") / (notebook.stem + ".py")


def read_source(path: Path):
    import jupytext

    return jupytext.read(path, fmt=dict(FORMAT))


def script_text(notebook) -> str:
    """The percent script of a notebook (a NotebookNode), exactly as `export` writes it."""
    import jupytext

    nb = copy.deepcopy(notebook)
    nb.metadata = {}  # no header: the notebook's metadata stays in the .ipynb
    return jupytext.writes(nb, fmt=dict(FORMAT))


def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def differences(notebook: Path, source: Path | None = None) -> list[str]:
    """One line per disagreement between a notebook and its script: each cell that differs in type, tags or source
    (naming the notebook, the cell's index and first line, and the first line that differs), then the cell counts
    if they differ; empty when they agree."""
    import nbformat

    source = source or source_of(notebook)
    if not source.exists():
        return [f"{notebook.name}: no source script {source.name} (make notebook-sources writes it)"]
    nb = nbformat.read(notebook, as_version=4)
    src = read_source(source)
    lines = []
    for i, (a, b) in enumerate(zip(nb.cells, src.cells)):
        where = f"{notebook.name} cell {i} ({a.cell_type}, {a.source.strip().splitlines()[0][:50]!r}...)" \
            if a.source.strip() else f"{notebook.name} cell {i} ({a.cell_type}, empty)"
        if a.cell_type != b.cell_type:
            lines.append(f"{where}: {a.cell_type} in the .ipynb, {b.cell_type} in {source.name}")
        elif _tags(a) != _tags(b):
            lines.append(f"{where}: tags {_tags(a)} in the .ipynb, {_tags(b)} in {source.name}")
        elif a.source != b.source:
            ours, theirs = a.source.splitlines() + ["<end of cell>"], b.source.splitlines() + ["<end of cell>"]
            if ours == theirs:
                lines.append(f"{where}: source differs from {source.name} in whitespace at the end of the cell")
                continue
            n = next(k for k, (x, y) in enumerate(zip(ours, theirs)) if x != y)
            c = next((k for k, (x, y) in enumerate(zip(ours[n], theirs[n])) if x != y), min(len(ours[n]), len(theirs[n])))
            start = max(0, c - 20)  # show where the line differs, not only its beginning
            ours_n, theirs_n = (("..." if start else "") + line[start:start + 60] for line in (ours[n], theirs[n]))
            lines.append(f"{where}: source differs from {source.name} at line {n + 1} of the cell: "
                         f"{ours_n!r} in the .ipynb, {theirs_n!r} in the script")
    if len(nb.cells) != len(src.cells):  # cells after the first difference no longer line up: name only that one
        lines = lines[:1] + [f"{notebook.name}: {len(nb.cells)} cells, its script {source.name} has {len(src.cells)}"]
    return lines


def build(source: Path, notebook: Path) -> bool:
    """Rewrite `notebook`'s cells from `source`, keeping outputs (jupytext --update). True when the file changed."""
    import nbformat
    from jupytext.combine import combine_inputs_with_outputs

    new = read_source(source)
    new.metadata = {}
    if notebook.exists():
        old_text = notebook.read_text()
        old = nbformat.reads(old_text, as_version=4)
        nb = combine_inputs_with_outputs(new, old, fmt=dict(FORMAT))
    else:
        old_text = None
        nb = new
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = kernelspec()
    for cell in nb.cells:  # jupytext's layout hints have no place in the .ipynb
        for key in ("lines_to_next_cell", "lines_to_end_of_cell_marker"):
            cell.metadata.pop(key, None)
    text = nbformat.writes(nb) + "\n"
    if text == old_text:
        return False
    notebook.write_text(text)
    return True


def clean(notebook: Path) -> bool:
    """Clean `notebook`'s saved outputs in place with `sftkit.notebook_outputs.clean`, the step `sftkit tutorial`
    applies to every notebook it runs (so a cleaned notebook is what a re-run would save, numbers aside). Only
    outputs and metadata change, never a cell's source. True when the file changed."""
    import nbformat

    from sftkit.notebook_outputs import clean as clean_outputs

    old_text = notebook.read_text()
    text = nbformat.writes(clean_outputs(nbformat.reads(old_text, as_version=4))) + "\n"
    if text == old_text:
        return False
    notebook.write_text(text)
    return True


def export(notebook: Path, source: Path) -> bool:
    """Rewrite `source` from `notebook`'s cells. True when the file changed."""
    import nbformat

    text = script_text(nbformat.read(notebook, as_version=4))
    if source.exists() and source.read_text() == text:
        return False
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(text)
    return True


def _stems(names: list[str]) -> list[str]:
    """Notebook names (stems) from the command line; default: every notebook or script in notebooks/."""
    every = sorted({p.stem for p in notebooks()} | {p.stem for p in SOURCES_DIR.glob("[0-9]*.py")})
    if not names:
        return every
    chosen = [s for s in every if any(s == Path(n).stem or s.startswith(n) for n in names)]
    unknown = [n for n in names if not any(s == Path(n).stem or s.startswith(n) for s in every)]
    if unknown:
        raise SystemExit(f"no notebook or script named {', '.join(unknown)} in {NOTEBOOKS_DIR}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sftkit.notebook_sources", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("build", "export", "check", "clean"),
                        help="build: .ipynb from script, outputs kept; export: script from .ipynb; check: do they agree; "
                             "clean: the .ipynb's outputs as `sftkit tutorial` saves them")
    parser.add_argument("names", nargs="*", help="notebooks (00, 10_skillmix, notebooks/src/10_skillmix.py, ...); default all")
    args = parser.parse_args(argv)
    failed = False
    for stem in _stems(args.names):
        notebook, source = NOTEBOOKS_DIR / f"{stem}.ipynb", SOURCES_DIR / f"{stem}.py"
        if args.action == "check":
            lines = differences(notebook, source) if notebook.exists() else \
                [f"{source.name}: no notebook {notebook.name} (make notebooks writes it)"]
            for line in lines:
                print(line)
            failed |= bool(lines)
            continue
        if args.action == "clean":
            if not notebook.exists():
                print(f"{notebook.relative_to(REPO_DIR)}: no such notebook", file=sys.stderr)
                failed = True
                continue
            print(f"{notebook.relative_to(REPO_DIR)}: {'cleaned' if clean(notebook) else 'unchanged'}")
            continue
        have, target = (source, notebook) if args.action == "build" else (notebook, source)
        if not have.exists():
            print(f"{target.relative_to(REPO_DIR)}: no {have.relative_to(REPO_DIR)} to {args.action} it from", file=sys.stderr)
            failed = True
            continue
        changed = build(source, notebook) if args.action == "build" else export(notebook, source)
        print(f"{target.relative_to(REPO_DIR)}: {'written' if changed else 'unchanged'}")
    if args.action == "check" and not failed:
        print(f"every notebook agrees with its script in {SOURCES_DIR.relative_to(REPO_DIR)}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
