"""Teachers: the strong LLM that data-side methods (AugCon, Instruct-SkillMix, self-debugging) call.

One interface: `teacher.complete(prompts, **settings) -> list[str]`, one reply per prompt, in order. A prompt
is a string (one user turn) or a chat (a list of {"role", "content"} messages); settings are the teacher's
generation knobs for this call (merged over the ones it was built with). Three teachers:

    ScriptedTeacher      the tiny world's stand-in for a strong LLM, and no model at all: it answers the world's
                         questions from the world's own facts (the gold answers), with a tunable share of
                         realistic wrong answers (`error_rate`) and generic non-answers (`laziness_rate`), so a
                         filter has something to filter. Deterministic: the same seed, prompt and settings give
                         the same reply. What it recognises is the explicit list of `Task`s it is built with
                         (default: the world's questions only); a data-side method lists its own
                         (`sftkit.methods.<name>.teacher_tasks()`). Nothing registers tasks at import, so a
                         teacher's replies are a function of its settings alone, whatever the process imported.
    TransformersTeacher  a local Hugging Face chat model (the embedded tiny model, a path or a Hub id), batched.
    OpenAITeacher        any OpenAI-compatible server (POST {base_url}/chat/completions: vLLM, llama.cpp's
                         server, OpenAI...), with concurrent requests, per-request timeouts and retries with
                         exponential backoff; the API key comes from an environment variable and is never logged.

Replies are cached on disk (`ResponseCache`): one small JSON file per reply, named by a hash of (the teacher's
`identity()`, the prompt, the settings) and written atomically as each reply arrives. A re-run costs no calls,
a run killed half way resumes where it stopped, and a damaged entry is ignored and rewritten. The cache is
what makes a teacher a function: a sampling model asked the same prompt with the same settings gives its
first reply again; to draw several replies, vary a setting (e.g. `seed=k`).

Pointing a method at a real model (on a GPU machine):

    teacher = TransformersTeacher("Qwen/Qwen2.5-1.5B-Instruct", max_new_tokens=256)
    teacher = OpenAITeacher("Qwen/Qwen2.5-7B-Instruct", base_url="http://127.0.0.1:8000/v1")  # `vllm serve ...`
    teacher = OpenAITeacher("gpt-4o-mini", base_url="https://api.openai.com/v1", api_key_env="OPENAI_API_KEY")
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from .io import SftkitError, atomic_write_text, runs_dir
from .profile import timed
from .world import corrupt, lazy_answer, make_splits, normalize

Prompt = Union[str, list[dict]]
DEFAULT_CACHE = "default"  # `cache=` value meaning `default_cache_dir()`


# ----------------------------------------------------------------------------------------------------
# Prompts and the cache


def as_messages(prompt: Prompt, where: str = "prompt") -> list[dict]:
    """A prompt as chat messages: a string becomes one user turn; a list of messages is checked and copied
    (only "role" and "content" are kept). Anything else is an `SftkitError` naming `where`."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, list) and prompt and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in prompt):
        return [{"role": m["role"], "content": m["content"]} for m in prompt]
    raise SftkitError(f"{where}: expected a string or a non-empty list of {{'role', 'content'}} messages, "
                      f"got {repr(prompt)[:80]}")


def last_user_text(messages: list[dict]) -> str:
    """The content of the last user turn ("" when there is none): what a scripted task reads."""
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


