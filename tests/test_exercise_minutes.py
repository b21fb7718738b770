"""benchmarks/exercise_minutes.py's pure pieces on a hand-written notebook (the benchmark itself runs notebooks
and is run by hand, not by the tests)."""
import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("repository_untouched")

EXERCISES = """Some text before.

## Exercises

**1. Loss on the prompt.** Train on every token.
<details><summary>Hint</summary>Not this block.</details>
<details><summary>Solution</summary>

```python
x = 1
```

and a second block:

```python
print(x)
```
</details>

**2.** Add a skill to `sftkit/world/skills.py` (say, "last letter of a word"): a sampler, an answer.
<details><summary>Solution</summary>

```python
    Skill("last", ...),
```
</details>

3. **Exploration.** A list item.
   <details><summary>Solution</summary>

   ```python
   hot = run(
       1)
   ```
   </details>
"""

MORE = """**4.** On a GPU, set the model.
<details><summary>Solution</summary>

```python
MODEL_NAME = "Qwen/Qwen2.5-0.5B-Instruct"  # then run all cells
```
</details>

**5.** Make the proxy worse.
<details><summary>Solution</summary>

```python
PROXY_NOISE = 0.45   # or 0.0
```
</details>

**6.** Think about it.
<details><summary>Solution</summary>
Prose only.
</details>

**7. Check yourself: write the loss.** Write it.
<details><summary>Solution</summary>

```python
def f(a):
    return a
```
</details>

## Run it from the command line

<details><summary>Solution</summary>

```python
not_an_exercise = True
```
</details>
"""


@pytest.fixture(scope="module")
def em():
    path = Path(__file__).parent.parent / "benchmarks" / "exercise_minutes.py"
    spec = importlib.util.spec_from_file_location("exercise_minutes", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while the class is made
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def notebook(*markdown):
    cells = [{"cell_type": "code", "source": "import os", "metadata": {}, "outputs": []}]
    cells += [{"cell_type": "markdown", "source": text.splitlines(keepends=True), "metadata": {}} for text in markdown]
    return {"cells": cells}


def test_solutions_of_the_exercises_section_in_order(em):
    found = em.solutions(notebook(EXERCISES, MORE))
    assert [s.number for s in found] == ["1", "2", "3", "4", "5", "6", "7"]  # not the block after the next section
    assert [s.title for s in found] == [
        "**Loss on the prompt.**", 'Add a skill to `sftkit/world/skills.py` (say, "last letter of a...',
        "**Exploration.**", "On a GPU, set the model.", "Make the proxy worse.", "Think about it.",
        "**Check yourself: write the loss.**"]
    assert found[0].code == "x = 1\n\nprint(x)" and found[0].not_run == ""  # both blocks, the hint's not
    assert found[2].code == "hot = run(\n    1)" and found[2].not_run == ""  # a list item's block, dedented
    assert found[1].not_run == "an excerpt of a source file, not a notebook cell"
    assert "Hub model" in found[3].not_run
    assert found[4].not_run.startswith("sets a parameter")
    assert found[5].code == "" and found[5].not_run == "no code"
    assert found[6].code.startswith("def f(a):") and found[6].not_run == ""


def test_no_exercises_section(em):
    assert em.solutions(notebook("## Intro\n<details><summary>Solution</summary>\n\n```python\nx = 1\n```\n</details>")) == []


def test_cell_timing_errors_and_probe(em):
    cell = {"metadata": {"execution": {"iopub.execute_input": "2026-12-08T00:00:01.250000Z",
                                       "shell.execute_reply": "2026-12-08T00:01:03.500000Z"}},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi\n"},
                        {"output_type": "error", "ename": "NameError", "evalue": "name 'x' is not defined\nmore"}]}
    assert em.seconds(cell) == pytest.approx(62.25)
    assert em.seconds({"metadata": {}}) is None
    assert em.error_line(cell) == "NameError: name 'x' is not defined"
    probe = {"outputs": [{"output_type": "stream", "text": ["[12, ", "null]\n"]}]}
    assert em.probe_result(probe) == (12, None)


def test_table_rows(em):
    rows = [{"notebook": "01_sft", "number": "2", "title": "**A | B.**", "seconds": 61.04, "trains": "yes (3 optimizer steps)",
             "note": ""},
            {"notebook": "01_sft", "number": "3", "title": "t", "seconds": 0.01, "trains": "no",
             "note": "ERROR KeyError: 'x'"},
            {"notebook": "01_sft", "number": "4", "title": "t", "seconds": None, "trains": "", "note": "no code"}]
    assert em.table_rows(rows) == ["| 01_sft | 2. **A \\| B.** | 61.0 | yes (3 optimizer steps) |",
                                   "| 01_sft | 3. t | < 0.1 (ERROR KeyError: 'x') | no |",
                                   "| 01_sft | 4. t | no code | – |"]
