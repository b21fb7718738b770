"""Teachers: the scripted teacher's determinism and rates, the disk cache, and the OpenAI-compatible client
against a real HTTP server on 127.0.0.1 (good, slow, malformed, HTTP 500, dropped connections)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sftkit.io import REPO_DIR, SftkitError
from sftkit.teachers import (
    UNRECOGNISED_REPLY,
    OpenAITeacher,
    ResponseCache,
    ScriptedTeacher,
    Task,
    TransformersTeacher,
    as_messages,
    cache_key,
)
from sftkit.world import LAZY_ANSWERS, check, make_splits

SLOW = 1.5  # seconds a slow reply takes; clients here time out after 0.3 s
SECRET = "sk-test-not-a-real-key-1234"


pytestmark = pytest.mark.usefixtures("repository_untouched")  # nothing here writes into the repository


@pytest.fixture(scope="module")
def splits():
    return make_splits()


def within(seconds: float, fn, *args, **kwargs):
    """fn(*args, **kwargs), failing the test (not hanging it) when it takes longer than `seconds`."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: B036 - handed to the test thread
            out["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: a hang"
    if "error" in out:
        raise out["error"]
    return out["value"]


# ----------------------------------------------------------------------------------------------------
# The server: the request's "model" picks how it behaves; "_once" modes misbehave on a prompt's first try only.


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers

    def log_message(self, *args):
        pass

    def send(self, status: int, body: bytes, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        server = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        mode, text = body["model"], body["messages"][-1]["content"]
        with server.lock:
            server.calls[mode] += 1
            server.tries[(mode, text)] += 1
            first = server.tries[(mode, text)] == 1
            server.auth.append(self.headers.get("Authorization"))
            server.bodies.append(body)
        bad = mode.endswith("_always") or first
        kind = mode.removesuffix("_always").removesuffix("_once")
        if kind == "slow" and bad:
            time.sleep(SLOW)
        if kind == "paced":
            time.sleep(0.05)
        if kind == "drop" and bad:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if kind == "error500" and bad:
            return self.send(500, b'{"error": "internal"}')
        if kind == "busy" and bad:
            return self.send(429, b'{"error": "slow down"}', {"Retry-After": "0.01"})
        if kind == "malformed" and bad:
            return self.send(200, b'{"choices": [{"message": {"content": "cut sh')
        if kind == "nocontent" and bad:
            return self.send(200, b'{"choices": []}')
        if kind == "unauthorized":
            return self.send(401, b'{"error": "bad key"}')
        if kind == "poison" and text == "poison":
            return self.send(500, b'{"error": "always fails on this prompt"}')
        reply = {"choices": [{"message": {"role": "assistant", "content": f"echo: {text}"}}]}
        self.send(200, json.dumps(reply).encode())


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.calls: Counter = Counter()
        self.tries: Counter = Counter()
        self.auth: list = []
        self.bodies: list = []

    def handle_error(self, request, client_address):  # a client that timed out or a dropped socket: expected
        pass

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture(scope="module")
def server():
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def http_teacher(server, mode, tmp_path, **kwargs):
    options = {"cache": tmp_path / "cache", "timeout": 0.3, "retries": 2, "backoff": 0.01, "concurrency": 4}
    return OpenAITeacher(mode, base_url=server.url, **{**options, **kwargs})


def entries(directory) -> list[dict]:
    """Every cache entry file under `directory`, parsed (a corrupt one fails the test)."""
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*/*.json")) if not p.name.startswith(".")]


# ----------------------------------------------------------------------------------------------------
# Prompts, keys


def test_prompts_and_keys():
    assert as_messages("hi") == [{"role": "user", "content": "hi"}]
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi", "extra": 1}]
    assert as_messages(chat) == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    for bad in ([], [{"role": "user"}], 3, [{"content": "x"}]):
        with pytest.raises(SftkitError, match="expected a string"):
            as_messages(bad)
    with pytest.raises(SftkitError, match="prompt 1"):
        ScriptedTeacher().complete(["ok", 5])
    with pytest.raises(SftkitError, match="use ask"):
        ScriptedTeacher().complete("one prompt")
    key = cache_key({"name": "t"}, as_messages("hi"), {"temperature": 0})
    assert key == cache_key({"name": "t"}, as_messages("hi"), {"temperature": 0})
    assert len({key, cache_key({"name": "u"}, as_messages("hi"), {"temperature": 0}),
                cache_key({"name": "t"}, as_messages("ho"), {"temperature": 0}),
                cache_key({"name": "t"}, as_messages("hi"), {"temperature": 1})}) == 4


# ----------------------------------------------------------------------------------------------------
# The scripted teacher


def test_scripted_rate_zero_gives_gold_answers(splits):
    records = [r for name in ("train", "test", "wording", "longer", "larger", "composed") for r in splits[name]]
    teacher = ScriptedTeacher()
    replies = teacher.complete([r["messages"][:-1] for r in records])  # chats, as methods will pass them
    assert all(check(r, reply) for r, reply in zip(records, replies))
    assert teacher.unrecognised == 0
    assert teacher.ask(records[0]["messages"][0]["content"]) == records[0]["answer"]  # a plain string prompt too


def test_scripted_is_deterministic(splits):
    prompts = [r["messages"][0]["content"] for r in splits["test"]]
    a = ScriptedTeacher(error_rate=0.3, laziness_rate=0.2, seed=1).complete(prompts)
    b = ScriptedTeacher(error_rate=0.3, laziness_rate=0.2, seed=1).complete(prompts[::-1])[::-1]
    assert a == b  # same seed: same replies, whatever the batch order
    assert a != ScriptedTeacher(error_rate=0.3, laziness_rate=0.2, seed=2).complete(prompts)
    teacher = ScriptedTeacher(error_rate=0.3, laziness_rate=0.2, seed=1)
    assert teacher.complete(prompts, seed=7) != a  # a setting draws another reply
    assert teacher.complete(prompts, seed=7) == teacher.complete(prompts, seed=7)


def test_scripted_error_and_laziness_rates(splits):
    records = splits["train"]  # 2400 prompts
    teacher = ScriptedTeacher(error_rate=0.2, laziness_rate=0.1, seed=3)
    replies = teacher.complete([r["messages"][0]["content"] for r in records])
    lazy = [reply in LAZY_ANSWERS for reply in replies]
    wrong = [not check(r, reply) and not is_lazy for r, reply, is_lazy in zip(records, replies, lazy)]
    assert abs(sum(lazy) / len(records) - 0.1) < 0.03
    assert abs(sum(wrong) / len(records) - 0.2) < 0.03
    kinds = Counter(teacher.reply(r["messages"][0]["content"])[1] for r in records)
    assert kinds["lazy"] == sum(lazy) and kinds["wrong"] == sum(wrong)  # every mistake is wrong by the checker
    always_wrong = ScriptedTeacher(error_rate=1.0).complete([r["messages"][0]["content"] for r in records[:300]])
    assert not any(check(r, reply) or reply in LAZY_ANSWERS for r, reply in zip(records, always_wrong))
    with pytest.raises(SftkitError, match="at most 1"):
        ScriptedTeacher(error_rate=0.7, laziness_rate=0.5)
    with pytest.raises(SftkitError, match="error_rate"):
        ScriptedTeacher(error_rate=-0.1)


def test_scripted_unrecognised_prompt_and_new_tasks(splits):
    teacher = ScriptedTeacher(error_rate=0.5)
    assert teacher.complete(["Write a poem about the sea."]) == [UNRECOGNISED_REPLY]
    assert teacher.unrecognised == 1
    with pytest.raises(SftkitError, match="no task recognises"):
        ScriptedTeacher(strict=True).ask("Write a poem about the sea.")

    def match(messages):  # a later method's request, e.g. "Question about: <context>"
        text = messages[-1]["content"]
        return text.removeprefix("Question about: ") if text.startswith("Question about: ") else None

    task = Task("question", match, lambda context: f"What is {context}?", lambda context, rng: "What?")
    extended = ScriptedTeacher(seed=0).add_task(task)
    assert extended.ask("Question about: Veloria") == "What is Veloria?"
    assert extended.ask(splits["test"][0]["messages"][0]["content"]) == splits["test"][0]["answer"]  # still the world
    assert ScriptedTeacher(tasks=[task], error_rate=1.0).ask("Question about: x") == "What?"
    assert extended.identity()["tasks"][:2] == ["question", "world_question"]  # then tasks other modules registered
    own = ScriptedTeacher(tasks=[])
    assert own.ask(splits["test"][0]["messages"][0]["content"]) == UNRECOGNISED_REPLY


# ----------------------------------------------------------------------------------------------------
# The HTTP teacher against a real local server


def test_http_good_answers_in_order_and_cached(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SFTKIT_TEST_KEY", SECRET)
    prompts = [f"q{i}" for i in range(20)] + [[{"role": "system", "content": "s"}, {"role": "user", "content": "chat"}]]
    teacher = http_teacher(server, "good", tmp_path, api_key_env="SFTKIT_TEST_KEY", max_tokens=7)
    replies = within(10, teacher.complete, prompts)
    assert replies == [f"echo: q{i}" for i in range(20)] + ["echo: chat"]
    assert server.calls["good"] == 21 and teacher.calls == 21
    assert set(server.auth[-21:]) == {f"Bearer {SECRET}"}
    assert server.bodies[-1]["max_tokens"] == 7 and server.bodies[-1]["temperature"] == 0.0
    cached = entries(tmp_path / "cache")
    assert len(cached) == 21 and SECRET not in json.dumps(cached)

    again = http_teacher(server, "good", tmp_path, api_key_env="SFTKIT_TEST_KEY", max_tokens=7)  # a fresh run
    assert within(10, again.complete, prompts) == replies
    assert server.calls["good"] == 21 and again.calls == 0 and again.cache_hits == 21  # free: no HTTP call
    within(10, again.complete, prompts[:3], max_tokens=8)  # other settings: asked again
    assert server.calls["good"] == 24
    assert within(10, again.complete, ["new", "new", "q0"]) == ["echo: new", "echo: new", "echo: q0"]
    assert server.calls["good"] == 25  # a repeated prompt is asked once


def test_http_transient_failures_are_retried(server, tmp_path):
    for mode in ("slow_once", "error500_once", "busy_once", "malformed_once", "nocontent_once", "drop_once"):
        teacher = http_teacher(server, mode, tmp_path)
        assert within(10, teacher.complete, ["a", "b"]) == ["echo: a", "echo: b"], mode
        assert server.calls[mode] == 4, mode  # each prompt: one failure, one success


@pytest.mark.parametrize("mode, failure", [("slow_always", "timed out after 0.3 s"), ("error500_always", "HTTP 500"),
                                           ("malformed_always", "malformed reply"), ("drop_always", "connection failed")])
def test_http_persistent_failures_give_one_clear_error(server, tmp_path, mode, failure):
    teacher = http_teacher(server, mode, tmp_path)
    start = time.monotonic()
    with pytest.raises(SftkitError) as error:
        within(10, teacher.complete, ["a"])
    message = str(error.value)
    assert message.startswith(f"{server.url}/chat/completions: {failure}") and "after 3 attempt(s)" in message
    assert "\n" not in message and repr(mode) in message
    assert server.calls[mode] == 3  # 1 try + 2 retries
    assert time.monotonic() - start < 3
    assert entries(tmp_path / "cache") == []


def test_http_client_errors_are_not_retried(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with pytest.raises(SftkitError, match="HTTP 401 .*not retried") as error:
        within(10, http_teacher(server, "unauthorized", tmp_path).complete, ["a"])
    assert server.calls["unauthorized"] == 1 and SECRET not in str(error.value)
    with pytest.raises(SftkitError, match="connection failed"):  # nothing listening
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        port = dead.getsockname()[1]
        dead.close()
        within(10, OpenAITeacher("x", base_url=f"http://127.0.0.1:{port}/v1", cache=None, timeout=0.3, retries=1,
                                 backoff=0.01).complete, ["a"])


def test_http_interrupted_run_resumes(server, tmp_path):
    prompts = [f"p{i}" for i in range(12)] + ["poison"]
    with pytest.raises(SftkitError, match="HTTP 500"):
        within(10, http_teacher(server, "poison", tmp_path).complete, prompts)
    done = len(ResponseCache(tmp_path / "cache"))
    assert all(e["response"] == f"echo: {e['prompt'][-1]['content']}" for e in entries(tmp_path / "cache"))
    before = server.calls["poison"]
    fixed = http_teacher(server, "poison", tmp_path)
    assert within(10, fixed.complete, prompts[:-1]) == [f"echo: p{i}" for i in range(12)]
    assert server.calls["poison"] - before == 12 - done and fixed.cache_hits == done  # only what was missing


# ----------------------------------------------------------------------------------------------------
# The cache survives damage and kills


def test_damaged_cache_entries_are_ignored_and_rewritten(server, tmp_path):
    teacher = http_teacher(server, "good", tmp_path)
    within(10, teacher.complete, ["x1", "x2"])
    key = cache_key(teacher.identity(), as_messages("x1"), teacher.settings)
    path = ResponseCache(tmp_path / "cache").path(key)
    full = path.read_text()
    calls = server.calls["good"]
    for damage in (full[:len(full) // 2], "", "\x00\xff", json.dumps({"key": "another", "response": "x"}),
                   json.dumps({"key": key})):
        path.write_text(damage)
        (path.parent / f".{path.name}.tmp123").write_text(full[:10])  # what a kill mid-write leaves behind
        assert within(10, teacher.complete, ["x1", "x2"]) == ["echo: x1", "echo: x2"]
        assert json.loads(path.read_text())["response"] == "echo: x1"  # rewritten whole
    assert server.calls["good"] - calls == 5  # only the damaged entry, once per damage


CHILD = """
import sys
from sftkit.teachers import OpenAITeacher
OpenAITeacher("paced", base_url=sys.argv[1], cache=sys.argv[2], concurrency=2, timeout=5, retries=0).complete(
    [f"k{i}" for i in range(60)])
"""


def test_cache_survives_a_kill_mid_run(server, tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, server.url, str(cache)], env=env)
    try:
        deadline = time.monotonic() + 30
        while len(ResponseCache(cache)) < 8 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(5)
    assert child.returncode == -signal.SIGKILL
    done = entries(cache)  # every entry whole
    assert 8 <= len(done) < 60
    assert all(e["response"] == f"echo: {e['prompt'][-1]['content']}" for e in done)
    before = server.calls["paced"]
    teacher = http_teacher(server, "paced", tmp_path, timeout=5, retries=0)
    assert within(15, teacher.complete, [f"k{i}" for i in range(60)]) == [f"echo: k{i}" for i in range(60)]
    assert teacher.cache_hits == len(done) and server.calls["paced"] - before == 60 - len(done)


def test_teachers_module_does_not_import_torch():
    code = "import sys, sftkit.teachers; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO_DIR)}, check=True)


# ----------------------------------------------------------------------------------------------------
# A local transformers model (the embedded tiny one)


def test_transformers_teacher_with_the_tiny_model(splits, tmp_path):
    teacher = TransformersTeacher("tiny", cache=tmp_path / "cache", max_new_tokens=12, device="cpu")
    prompts = [splits["test"][0]["messages"][:-1], splits["test"][1]["messages"][0]["content"]]
    replies = teacher.complete(prompts)
    assert len(replies) == 2 and all(isinstance(r, str) for r in replies) and teacher.calls == 2
    assert teacher.complete(prompts) == replies and teacher.calls == 2 and teacher.cache_hits == 2
    fresh = TransformersTeacher("tiny", cache=tmp_path / "cache", max_new_tokens=12, device="cpu")
    assert fresh.complete(prompts) == replies and fresh._loaded is None  # all cached: the model is not even loaded
    model, tokenizer = teacher.loaded()
    same = TransformersTeacher(model, tokenizer, name="transformers:tiny", cache=tmp_path / "cache", max_new_tokens=12)
    assert same.complete(prompts) == replies and same.calls == 0  # the same name: the same cache entries
    with pytest.raises(SftkitError, match="unknown setting"):
        teacher.complete(prompts, max_tokens=3)
    with pytest.raises(SftkitError, match="tokenizer"):
        TransformersTeacher(model)


# ----------------------------------------------------------------------------------------------------
# Issue 33: a chaos server (hanging, dropped and malformed replies on some prompts, always): the run finishes
# the prompts it can, caches every reply that arrived, and counts the rest.

class ChaosHandler(Handler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"]
        with self.server.lock:
            self.server.calls["chaos"] += 1
        if text.startswith("hang"):
            time.sleep(SLOW)
        if text.startswith("drop"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if text.startswith("bad"):
            return self.send(200, b'{"choices": [{"message": {"content": "cut sh')
        reply = {"choices": [{"message": {"role": "assistant", "content": f"echo: {text}"}}]}
        self.send(200, json.dumps(reply).encode())


@pytest.fixture
def chaos():
    srv = Server()
    srv.RequestHandlerClass = ChaosHandler
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


PROMPTS = ["ok1", "hang1", "ok2", "drop1", "ok3", "bad1", "ok4", "hang2", "ok5"]


def test_chaos_server_finishes_what_it_can_and_counts_the_rest(chaos, tmp_path):
    teacher = http_teacher(chaos, "m", tmp_path, retries=1, on_failure="skip")
    start = time.monotonic()
    replies = within(10, teacher.complete, PROMPTS)
    took = time.monotonic() - start
    assert replies == [f"echo: {p}" if p.startswith("ok") else "" for p in PROMPTS]
    assert teacher.failures == 4 and "after 2 attempt(s)" in teacher.last_failure
    assert took < 3, f"{took:.1f} s: a hanging prompt must cost timeout x attempts, not stop the others"
    assert sorted(e["response"] for e in entries(tmp_path / "cache")) == [f"echo: ok{i}" for i in range(1, 6)]


def test_chaos_server_raises_one_line_but_keeps_every_finished_reply(chaos, tmp_path):
    """Default on_failure="raise": the failing prompts do not throw away the replies in flight; a re-run asks
    only for what is missing."""
    teacher = http_teacher(chaos, "m", tmp_path, retries=0)
    with pytest.raises(SftkitError, match=r"no reply for 4 of 9 prompts; the other 5 are cached") as error:
        within(10, teacher.complete, PROMPTS)
    assert "\n" not in str(error.value)
    assert len(entries(tmp_path / "cache")) == 5
    again = http_teacher(chaos, "m", tmp_path, retries=0)
    before = chaos.calls["chaos"]
    assert within(10, again.complete, [p for p in PROMPTS if p.startswith("ok")]) == [f"echo: ok{i}" for i in range(1, 6)]
    assert chaos.calls["chaos"] == before and again.cache_hits == 5


def test_cli_teacher_takes_timeout_and_retries():
    from sftkit.cli import build_parser
    from sftkit.teachers import teacher_from

    args = build_parser().parse_args(["generate", "skillmix", "--output", "x.jsonl", "--teacher", "openai:m",
                                      "--timeout", "2.5", "--retries", "0"])
    assert (args.timeout, args.retries) == (2.5, 0)
    teacher = teacher_from(args.teacher, timeout=args.timeout, retries=args.retries, on_failure="skip")
    assert (teacher.timeout, teacher.retries, teacher.on_failure) == (2.5, 0, "skip")