def cache_key(identity: dict, messages: list[dict], settings: dict) -> str:
    """sha256 of (teacher identity, prompt messages, settings) as canonical JSON: the name of a cached reply."""
    blob = json.dumps({"teacher": identity, "prompt": messages, "settings": settings}, sort_keys=True,
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def default_cache_dir() -> Path:
    """`teacher-cache/` under `sftkit.io.runs_dir()` (the repository's git-ignored runs/, or this user's own)."""
    return runs_dir() / "teacher-cache"


class ResponseCache:
    """Teacher replies on disk: `<directory>/<key[:2]>/<key>.json`, one JSON object per reply holding the
    key, the teacher identity, the settings, the prompt and the "response".

    Each entry is written with `sftkit.io.atomic_write_text` (a temporary file, then one rename), so a kill
    mid-write leaves at most a stray hidden temporary file, never half an entry under its name; and `get`
    treats any file it cannot read back whole (truncated, not JSON, another key, no "response") as missing,
    so such a file is simply asked again and rewritten."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        """The cached reply for `key`, or None (absent or unreadable)."""
        try:
            entry = json.loads(self.path(key).read_text())
        except (OSError, ValueError):  # missing, unreadable, truncated or not JSON (UnicodeDecodeError is a ValueError)
            return None
        if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("response"), str):
            return None
        return entry["response"]

    def put(self, key: str, entry: dict) -> None:
        atomic_write_text(self.path(key), json.dumps({**entry, "key": key}, ensure_ascii=False) + "\n")

    def __len__(self) -> int:
        return sum(1 for p in self.directory.glob("*/*.json") if not p.name.startswith("."))


# ----------------------------------------------------------------------------------------------------
# The interface


class Teacher:
    """The strong LLM as data-making methods see it: `complete` (a batch of prompts) and `ask` (one).

    A subclass sets `name`, extends `identity()` with whatever changes its replies (the model, the server),
    may check its settings (`check_settings`), and implements `_generate(conversations, settings)`, which
    yields (index, reply) pairs in any order as replies become ready; each is cached as it arrives.

    `cache`: a directory, `DEFAULT_CACHE` (`default_cache_dir()`, resolved on first use) or None (no cache).
    `calls` counts the replies generated by the model, `cache_hits` those read back from the cache.
    """

    name = "teacher"

    def __init__(self, settings: dict | None = None, cache: str | os.PathLike | None = DEFAULT_CACHE):
        self.settings = dict(settings or {})
        self._cache_arg = cache
        self._cache: ResponseCache | None = None
        self.calls = 0
        self.cache_hits = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, settings={self.settings})"

    def identity(self) -> dict:
        """What makes this teacher's replies what they are (never a secret): part of every cache key."""
        return {"name": self.name}

    @property
    def cache(self) -> ResponseCache | None:
        if self._cache is None and self._cache_arg is not None:
            where = default_cache_dir() if self._cache_arg == DEFAULT_CACHE else self._cache_arg
            self._cache = ResponseCache(where)
        return self._cache

    def check_settings(self, settings: dict) -> dict:
        """The settings of one call, checked (`SftkitError` for a bad one); the base accepts any."""
        return settings

    @timed("teacher")
    def complete(self, prompts: list[Prompt], **settings) -> list[str]:
        """One reply per prompt, in order. Cached replies are read back; the rest (each distinct prompt once)
        go to the model, and each reply is cached as soon as it arrives."""
        if isinstance(prompts, str) or (isinstance(prompts, list) and prompts and isinstance(prompts[0], dict)):
            raise SftkitError(f"{self.name}: complete() takes a list of prompts; for one prompt use ask()")
        settings = self.check_settings({**self.settings, **settings})
        conversations = [as_messages(p, f"{self.name}: prompt {i}") for i, p in enumerate(prompts)]
        identity = self.identity()
        keys = [cache_key(identity, c, settings) for c in conversations]
        replies: list[str | None] = [None] * len(conversations)
        todo: dict[str, list[int]] = {}  # key -> the prompts that share it
        for i, key in enumerate(keys):
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is None:
                todo.setdefault(key, []).append(i)
            else:
                replies[i] = hit
                self.cache_hits += 1
        firsts = [indices[0] for indices in todo.values()]
        for j, text in self._generate([conversations[i] for i in firsts], settings) if firsts else ():
            i = firsts[j]
            self.calls += 1
            if self.cache is not None:
                self.cache.put(keys[i], {"teacher": identity, "settings": settings, "prompt": conversations[i],
                                         "response": text})
            for k in todo[keys[i]]:
                replies[k] = text
        missing = sum(r is None for r in replies)
        if missing:
            last = getattr(self, "last_failure", "")
            if getattr(self, "on_failure", "raise") == "skip":  # finish what it can: "" for the rest, counted
                return ["" if r is None else r for r in replies]
            if last and len(replies) == 1:
                raise SftkitError(last)
            raise SftkitError(f"{last or self.name}: no reply for {missing} of {len(replies)} prompts"
                              + (f"; the other {len(replies) - missing} are cached" if self.cache is not None else ""))
        return replies  # type: ignore[return-value]

    def ask(self, prompt: Prompt, **settings) -> str:
        """One prompt's reply (`complete` of one)."""
        return self.complete([prompt], **settings)[0]

    def _generate(self, conversations: list[list[dict]], settings: dict) -> Iterator[tuple[int, str]]:
        raise NotImplementedError


# ----------------------------------------------------------------------------------------------------
# The scripted teacher and its tasks


@dataclass(frozen=True)
class Task:
    """One kind of request the scripted teacher can play.

    match(messages) -> the task's input (any object), or None when the prompt is not this task's;
    answer(input) -> the right reply; mistake(input, rng) -> a realistic wrong one. The teacher decides which
    of the three (or a lazy non-answer) to give, so a task only knows its own domain. A `sampled` task has many
    right replies (a writing task: any good example will do) and draws one: answer(input, rng), with the reply's
    own generator, so a `seed=` setting gives another right reply as a sampling model would."""

    name: str
    match: Callable[[list[dict]], Any]
    answer: Callable[..., str]
    mistake: Callable[[Any, random.Random], str]
    sampled: bool = False


def world_question_task(records: list[dict] | None = None) -> Task:
    """Answer a tiny-world question: a prompt whose last user turn is the instruction of one of `records`
    (default: every record of every split, `make_splits()`), matched after `normalize`. The answer is the
    record's gold answer; the mistake is the skill's realistic one (`sftkit.world.corrupt`)."""
    index: dict[str, dict] = {}

    def match(messages: list[dict]) -> dict | None:
        if not index:
            for split in ([records] if records is not None else make_splits().values()):
                for r in split:
                    index.setdefault(normalize(last_user_text(r["messages"][:-1])), r)
        return index.get(normalize(last_user_text(messages)))

    return Task("world_question", match, lambda record: record["answer"], corrupt)


# What the scripted teacher replies to a prompt no task recognises (unless strict=True, which raises).
UNRECOGNISED_REPLY = "I cannot answer that: this scripted teacher only plays the tiny world's tasks."


class ScriptedTeacher(Teacher):
    """The tiny world's strong LLM, scripted: honest about being no model at all.

    For each prompt, the first of `tasks` whose `match` accepts it answers: with probability `laziness_rate`
    a generic non-answer (`sftkit.world.lazy_answer`), else with probability `error_rate` (of all replies)
    the task's realistic mistake, else the task's right answer. A prompt no task matches gets
    `UNRECOGNISED_REPLY` (counted in `unrecognised`), or an `SftkitError` with strict=True.

    `tasks`: the explicit list it plays, tried in order (None: `world_question_task()` only). A data-side method
    exposes the list its prompts need, e.g. `ScriptedTeacher(tasks=sftkit.methods.augcon.teacher_tasks())`. The
    task names are part of `identity()`, so the same settings and task list give the same replies in any process.

    Every draw comes from a random generator seeded by (seed, rates, tasks, prompt, settings), so a reply
    does not depend on the batch or its order, and a `seed=` setting draws a different reply. It needs no
    cache (cache=None by default): it costs nothing.
    """

    name = "scripted"

    def __init__(self, error_rate: float = 0.0, laziness_rate: float = 0.0, seed: int = 0,
                 tasks: list[Task] | None = None, strict: bool = False, cache: str | os.PathLike | None = None,
                 **settings):
        for what, rate in (("error_rate", error_rate), ("laziness_rate", laziness_rate)):
            if not 0.0 <= rate <= 1.0:
                raise SftkitError(f"ScriptedTeacher: {what} must be in [0, 1], got {rate}")
        if error_rate + laziness_rate > 1.0:
            raise SftkitError(f"ScriptedTeacher: error_rate + laziness_rate must be at most 1, got "
                              f"{error_rate} + {laziness_rate}")
        super().__init__(settings, cache)
        self.error_rate, self.laziness_rate, self.seed, self.strict = error_rate, laziness_rate, seed, strict
        self.tasks = list(tasks) if tasks is not None else [world_question_task()]
        self.unrecognised = 0

    def add_task(self, task: Task) -> ScriptedTeacher:
        """Put `task` first (it is tried before the others); returns the teacher."""
        self.tasks.insert(0, task)
        return self

    def identity(self) -> dict:
        return {"name": self.name, "error_rate": self.error_rate, "laziness_rate": self.laziness_rate,
                "seed": self.seed, "tasks": [t.name for t in self.tasks]}

    def reply(self, prompt: Prompt, **settings) -> tuple[str, str]:
        """(reply, kind) for one prompt, uncached; kind is "gold", "wrong", "lazy" or "unrecognised"."""
        messages = as_messages(prompt)
        settings = {**self.settings, **settings}
        for task in self.tasks:
            item = task.match(messages)
            if item is not None:
                break
        else:
            self.unrecognised += 1
            if self.strict:
                raise SftkitError(f"{self.name}: no task recognises the prompt {last_user_text(messages)[:80]!r} "
                                  f"(tasks: {', '.join(t.name for t in self.tasks)})")
            return UNRECOGNISED_REPLY, "unrecognised"
        rng = random.Random(cache_key(self.identity(), messages, settings))
        draw = rng.random()
        if draw < self.laziness_rate:
            return lazy_answer(item, rng), "lazy"
        if draw < self.laziness_rate + self.error_rate:
            return task.mistake(item, rng), "wrong"
        return (task.answer(item, rng) if task.sampled else task.answer(item)), "gold"

    def _generate(self, conversations, settings):
        for i, messages in enumerate(conversations):
            yield i, self.reply(messages, **settings)[0]


# ----------------------------------------------------------------------------------------------------
# A local Hugging Face chat model


class TransformersTeacher(Teacher):
    """A local chat model through transformers (`sftkit.model.load_model`: "tiny" for the embedded model, a
    directory or a Hub id), loaded on first use; or an already loaded `model` with its `tokenizer` (then
    `name` is required: it is what the cache knows the model by).

    Settings: max_new_tokens (128), temperature (0: greedy; above 0: sampling), top_p (1.0), seed (0, for
    sampling). Prompts are sorted by length and generated `batch_size` at a time with
    `sftkit.evaluate.generate` (left padding, the chat template's generation prompt); each batch's replies
    are cached as they come. The cache knows a model by its name: after retraining a model in place, use
    another `name` or cache directory.
    """

    SETTINGS = {"max_new_tokens": 128, "temperature": 0.0, "top_p": 1.0, "seed": 0}

    def __init__(self, model: Any = "tiny", tokenizer: Any = None, name: str | None = None, device: str | None = None,
                 batch_size: int = 32, cache: str | os.PathLike | None = DEFAULT_CACHE, **settings):
        super().__init__({**self.SETTINGS, **settings}, cache)
        if isinstance(model, (str, os.PathLike)):
            self.model_name, self._loaded = str(model), None
        elif tokenizer is None or name is None:
            raise SftkitError("TransformersTeacher: a loaded model needs its tokenizer= and a name= for the cache")
        else:
            self.model_name, self._loaded = name, (model, tokenizer)
        self.name = name or f"transformers:{self.model_name}"
        self.device, self.batch_size = device, batch_size
        self.check_settings(self.settings)

    def check_settings(self, settings: dict) -> dict:
        unknown = sorted(set(settings) - set(self.SETTINGS))
        if unknown:
            raise SftkitError(f"{self.name}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(self.SETTINGS)}")
        return settings

    def loaded(self):
        """(model, tokenizer), loading them on first use."""
        if self._loaded is None:
            from .model import load_model

            self._loaded = load_model(self.model_name, device=self.device)
        return self._loaded

    def _generate(self, conversations, settings):
        import torch

        from .evaluate import generate

        model, tokenizer = self.loaded()
        sample = settings["temperature"] > 0
        extra = {"temperature": settings["temperature"], "top_p": settings["top_p"]} if sample else {}
        order = sorted(range(len(conversations)), key=lambda i: sum(len(m["content"]) for m in conversations[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            if sample:
                torch.manual_seed(settings["seed"] + start)
            texts = generate(model, tokenizer, [conversations[i] for i in idx], max_new_tokens=settings["max_new_tokens"],
                             batch_size=len(idx), do_sample=sample, **extra)
            yield from zip(idx, texts)


# ----------------------------------------------------------------------------------------------------
# An OpenAI-compatible HTTP server


def one_line(text: str, limit: int = 160) -> str:
    """`text` on one line, at most `limit` characters (for error messages)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def chat_reply(body: bytes) -> str:
    """The assistant text of a /chat/completions response body; ValueError when it is not one."""
    try:
        data = json.loads(body)
    except ValueError as e:
        raise ValueError(f"not JSON: {one_line(e, 60)}") from None
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ValueError(f"no choices[0].message.content in {one_line(body.decode(errors='replace'), 60)}") from None
    if not isinstance(content, str):
        raise ValueError(f"choices[0].message.content is {type(content).__name__}, not text")
    return content


class _NotRetried(SftkitError):
    """An HTTP client error (400, 401, 404...): every prompt would get it, so the whole call stops."""


class OpenAITeacher(Teacher):
    """Any server that speaks OpenAI's chat completions API (`POST {base_url}/chat/completions`).

    concurrency: requests in flight at once (a thread pool); timeout: seconds per request (connect, and each
    read: a server that stops sending fails after `timeout`); retries: further attempts after a timeout, a
    connection error (refused, dropped), HTTP 429 or 5xx, or a reply that is not the expected JSON, waiting
    backoff * 2**k seconds (with jitter, at most max_backoff; a 429's Retry-After when longer) before retry k+1.
    Other HTTP errors (400, 401, 404...) are not retried. When the attempts run out, `SftkitError` in one line
    names the endpoint, the model and the last failure; replies that arrived before it stay cached.

    The API key is read from the environment variable `api_key_env` at each run (none set: no Authorization
    header, as local servers need) and is never stored, logged or part of the cache key. Settings are sent as
    fields of the request body (temperature, max_tokens, top_p, seed, stop...), default temperature 0 and
    max_tokens 512.
    """

    SETTINGS = {"temperature": 0.0, "max_tokens": 512}

    def __init__(self, model: str, base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 8, timeout: float = 60.0, retries: int = 4, backoff: float = 1.0,
                 max_backoff: float = 30.0, cache: str | os.PathLike | None = DEFAULT_CACHE,
                 on_failure: str = "raise", **settings):
        super().__init__({**self.SETTINGS, **settings}, cache)
        if on_failure not in ("raise", "skip"):
            raise SftkitError(f"OpenAITeacher: on_failure must be 'raise' or 'skip', got {on_failure!r}")
        # A prompt whose attempts all fail does not stop the others: every reply that arrives is cached. Then
        # "raise" (the default) raises one line; "skip" returns "" for each failed prompt, counted in `failures`.
        self.on_failure, self.failures, self.last_failure = on_failure, 0, ""
        self.model, self.base_url = model, base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.name = f"openai:{model}@{self.base_url}"
        self.api_key_env = api_key_env
        self.concurrency, self.timeout, self.retries = max(1, concurrency), timeout, max(0, retries)
        self.backoff, self.max_backoff = backoff, max_backoff

    def identity(self) -> dict:
        return {"name": "openai", "model": self.model, "base_url": self.base_url}

    def wait(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry `attempt` (1, 2, ...): exponential backoff with jitter, capped."""
        delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        try:
            delay = max(delay, min(self.max_backoff, float(retry_after))) if retry_after else delay
        except ValueError:  # an HTTP date: ignore it
            pass
        return delay

    def request(self, client, messages: list[dict], settings: dict) -> str:
        """One prompt's reply, retrying as the class docstring says."""
        import httpx

        body = {**settings, "model": self.model, "messages": messages}
        failure, retry_after = "no attempt", None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.wait(attempt, retry_after))
            retry_after = None
            try:
                response = client.post(self.url, json=body)
            except httpx.TimeoutException:
                failure = f"timed out after {self.timeout:g} s"
                continue
            except httpx.TransportError as e:  # refused, reset, dropped mid-reply
                failure = f"connection failed ({type(e).__name__}: {one_line(e, 100) or 'no detail'})"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                failure = f"HTTP {response.status_code} ({one_line(response.text, 80)})"
                retry_after = response.headers.get("retry-after")
                continue
            if response.status_code >= 400:
                raise _NotRetried(f"{self.url}: HTTP {response.status_code} for model {self.model!r} "
                                  f"({one_line(response.text, 100)}); not retried")
            try:
                return chat_reply(response.content)
            except ValueError as e:
                failure = f"malformed reply ({e})"
        raise SftkitError(f"{self.url}: {failure}, after {self.retries + 1} attempt(s) (model {self.model!r})")

    def _generate(self, conversations, settings):
        import httpx

        key = os.environ.get(self.api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        with httpx.Client(timeout=self.timeout, headers=headers, limits=limits) as client, \
                ThreadPoolExecutor(self.concurrency, thread_name_prefix="teacher") as pool:
            futures = {pool.submit(self.request, client, c, settings): i for i, c in enumerate(conversations)}
            try:
                for future in as_completed(futures):
                    try:
                        reply = future.result()
                    except _NotRetried:  # the request itself is wrong (a bad key, an unknown model): stop
                        raise
                    except SftkitError as e:  # this prompt's attempts ran out: the others go on
                        self.failures += 1
                        self.last_failure = str(e)
                        continue
                    yield futures[future], reply
            finally:  # an error (or the caller stopping): drop the requests not yet started
                for future in futures:
                    future.cancel()


# ----------------------------------------------------------------------------------------------------
# A teacher from a command-line spec


def teacher_from(spec: str, error_rate: float = 0.0, laziness_rate: float = 0.0, seed: int = 0,
                 base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str = "OPENAI_API_KEY",
                 device: str | None = None, tasks: list[Task] | None = None, timeout: float = 60.0, retries: int = 4,
                 on_failure: str = "raise", **settings) -> Teacher:
    """A teacher from a short spec, as `sftkit generate --teacher` takes it: "scripted" (the tiny world's,
    with `error_rate`, `laziness_rate`, `seed` and the explicit `tasks` it plays: a data-side method's
    `teacher_tasks()`; None: the world's questions only; the other teachers need no tasks), "hf:NAME" (a local
    transformers chat model: "tiny", a path or a Hub id) or "openai:MODEL" (an OpenAI-compatible server at
    `base_url`, key from `api_key_env`); `timeout` (seconds per request), `retries` and `on_failure` ("skip":
    finish the prompts it can, counting the others in `teacher.failures`) are the openai teacher's; `settings`
    are the teacher's generation settings."""
    kind, _, name = spec.partition(":")
    if kind == "scripted" and not name:
        return ScriptedTeacher(error_rate, laziness_rate, seed, tasks=tasks, **settings)
    if kind == "hf" and name:
        return TransformersTeacher(name, device=device, **settings)
    if kind == "openai" and name:
        return OpenAITeacher(name, base_url=base_url, api_key_env=api_key_env, timeout=timeout, retries=retries,
                             on_failure=on_failure, **settings)
    raise SftkitError(f"--teacher {spec!r}: expected 'scripted', 'hf:MODEL' (a local path or Hub id) or "
                      f"'openai:MODEL' (with --base-url)")
