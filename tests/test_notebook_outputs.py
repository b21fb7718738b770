"""Saved notebooks are readable before running and deterministic (sftkit.notebook_outputs.clean): explorers are one
line of text that says where their static view is, no widget state or execution timestamps, streams merged as
JupyterLab saves them. The cleaner on hand-built notebooks, and every committed notebook as it leaves it."""
import json

import nbformat
import pytest

from sftkit import notebook_outputs as no
from sftkit import notebook_sources as ns

NOTEBOOKS = ns.notebooks()

INTERACT = "interactive(children=(Dropdown(description='split', options=('test', 'wording'), value='test'), Output()))"
TIMES = {"iopub.execute_input": "2026-11-26T19:27:09.859979Z", "iopub.status.idle": "2026-11-26T19:27:09.866281Z",
         "shell.execute_reply": "2026-11-26T19:27:09.866000Z"}


def widget(model_id: str, text: str = INTERACT, output_type: str = "display_data"):
    data = {no.WIDGET_VIEW: {"model_id": model_id, "version_major": 2, "version_minor": 0}, "text/plain": text}
    if output_type == "execute_result":
        return nbformat.v4.new_output("execute_result", data=data, execution_count=3)
    return nbformat.v4.new_output("display_data", data=data)


def figure():
    return nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480>"})


