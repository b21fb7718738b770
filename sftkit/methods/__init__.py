"""The methods, one module (or small package) each, and the registry the CLI, the notebooks and the README read.

Each method module ends with `SPEC = base.MethodSpec(...)`, the explicit contract (`sftkit.methods.base` says
what each of the three shapes, loss, data and online, provides); `get(name)` returns it. A module also keeps
its `PAPER` (`base.Paper`) and `Config` (a `base.MethodConfig` dataclass of its own knobs, defaults from the
paper or official code, a help string each). Adding a method: the README's "Adding a method".

Where a loss lives: a method's own loss in its module (`sftmix.mixup_loss`, `ift.ift_loss`, `crlft.crlft_loss`,
`superhf.superhf_loss`, PPO's `policy_loss` and `value_loss`); a loss that code outside its method uses in
`sftkit.losses`, which imports no method (the token NLL and its reductions and the sequence log-prob, which every
method uses; DPO's sigmoid loss, which the FrozenLake lab reuses; RPO's, DPO's plus
the SFT term, beside it for the exercise checkers).
"""
from __future__ import annotations

import importlib

from ..io import REPO_DIR, SftkitError
from .base import MethodSpec

NAMES = ("sft", "sftmix", "ift", "dpo", "rpo", "crlft", "ppo", "superhf", "augcon", "skillmix", "selfdebug")  # in teaching order


def get(name: str) -> MethodSpec:
    """The registered method `name`: its module's `SPEC` (the module is imported on first use)."""
    if name not in NAMES:
        raise SftkitError(f"unknown method {name!r}; known: {', '.join(NAMES)}")
    spec = importlib.import_module(f"{__name__}.{name}").SPEC
    if spec.name != name:
        raise SftkitError(f"sftkit.methods.{name}.SPEC is named {spec.name!r}")
    return spec


def all_methods() -> list[MethodSpec]:
    return [get(name) for name in NAMES]


def notebook_table() -> str:
    """Markdown rows (method, shape, paper, notebook) for the README, generated from the registry."""
    lines = ["| method | shape | paper | official code | notebook |", "|---|---|---|---|---|"]
    for m in all_methods():
        p = m.paper
        written = (REPO_DIR / "notebooks" / f"{p.notebook}.ipynb").exists()
        notebook = f"[{p.notebook}](notebooks/{p.notebook}.ipynb)" if written else f"{p.notebook} (not yet written)"
        lines.append(f"| {m.name} | {m.shape} | {p.title} (arXiv {p.arxiv}) | {p.code} | {notebook} |")
    return "\n".join(lines)
