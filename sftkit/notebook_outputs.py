"""What a saved notebook keeps of a run: `clean(nb)`, the one output-cleaning step for committed notebooks.

`sftkit tutorial` (`sftkit.tutorial.run_notebook`) applies it to every notebook it executes, before saving;
`python -m sftkit.notebook_sources clean [NAME ...]` applies the same step to notebooks already committed. It is
deterministic and idempotent, and it changes no measured number:

- **Explorers become one line of text.** An ipywidgets output (`application/vnd.jupyter.widget-view+json`) needs
  a live kernel: opened from a fresh clone, on a code host, or in JupyterLab without the widget state, it shows
  its raw repr (`interactive(children=(Dropdown(...`) or "Error displaying widget: model not found". Each such
  output becomes a plain-text output saying how to use it and where its static view is, if the notebook has one
  (`explorer_line`); a finished progress bar left behind is dropped. The notebook-level widget state
  (`metadata.widgets`) is removed: with no widget output left, nothing reads it.
- **No timestamps.** nbclient records each cell's execution times in `metadata.execution`; they are removed.
- **Streams stored as JupyterLab stores them.** JupyterLab merges consecutive stream outputs of the same name
  (stdout after stdout) when it loads a notebook, and saves them merged; a file that keeps them apart changes
  on "Trust" + save. They are merged here the same way (`merge_streams`).

A static view is found by the notebooks' two conventions (a new explorer should follow one of them):

- **above**: the explorer's own cell displayed something before the widget (a figure, a table), or the code cell
  just before it displayed something and says so in a comment containing "static" (`# a static first view`);
- **below**: the next cell is a Markdown cell starting `*Reading without running?*` and the code cell after it
  has an output (its first view, e.g. `explore(...)` with the explorer's first values). Before that cell has
  been run, the line promises no static view.
"""
from __future__ import annotations

import re

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
READING_WITHOUT_RUNNING = "*Reading without running?*"  # the Markdown cell that introduces a static view below

EXPLORER = "Explorer: run this cell and the cells above it in a live kernel to use it"
EXPLORER_LINES = {
    "above": EXPLORER + " (a static view of it is above).",
    "below": EXPLORER + " (a static view of it follows).",
    None: EXPLORER + ".",
}
_BAR = re.compile(r"\d+%\|.*\|")  # a tqdm bar's text, as tests/test_notebooks.py recognises it


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def is_widget(output) -> bool:
    return WIDGET_VIEW in output.get("data", {})


def _shows_something(output) -> bool:
    """A display or result that is not a widget (a figure, a table, text)."""
    return output.get("output_type") in ("display_data", "execute_result") and not is_widget(output)


def static_view(cells: list, index: int) -> str | None:
    """Where the explorer in `cells[index]` has a static view: "above", "below" or None (module docstring)."""
    cell = cells[index]
    outputs = cell.get("outputs", [])
    first_widget = next(i for i, o in enumerate(outputs) if is_widget(o))
    if any(_shows_something(o) for o in outputs[:first_widget]):
        return "above"
    before = cells[index - 1] if index else None
    if before is not None and before.get("cell_type") == "code" and "static" in _comments(before.get("source", "")) \
            and any(_shows_something(o) for o in before.get("outputs", [])):
        return "above"
    after = cells[index + 1:index + 3]
    if len(after) == 2 and after[0].get("cell_type") == "markdown" \
            and _text(after[0].get("source")).lstrip().startswith(READING_WITHOUT_RUNNING) \
            and after[1].get("cell_type") == "code" and after[1].get("outputs"):
        return "below"
    return None


def _comments(source) -> str:
    return "\n".join(line.split("#", 1)[1] for line in _text(source).splitlines() if "#" in line)


def explorer_line(cells: list, index: int) -> str:
    return EXPLORER_LINES[static_view(cells, index)]


def _plain(output, line: str) -> dict:
    """`output` (a widget view) as a plain-text output of the same type (an execute_result keeps its count)."""
    out = {"output_type": output["output_type"], "data": {"text/plain": line}, "metadata": {}}
    if output["output_type"] == "execute_result":
        out["execution_count"] = output.get("execution_count")
    return out


def _concatenate(current: str, new: str) -> str:
    """JupyterLab's `concatenateText` (@jupyterlab/outputarea, model.ts): append `new` to `current`, where each
    run of backspaces deletes characters, never past a newline (and drops the rest of the line it is in)."""
    text = new
    while True:
        i = text.find("\b")
        if i == -1:
            return current + text
        n = len(text[i:]) - len(text[i:].lstrip("\b"))  # contiguous backspaces
        newline = text[:i].rfind("\n")
        if newline != -1:
            append, text, n = text[:newline + 1], text[i + n:], 0
        else:
            append = text[:i - n] if n < i else ""
            text = text[i + n:]
            n -= i
        if n > 0:
            last = current.rfind("\n")
            current = current[:last + 1] if last != -1 else current[:max(0, len(current) - n)]
        else:
            current += append


def merge_streams(outputs: list) -> list:
    """Consecutive stream outputs of the same name (stdout, stderr) as one, as JupyterLab loads and saves them."""
    merged = []
    for output in outputs:
        if output.get("output_type") == "stream":
            text = _text(output.get("text"))
            if merged and merged[-1].get("output_type") == "stream" and merged[-1]["name"] == output["name"]:
                merged[-1]["text"] = _concatenate(merged[-1]["text"], text)
                continue
            output = {**output, "text": _concatenate("", text)}
        merged.append(output)
    return merged


def clean(nb):
    """Clean a notebook (nbformat v4, a NotebookNode or plain dict) in place and return it (module docstring):
    widget views become one line of text (finished progress bars are dropped), the widget state and the cells'
    execution timestamps are removed, consecutive streams of the same name merged. Running it twice changes
    nothing the second time."""
    import nbformat

    cells = nb["cells"]
    for index, cell in enumerate(cells):
        cell.get("metadata", {}).pop("execution", None)
        if cell.get("cell_type") != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            if is_widget(output):
                if _BAR.search(_text(output["data"].get("text/plain"))):
                    continue  # a progress bar nobody closed: nothing to show without its kernel
                output = _plain(output, explorer_line(cells, index))
            outputs.append(output)
        cell["outputs"] = [nbformat.from_dict(o) for o in merge_streams(outputs)]
    nb.get("metadata", {}).pop("widgets", None)
    return nb