def stream(text: str, name: str = "stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def code(source: str, outputs=(), count=None):
    cell = nbformat.v4.new_code_cell(source, outputs=list(outputs), execution_count=count)
    cell.metadata["execution"] = dict(TIMES)
    return cell


def reading():
    return nbformat.v4.new_markdown_cell("*Reading without running?* It needs a live kernel. Below: its first view.")


def tiny_notebook():
    """Five explorers (static view in the same cell above, in the cell above, below, below but not run yet,
    none), a progress bar nobody closed, streams to merge, timestamps and widget state."""
    nb = nbformat.v4.new_notebook()
    state = {"state": {"a": {"model_name": "VBoxModel"}}, "version_major": 2, "version_minor": 0}
    nb.metadata["widgets"] = {no.WIDGET_STATE: state}
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.cells = [
        code("print('a'); print('b', file=sys.stderr); print('c'); print('d')",
             [stream("a\n"), stream("b\n", "stderr"), stream("c\n"), stream("d\n")], count=1),
        code("show(0)  # static copy\nw.interactive(show, x=[0, 1])",
             [figure(), widget("m1", output_type="execute_result")], count=2),
        code("show(0)  # a static first view; the explorer below changes it", [figure()], count=3),
        code("w.interact(show, x=[0, 1]);", [widget("m2")], count=4),
        code("w.interact(show, x=[0, 1]);", [widget("m3", "VBox(children=(HBox(children=(Dropdown(...")], count=5),
        reading(),
        code("show(0)  # the explorer's first view", [stream("x = 0\n")], count=6),
        code("w.interact(show, x=[0, 1]);", [widget("m4")], count=7),
        reading(),
        code("show(0)  # the explorer's first view (added, not run yet)"),
        code("print('plain'); w.interact(show, x=[0, 1]);", [stream("plain\n"), widget("m5")], count=8),
        code("for _ in tqdm(range(3)): pass",
             [widget("m6", "100%|██████████| 3/3 [00:00<00:00, 1.2it/s]"), stream("done\n")], count=9),
    ]
    nbformat.validate(nb)
    return nb


def texts(cell) -> list:
    return [o.get("text") or o["data"]["text/plain"] for o in cell.outputs]


def test_the_cleaner_on_a_hand_built_notebook():
    nb = no.clean(tiny_notebook())
    nbformat.validate(nb)
    cells = nb.cells
    assert "widgets" not in nb.metadata and nb.metadata["kernelspec"]["name"] == "python3"
    assert not any("execution" in c.metadata for c in cells)
    assert texts(cells[0]) == ["a\n", "b\n", "c\nd\n"]  # only neighbours of the same name merge, as in JupyterLab
    explorer = no.EXPLORER
    assert cells[1].outputs[0]["output_type"] == "display_data" and "image/png" in cells[1].outputs[0]["data"]
    assert cells[1].outputs[1] == nbformat.from_dict({"output_type": "execute_result", "execution_count": 3, "metadata": {},
                                                      "data": {"text/plain": explorer + " (a static view of it is above)."}})
    assert texts(cells[3]) == [explorer + " (a static view of it is above)."]  # the commented static cell before it
    assert texts(cells[4]) == [explorer + " (a static view of it follows)."]  # "*Reading without running?*", then a run cell
    assert texts(cells[7]) == [explorer + "."]  # its static cell has not been run: no promise
    assert texts(cells[10]) == ["plain\n", explorer + "."]  # a stream is not a static view
    assert texts(cells[11]) == ["done\n"]  # a progress bar left open is dropped
    for cell in cells:
        for output in cell.get("outputs", []):
            assert no.WIDGET_VIEW not in output.get("data", {})
            if output["output_type"] != "stream":
                assert "\n" not in output["data"]["text/plain"] or "image/png" in output["data"]
    before = tiny_notebook()
    assert [c.source for c in cells] == [c.source for c in before.cells]  # sources untouched
    assert [c.get("execution_count") for c in cells] == [c.get("execution_count") for c in before.cells]


def test_the_cleaner_is_idempotent_and_writes_what_the_runner_would(tmp_path):
    nb = tiny_notebook()  # (new cells get random ids: one notebook throughout)
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    once = nbformat.writes(no.clean(nb))
    assert nbformat.writes(no.clean(nbformat.reads(once, as_version=4))) == once
    assert ns.clean(path)
    assert path.read_text() == once + "\n"  # nbformat.write's text, as `sftkit tutorial` saves it
    assert not ns.clean(path)


@pytest.mark.parametrize("texts_in, merged", [
    (["a\n", "b"], "a\nb"),
    (["50%\b\b\b75%\n"], "75%\n"),  # backspaces delete within the line
    (["abc", "\b\bX"], "aX"),  # ... and reach into the previous output
    (["ab\ncd\bX"], "ab\nX"),  # JupyterLab's quirk: the rest of the line before the backspace goes
    (["line\n", "\b\b\bY"], "line\nY"),  # never past a newline
])
def test_streams_merge_as_jupyterlab_concatenates_them(texts_in, merged):
    out = no.merge_streams([stream(t) for t in texts_in])
    assert len(out) == 1 and out[0]["text"] == merged


def test_the_clean_command_names_each_notebook(tmp_path, monkeypatch, capsys):
    notebooks, sources = tmp_path / "notebooks", tmp_path / "notebooks" / "src"
    sources.mkdir(parents=True)
    nbformat.write(tiny_notebook(), notebooks / "13_tiny.ipynb")
    monkeypatch.setattr(ns, "NOTEBOOKS_DIR", notebooks)
    monkeypatch.setattr(ns, "SOURCES_DIR", sources)
    monkeypatch.setattr(ns, "REPO_DIR", tmp_path)
    monkeypatch.setattr(ns, "notebooks", lambda directory=notebooks: sorted(directory.glob("[0-9]*.ipynb")))
    assert ns.main(["clean", "13"]) == 0
    assert ns.main(["clean", "13"]) == 0
    assert capsys.readouterr().out.splitlines() == ["notebooks/13_tiny.ipynb: cleaned", "notebooks/13_tiny.ipynb: unchanged"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_are_readable_before_running_and_clean(path):
    """No widget view, widget state or raw widget repr (a fresh clone shows each explorer as one line of text),
    no execution timestamps, no neighbouring streams JupyterLab would merge on save: `clean` changes nothing."""
    nb = json.loads(path.read_text())
    assert "widgets" not in nb["metadata"], f"{path.name}: widget state in the metadata"
    for i, cell in enumerate(nb["cells"]):
        assert "execution" not in cell["metadata"], f"{path.name} cell {i}: execution timestamps in its metadata"
        outputs = cell.get("outputs", [])
        for output in outputs:
            assert no.WIDGET_VIEW not in output.get("data", {}), f"{path.name} cell {i}: a widget view"
            text = "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
            assert not text.startswith(("interactive(children=", "VBox(children=")), f"{path.name} cell {i}: {text[:40]!r}"
        for a, b in zip(outputs, outputs[1:]):
            assert not (a["output_type"] == b["output_type"] == "stream" and a["name"] == b["name"]), \
                f"{path.name} cell {i}: two {a['name']} outputs in a row (JupyterLab merges them on save)"
    assert nbformat.writes(no.clean(nbformat.read(path, as_version=4))) + "\n" == path.read_text(), \
        f"{path.name}: python -m sftkit.notebook_sources clean {path.stem} would change it"


def test_every_explorer_in_the_committed_notebooks_says_where_its_static_view_is():
    """The lines `clean` wrote: the explorers of notebooks 00 and 08 wait for a run of the static view added
    below them; every other explorer has one."""
    lines = {}
    for path in NOTEBOOKS:
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            for output in cell.get("outputs", []):
                text = "".join(output.get("data", {}).get("text/plain", ""))
                if text.startswith(no.EXPLORER):
                    lines[f"{path.stem}:{i}"] = text.removeprefix(no.EXPLORER)
    assert len(lines) == 12, sorted(lines)
    unseen = sorted(k for k, v in lines.items() if v == ".")
    assert set(unseen) <= {"00_world:26", "08_superhf:30"}, unseen
