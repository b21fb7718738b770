"""The methods, one module each, and the registry the CLI, the notebooks and the README read from.

Three shapes (`Method.shape`):
  loss    a Trainer subclass that overrides the loss (sft, sftmix, ift, dpo, rpo, crlft);
  data    a `make_data(inputs, teacher, config, seed=, device=)` that makes training data which plain SFT
          then learns (augcon, skillmix), and for `sftkit generate METHOD` an `add_generate_arguments(parser)`
          (its own inputs: documents, seed instructions) and a `data_from_args(args, teacher, config)`;
  online  a generate -> score -> update loop on `sftkit.online` (ppo, superhf).

A method module declares `PAPER` (`base.Paper`), `Config` (a `base.MethodConfig` dataclass of its own knobs,
defaults from the paper or official code, a help string each), `SHAPE`, `DATA` ("conversations",
"preference", or "prompts": records whose gold answer an online method's reward reads) and its `Trainer`
(loss-side) / `make_data` (data-side) / `run` (online). To add a method: write `methods/<name>.py` like
`dpo.py` (loss-side) or `ppo.py` (online), add its name to `NAMES` below, and teach it in a notebook.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from ..io import REPO_DIR, SftkitError

NAMES = ("sft", "sftmix", "ift", "dpo", "rpo", "crlft", "ppo", "superhf", "augcon", "skillmix")  # in teaching order


@dataclass(frozen=True)
class Method:
    name: str
    module: ModuleType

    def __getattr__(self, attr):  # PAPER, Config, SHAPE, DATA, Trainer, tokenize, ...
        return getattr(self.module, attr)

    @property
    def summary(self) -> str:
        p = self.module.PAPER
        return f"{p.title.split(';')[0]} (arXiv {p.arxiv.split(';')[0]}); notebook {p.notebook}"


def get(name: str) -> Method:
    """The registered method `name` (its module is imported on first use)."""
    if name not in NAMES:
        raise SftkitError(f"unknown method {name!r}; known: {', '.join(NAMES)}")
    return Method(name, importlib.import_module(f"{__name__}.{name}"))


def all_methods() -> list[Method]:
    return [get(name) for name in NAMES]


def notebook_table() -> str:
    """Markdown rows (method, shape, paper, notebook) for the README, generated from the registry."""
    lines = ["| method | shape | paper | official code | notebook |", "|---|---|---|---|---|"]
    for m in all_methods():
        p = m.PAPER
        written = (REPO_DIR / "notebooks" / f"{p.notebook}.ipynb").exists()
        notebook = f"[{p.notebook}](notebooks/{p.notebook}.ipynb)" if written else f"{p.notebook} (not yet written)"
        lines.append(f"| {m.name} | {m.SHAPE} | {p.title} (arXiv {p.arxiv}) | {p.code} | {notebook} |")
    return "\n".join(lines)
