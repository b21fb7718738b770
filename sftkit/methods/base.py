"""What every method module declares: its paper (`Paper`) and its own knobs (`MethodConfig` subclass).

A method's `Config` is a dataclass whose fields are that method's knobs only (the shared training budget
is `sftkit.train.TrainConfig`), each with a default from the paper or its official code and a help string
(`knob`). The CLI builds `sftkit train <method> --help` from it, and the results' `variant` string comes
from it (`variant`), so neither is typed by hand.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar


@dataclass(frozen=True)
class Paper:
    title: str
    arxiv: str  # arXiv id, e.g. "2405.16436"
    code: str  # official code (URL), or a sentence saying there is none
    notebook: str  # the notebook that teaches it, e.g. "05_dpo_rpo"


def knob(default, help: str, **kwargs):
    """A Config field with its default and the help text `sftkit train <method> --help` shows."""
    return field(default=default, metadata={"help": help, **kwargs})


@dataclass
class MethodConfig:
    """Base of each method's `Config`. `VARIANT` names the fields that identify a variant in results;
    `LABELS` renames fields there (e.g. lam -> lambda)."""

    VARIANT: ClassVar[tuple[str, ...]] = ()
    LABELS: ClassVar[dict[str, str]] = {}

    def trainer_kwargs(self) -> dict:
        """The knobs as keyword arguments of the method's Trainer."""
        return asdict(self)

    def variant(self, note: str = "") -> str:
        """e.g. "mu=0.2", or "mu=0 (balanced batches only)" with a note."""
        text = ",".join(f"{self.LABELS.get(name, name)}={getattr(self, name)}" for name in self.VARIANT)
        return f"{text} ({note})" if note and text else (note or text)

    @classmethod
    def knobs(cls) -> list:
        return list(fields(cls))
