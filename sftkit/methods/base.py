"""The contract every method satisfies (`MethodSpec`), its paper (`Paper`) and its own knobs (`MethodConfig`).

A method module ends with `SPEC = MethodSpec(...)`: the registry (`sftkit.methods.get`) returns it, and the CLI,
the run recipe (`sftkit.experiment`), the GPU check and the leaderboard read only its fields, never a module
attribute. What each shape provides:

  loss    `trainer`, a `sftkit.train.NTPTrainer` subclass whose `compute_loss` is the method's loss (sft, sftmix,
          ift, dpo, rpo, crlft); optionally `tokenize` (records -> tokenized rows, e.g. preference pairs) and
          `inference_tokenizer` (the tokenizer to save and evaluate with, e.g. crlft's expert condition).
  data    `make_data(inputs, teacher, config, seed=)` makes records that plain SFT then learns (augcon,
          skillmix, selfdebug); `add_generate_arguments(parser)` and `data_from_args(args, teacher, config)` give
          `sftkit generate NAME` its own inputs; `teacher_tasks()` lists the tiny world's scripted-teacher
          tasks that answer its prompts (a teacher gets them explicitly: nothing registers at import).
  online  `run(model, tokenizer, prompts, online, config, reward_fn)`, a generate -> score -> update loop on
          `sftkit.online.OnlineLoop` (ppo, superhf), with its `online` budget (`OnlineConfig`), its `lora`
          adapter, its default `reward` and `reward_function(name, device)`.

Every shape: `data` (what `sftkit train` reads: "conversations", "preference" or "prompts"; a data-side
method names its inputs), `required(reward)` (fields each record needs), `default_data(reward)` (tiny-world
data when `--data` is omitted, or None) and `check_data(records, reward)` (one clear error before any work).

A method's `Config` is a dataclass whose fields are that method's knobs only (the shared training budget
is `sftkit.train.TrainConfig`), each with a default from the paper or its official code and a help string
(`knob`). The CLI builds `sftkit train <method> --help` from it, and the results' `variant` string comes
from it (`variant`), so neither is typed by hand.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar


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


SHAPES = ("loss", "data", "online")
HOOKS = {"loss": ("trainer",), "data": ("make_data", "add_generate_arguments", "data_from_args", "teacher_tasks"),
         "online": ("run", "online", "lora", "reward", "reward_function")}  # what each shape must provide


def no_fields(reward: str | None = None) -> dict[str, str]:
    """`MethodSpec.required`'s default: no field beyond a conversation's own."""
    return {}


def no_check(records: list[dict], reward: str | None = None) -> None:
    """`MethodSpec.check_data`'s default: nothing to check beyond `required`."""


def same_tokenizer(tokenizer, method_config: MethodConfig | None = None):
    """`MethodSpec.inference_tokenizer`'s default: the training tokenizer, unchanged."""
    return tokenizer


@dataclass(frozen=True)
class MethodSpec:
    """One method, as the rest of sftkit sees it (the module docstring says what each shape provides).
    Unused hooks keep their defaults; `__post_init__` refuses a spec that lacks a hook its shape needs."""

    name: str
    shape: str  # "loss", "data" or "online"
    paper: Paper
    config: type[MethodConfig]
    data: str = "conversations"
    required: Callable[[str | None], dict[str, str]] = no_fields
    default_data: Callable[[str | None], tuple[list[dict], str]] | None = None
    check_data: Callable[[list[dict], str | None], None] = no_check
    # loss-side
    trainer: type | None = None
    tokenize: Callable | None = None  # (tokenizer, records, max_length) -> rows; None: `sftkit.data.tokenize_dataset`
    inference_tokenizer: Callable = same_tokenizer
    # data-side
    make_data: Callable | None = None
    add_generate_arguments: Callable | None = None
    data_from_args: Callable | None = None
    teacher_tasks: Callable[[], list] | None = None  # the scripted teacher's tasks for this method's prompts
    # online
    run: Callable | None = None
    online: Any = None  # `sftkit.online.OnlineConfig`: the method's default budget and sampling
    lora: dict | None = None
    reward: str | None = None  # `sftkit train NAME`'s default --reward
    reward_function: Callable | None = None  # (name, device) -> reward_fn; its docstring after ": " is --reward's help
    max_new_tokens: dict[str, int] = field(default_factory=dict)  # --max-new-tokens' default by reward

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"method {self.name}: shape {self.shape!r} is not one of {SHAPES}")
        missing = [h for h in HOOKS[self.shape] if getattr(self, h) is None]
        if missing:
            raise ValueError(f"method {self.name}: a {self.shape}-side method needs {', '.join(missing)}")

    @property
    def summary(self) -> str:
        p = self.paper
        return f"{p.title.split(';')[0]} (arXiv {p.arxiv.split(';')[0]}); notebook {p.notebook}"


@dataclass(frozen=True)
class Arm:
    """One row of an ablation: registered `method` with `knobs` (None: its defaults) trained on `data(seed)`, each
    seed's own draw; `steps` overrides the budget's step count (e.g. a matched-epochs control); `note` goes
    into the results' variant."""

    method: str
    knobs: MethodConfig | None
    data: Callable[[int], list[dict]]
    note: str = ""
    steps: int | None = None
