"""The sandbox (sftkit/sandbox.py): hostile programs are contained, the verifier grades hand-checked programs
right, and pass@k's unbiased estimator matches hand values.

Every hostile test ends with `assert_contained`: no process of the run is left (no child of this test, no
process with the run's id on its command line, no process of the run's uid), the sandbox directory is gone,
and nothing changed outside it (this test's tmp_path tree, and no file named with the test's marker in /tmp,
/var/tmp or /dev/shm). Limits are small (nproc 8, 1-2 s) so a failure here cannot take the machine down.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from sftkit import sandbox
from sftkit.io import SftkitError
from sftkit.sandbox import Limits, isolation, pass_at_k, run_many, run_program, run_record
from sftkit.world import SKILLS, make_record

FAST = Limits(timeout=2.0, cpu_seconds=2, memory_mb=128, nproc=8)
ROOT = sandbox._isolation_mode().startswith("root")  # a uid per run: file permissions are an OS boundary
NAMESPACES = sandbox._isolation_mode() in ("root", "userns")
PUBLIC = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"))


def _sandbox_uid_procs(uid=None):
    lo, hi = (uid, uid + 1) if uid is not None else (sandbox.UID_BASE, sandbox.UID_BASE + 1000)
    return [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and lo <= p.info["uids"].real < hi]


def _resource_tracker(process: psutil.Process) -> bool:
    """multiprocessing's resource tracker: started by the first spawn-context queue in this process (the tutorial
    runner's, in an earlier test) and alive until pytest exits; it is no run's leftover."""
    try:
        return "multiprocessing.resource_tracker" in " ".join(process.cmdline())
    except psutil.Error:
        return True  # gone already


def _tree(path: Path) -> dict[str, bytes | None]:
    return {str(p): (p.read_bytes() if p.is_file() else None) for p in sorted(path.rglob("*"))}


@pytest.fixture
def box(tmp_path):
    """A marker for file names, a victim file in tmp_path, and the check that the run left nothing behind."""
    marker = f"sbxmark{uuid.uuid4().hex[:8]}"
    (tmp_path / "victim.txt").write_text("keep me")
    before = _tree(tmp_path)

    def assert_contained(result):
        time.sleep(0.05)
        assert not Path(result.workdir).exists(), "the sandbox directory was not removed"
        assert [p for p in psutil.Process().children(recursive=True) if not _resource_tracker(p)] == []
        stray = []
        for p in psutil.process_iter(["cmdline"]):
            if result.run_id in " ".join(p.info["cmdline"] or []):
                stray.append(p)
        assert stray == []
        if result.uid is not None:
            left = _sandbox_uid_procs(result.uid)
            if sandbox._mode != "root":  # without a PID namespace, init reaps killed orphans: zombies may linger
                left = [p for p in left if p.status() != psutil.STATUS_ZOMBIE]
            assert left == []
        assert _tree(tmp_path) == before, "something changed in the test's directory"
        for d in PUBLIC:
            assert list(d.glob(f"*{marker}*")) == [], f"a file named with the marker appeared in {d}"
        return result

    return type("Box", (), {"marker": marker, "dir": tmp_path, "victim": tmp_path / "victim.txt",
                            "contained": staticmethod(assert_contained)})


# ----------------------------------------------------------------------------------------------------
# Hostile programs.

def test_infinite_loop_is_stopped_by_the_cpu_limit(box):
    r = box.contained(run_program("while True:\n    pass", [[1, 1]], limits=Limits(timeout=10, cpu_seconds=1)))
    assert (r.passed, r.error_type) == (False, "CPUTimeExceeded")
    assert r.duration < 4
    assert r.tests[0].error_type == "NotRun"


def test_infinite_loop_in_a_test_is_stopped_by_the_wall_clock(box):
    r = box.contained(run_program("def f(x):\n    while True:\n        pass", [[1, 1]],
                                  limits=Limits(timeout=1.0, cpu_seconds=10)))
    assert r.error_type == "Timeout" and "1 s" in r.error_message
    assert 1.0 <= r.duration < 2.5


def test_sleep_past_the_limit(box):
    r = box.contained(run_program("import time\ntime.sleep(60)\ndef f(x): return x", [[1, 1]],
                                  limits=Limits(timeout=1.0)))
    assert r.error_type == "Timeout" and not r.passed
    assert r.duration < 2.5


def test_fork_bomb_is_held_by_the_process_limit_and_killed(box):
    """Each process forks forever: RLIMIT_NPROC (per uid, hence the run's own uid) caps the count, and at the
    timeout the PID namespace, process group and uid sweep kill them all."""
    if not ROOT:
        pytest.skip("the fork bomb is only run where each run has its own uid (root): RLIMIT_NPROC is per user")
    peak, stop = [0], threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], len(_sandbox_uid_procs()))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
        r = run_program(bomb, [], limits=Limits(timeout=1.5, cpu_seconds=3, nproc=8))
    finally:
        stop.set()
        watcher.join()
    box.contained(r)
    assert r.error_type == "Timeout" and r.duration < 3
    assert 2 <= peak[0] <= 8, f"peak {peak[0]} processes with nproc=8"


def _daemons(marker):
    return ("import os, time\n"
            "for _ in range(3):\n"
            "    if os.fork() == 0:\n"
            "        os.setsid()\n"  # leave the process group, then orphan itself: a classic daemon
            "        if os.fork() == 0:\n"
            f"            time.sleep(60)  # {marker}\n"
            "        os._exit(0)\n"
            "def f(x): return x\n")


def test_daemons_that_leave_the_process_group_are_killed(box):
    r = box.contained(run_program(_daemons(box.marker), [[1, 1]], limits=FAST))
    assert r.passed, r.feedback()


def test_daemons_are_killed_by_the_uid_sweep_without_namespaces(box, monkeypatch):
    """Without `unshare` (mode root-plain) the PID namespace is gone: the per-run uid is what finds them."""
    if not ROOT:
        pytest.skip("needs root (a uid per run)")
    monkeypatch.setattr(sandbox, "_mode", "root-plain")
    r = box.contained(run_program(_daemons(box.marker), [[1, 1]], limits=FAST))
    assert r.passed, r.feedback()


@pytest.mark.parametrize("program", ["a = []\nwhile True:\n    a.append(bytearray(10**7))\n", "x = bytearray(1 << 34)\n"])
def test_memory_hog_hits_the_address_space_limit(box, program):
    r = box.contained(run_program(program + "def f(x): return x", [[1, 1]], limits=FAST))
    assert r.error_type == "MemoryError" and "128 MB" in r.error_message
    assert r.duration < 2


@pytest.mark.parametrize("guard", [True, False])
def test_writing_outside_its_directory(box, guard):
    """With the guard, the audit hook refuses; without it (root), the OS refuses: with namespaces the whole
    file system is read-only and this /tmp is hidden behind the run's own tmpfs; without them, the run's uid
    has no write permission in the test's directory (0700, the caller's)."""
    if not guard and not ROOT:
        pytest.skip("without root the program runs as this user: only the Python guard stops it")
    target = box.dir / f"escape-{box.marker}.txt"
    program = f"def f(x):\n    open({str(target)!r}, 'w').write('pwned')\n    return x\n"
    r = box.contained(run_program(program, [[1, 1]], limits=FAST, guard=guard))
    assert not target.exists()
    assert r.error_type == "PermissionError" if guard else r.error_type in ("PermissionError", "FileNotFoundError")
    assert ("sandbox: writing outside" in r.error_message) == guard


def test_writing_to_world_writable_places_is_refused_by_the_guard(box):
    """/tmp and /dev/shm accept files from any uid: here only the Python guard holds (documented)."""
    for d in PUBLIC:
        r = box.contained(run_program(f"open({str(d / box.marker)!r}, 'w').write('x')", [], limits=FAST))
        assert r.error_type == "PermissionError" and "sandbox:" in r.error_message, d
    r = box.contained(run_program(f"import os\nos.symlink('/tmp', 'out')\nopen('out/{box.marker}', 'w')", [],
                                  limits=FAST))
    assert r.error_type == "PermissionError", "a symlink out of the work directory must not help"
    r = box.contained(run_program(f"import os\nos.system('touch /tmp/{box.marker}')", [], limits=FAST))
    assert r.error_type == "PermissionError" and "running other programs" in r.error_message


def test_writing_inside_its_directory_works(box):
    program = ("import os, tempfile\n"
               "def f(x):\n"
               "    with open('scratch.txt', 'w') as fh:\n"
               "        fh.write(str(x))\n"
               "    os.makedirs('sub/dir', exist_ok=True)\n"
               "    with tempfile.NamedTemporaryFile('w', delete=False) as t:\n"
               "        t.write('y')\n"
               "    os.remove(t.name)\n"
               "    return int(open('scratch.txt').read()) + 1\n")
    r = box.contained(run_program(program, [[1, 2], [41, 42]], limits=FAST))
    assert r.passed, r.feedback()


def test_file_size_limit(box):
    program = "with open('big', 'wb') as fh:\n    fh.write(b'x' * (3 << 20))\n"
    r = box.contained(run_program(program, [], limits=Limits(timeout=2, fsize_mb=1)))
    assert r.error_type == "OSError" and "File too large" in r.error_message


@pytest.mark.parametrize("guard", [True, False])
def test_deleting_files(box, guard):
    if not guard and not ROOT:
        pytest.skip("without root only the guard protects this user's files")
    program = (f"import os, shutil\n"
               f"for call in (lambda: os.remove({str(box.victim)!r}), lambda: os.rename({str(box.victim)!r}, 'mine'),\n"
               f"             lambda: shutil.rmtree({str(box.dir)!r}), lambda: os.chmod({str(box.victim)!r}, 0)):\n"
               f"    try:\n"
               f"        call()\n"
               f"    except OSError as e:  # PermissionError, or FileNotFoundError: /tmp is the run's own\n"
               f"        print('refused', e)\n")
    r = box.contained(run_program(program, [], limits=FAST, guard=guard))
    assert r.stdout.count("refused") == 4, r.stdout + r.stderr
    assert box.victim.read_text() == "keep me"


@pytest.mark.parametrize("guard", [True, False])
def test_opening_a_socket(box, guard):
    """A listener on this machine's loopback must never see the program: the guard refuses the socket, and
    without the guard the network namespace has no usable interface."""
    if not guard and not NAMESPACES:
        pytest.skip("no network namespace here: only the guard stops sockets")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    port = server.getsockname()[1]
    try:
        program = (f"import socket\n"
                   f"def f(x):\n"
                   f"    s = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
                   f"    s.sendall(b'hello')\n"
                   f"    return x\n")
        r = box.contained(run_program(program, [[1, 1]], limits=FAST, guard=guard))
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()
    assert not r.passed
    if guard:
        assert r.error_type == "PermissionError" and "no network" in r.failing.error
    else:
        assert r.error_type == "OSError" and "unreachable" in r.failing.error


@pytest.mark.parametrize("guard", [True, False])
def test_environment_secret_is_not_visible(box, monkeypatch, guard):
    if not guard and not ROOT:
        pytest.skip("without root the caller's /proc/<pid>/environ is readable by the same user")
    secret = f"s3cret-{box.marker}"
    monkeypatch.setenv("SFTKIT_SANDBOX_SECRET", secret)
    program = ("import os\n"
               "print(os.environ)\n"
               "def f(x):\n"
               "    return dict(os.environ)\n"
               "def g(pid):\n"
               "    return open(f'/proc/{pid}/environ', 'rb').read().decode(errors='replace')\n")
    tests = [[0, None], {"call": f"g({os.getpid()})", "expected": None}]
    r = box.contained(run_program(program, tests, limits=FAST, guard=guard))
    env = r.tests[0].got
    assert set(env) == {"PATH", "LANG", "HOME", "TMPDIR"} and env["PATH"] == "/usr/bin:/bin"
    assert r.tests[1].error_type == "PermissionError"
    assert secret not in json.dumps([t.got for t in r.tests]) + r.stdout + r.stderr + r.traceback


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_flood_is_capped(box, stream):
    program = f"import sys\nwhile True:\n    sys.{stream}.write('y' * 1000 + '\\n')\n"
    r = box.contained(run_program(program, [], limits=Limits(timeout=5, max_output=10_000)))
    assert r.error_type == "OutputLimitExceeded" and r.truncated
    assert len(r.stdout) + len(r.stderr) == 10_000
    assert r.duration < 2


def test_stdin_is_closed(box):
    r = box.contained(run_program("def f(x):\n    return input()", [[1, "x"]], limits=FAST))
    assert r.error_type == "EOFError"


def test_exiting_the_interpreter_early(box):
    r = box.contained(run_program("import os\ndef f(x):\n    os._exit(0)", [[1, 1]], limits=FAST))
    assert r.error_type == "Exited" and r.tests[0].error_type == "NotRun"
    r = box.contained(run_program("raise SystemExit(3)", [[1, 1]], limits=FAST))
    assert r.error_type == "SystemExit"


# ----------------------------------------------------------------------------------------------------
# The verifier on hand-checked programs.

def _code_records(n, seed=0):
    rng = random.Random(seed)
    skill = SKILLS["code"]
    return [make_record("code", skill.sample(rng, "test" if i % 2 else "composed"), "test", i, rng) for i in range(n)]


def test_gold_code_answers_pass_and_mistakes_fail():
    """The tiny world's code records: each gold answer passes its meta.tests, each realistic mistake that
    differs on the tests fails, judged through the sandbox, in 2 workers."""
    records = _code_records(6)
    rng = random.Random(1)
    jobs, expect = [], []
    for r in records:
        jobs.append((r["answer"], r["meta"]["tests"]))
        expect.append(True)
        for wrong in SKILLS["code"].mistakes(r["meta"], r["answer"], rng):
            if not wrong.startswith("def "):
                continue  # the bare expression mistake is not a program
            jobs.append((wrong, r["meta"]["tests"]))
            f = eval("lambda x: " + wrong.split("return ", 1)[1])
            expect.append(all(f(x) == y for x, y in r["meta"]["tests"]))
    results = run_many(jobs, workers=2, limits=FAST)
    assert [r.passed for r in results] == expect
    assert all(r.error_type in (None, "WrongAnswer") for r in results)
    assert run_record(records[0]).passed


def test_wrong_answer_names_the_first_failing_test():
    r = run_program("def f(x): return x + 6", [[0, 5], [1, 6], [5, 10]], limits=FAST)
    assert (r.passed, r.error_type, r.n_passed) == (False, "WrongAnswer", 0)
    first = r.failing
    assert (first.call, first.expected, first.got) == ("f(0)", 5, 6)
    assert r.error_message == "f(0): expected 5, got 6"
    assert r.feedback() == "0/3 tests passed. First failure: f(0): expected 5, got 6"
    r = run_program("def f(x): return x * 2", [[0, 0], [1, 3], [5, 10]], limits=FAST)
    assert [t.passed for t in r.tests] == [True, False, True] and r.pass_rate == pytest.approx(2 / 3)
    assert r.failing.describe() == "f(1): expected 3, got 2"


def test_exception_in_a_test():
    r = run_program("def f(x):\n    return 10 // x", [[0, 0], [5, 2]], limits=FAST)
    assert r.error_type == "ZeroDivisionError"
    assert [t.passed for t in r.tests] == [False, True]
    assert r.tests[0].error == "ZeroDivisionError: integer division or modulo by zero"
    assert 'File "solution.py", line 2, in f' in r.traceback and "return 10 // x" in r.traceback
    assert r.pass_rate == 0.5


def test_syntax_error_and_missing_function():
    r = run_program("def f(x):\n    return x +\n", [[1, 2]], limits=FAST)
    assert r.error_type == "SyntaxError" and "line 2" in r.error_message
    assert r.tests[0].error_type == "NotRun"
    r = run_program("def g(x): return x", [[1, 1]], limits=FAST)
    assert r.error_type == "NoFunction" and r.error_message == "f(1): the program defines no function f()"


def test_call_expressions_and_json_comparison():
    program = ("class Liar:\n    def __eq__(self, other):\n        return True\n"
               "def g(a, b): return a + b\n"
               "def pair(x): return (x, [x])\n"
               "def liar(): return Liar()\n"
               "def s(): return {1, 2}\n")
    tests = [{"call": "g(2, 3)", "expected": 5}, {"call": "pair(1)", "expected": [1, [1]]},
             {"call": "liar()", "expected": 7}, {"call": "s()", "expected": [1, 2]}, {"call": "g('a', 'b')", "expected": "ab"}]
    r = run_program(program, tests, limits=FAST)
    assert [t.passed for t in r.tests] == [True, True, False, False, True]
    assert r.tests[3].got == "{1, 2}"  # not JSON: its repr comes back, and fails
    with pytest.raises(SftkitError, match="test 0"):
        run_program("", [[1, 2, 3]])
    with pytest.raises(SftkitError, match="JSON"):
        run_program("", [[{1}, 2]])


def test_run_many_keeps_order():
    jobs = [(f"def f(x): return x + {k}", [[1, 1 + k]]) for k in range(5)] + [("def f(x): return 0", [[1, 2]])]
    results = run_many(jobs, workers=2, limits=FAST)
    assert [r.passed for r in results] == [True] * 5 + [False]
    assert len({r.run_id for r in results}) == 6


def test_isolation_report():
    info = isolation()
    assert info["mode"] in ("root", "root-plain", "userns", "plain")
    assert set(info) >= {"network", "processes", "files", "user"}


# ----------------------------------------------------------------------------------------------------
# pass@k (Chen et al. 2021).

@pytest.mark.parametrize("n,c,k,want", [
    (5, 2, 1, 0.4),            # c/n
    (5, 2, 2, 0.7),            # 1 - C(3,2)/C(5,2) = 1 - 3/10
    (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
    (10, 0, 3, 0.0),
    (4, 3, 2, 1.0),            # n - c < k: every draw of 2 holds a correct one
    (1, 1, 1, 1.0),
])
def test_pass_at_k_hand_values(n, c, k, want):
    assert pass_at_k(n, c, k) == pytest.approx(want, abs=1e-12)


def test_pass_at_k_matches_binomials_for_large_n():
    for n, c, k in [(200, 10, 100), (200, 1, 1), (1000, 37, 10)]:
        exact = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-9)
    with pytest.raises(SftkitError):
        pass_at_k(5, 6, 1)
    with pytest.raises(SftkitError):
        pass_at_k(5, 2, 0)


# ----------------------------------------------------------------------------------------------------
# Issue 33: fd-relative calls, a killed caller, forged answers, plain mode.

def _modes():
    """The modes this machine can run: namespaces need root here (as another user the interpreter under /root
    cannot be started inside a user namespace); "userns", "root-plain" and "plain" are forced as root ("userns"
    maps root to itself: the same namespaces, read-only mounts and dropped capabilities as for a user; "plain"
    as root is still a real test of the supervisor and the guard: the run gives up every capability)."""
    if sandbox._isolation_mode() == "root":
        return ["root", "userns", "root-plain", "plain"]
    return [sandbox._isolation_mode()]


@pytest.fixture
def mode(request, monkeypatch):
    if request.param not in _modes():
        pytest.skip(f"mode {request.param} cannot run here")
    monkeypatch.setattr(sandbox, "_mode", request.param)
    monkeypatch.setenv("SFTKIT_SANDBOX_PLAIN", "1")
    return request.param


FD_CALLS = {
    "open": "os.open('new', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d)",
    "open_trunc": "os.open('victim', os.O_WRONLY | os.O_TRUNC, dir_fd=d)",
    "opener": "open('victim', 'w', opener=lambda p, f: os.open(p, f, dir_fd=d))",
    "unlink": "os.unlink('victim', dir_fd=d)",
    "rename": "os.rename('victim', 'moved', src_dir_fd=d, dst_dir_fd=d)",
    "replace": "os.replace('victim', 'moved', src_dir_fd=d, dst_dir_fd=d)",
    "rename_in": "os.rename('victim', 'stolen', src_dir_fd=d)",
    "mkdir": "os.mkdir('newdir', dir_fd=d)",
    "rmdir": "os.rmdir('sub', dir_fd=d)",
    "symlink": "os.symlink('/etc/passwd', 'ln', dir_fd=d)",
    "link": "os.link('victim', 'hard', src_dir_fd=d, dst_dir_fd=d)",
    "link_in": "os.link('victim', 'hard', src_dir_fd=d)",
    "chmod": "os.chmod('victim', 0o777, dir_fd=d)",
    "fchmod": "os.fchmod(d, 0o700)",
    "utime": "os.utime('victim', (0, 0), dir_fd=d)",
    "fchdir": "(os.fchdir(d), open('new2', 'w'))",
}


@pytest.fixture
def open_dir():
    """A world-writable directory outside /tmp (which namespaced runs do not see) with a world-writable file:
    file permissions alone would let any uid change it."""
    path = Path(tempfile.mkdtemp(prefix="sftkit-victim-", dir="/var/tmp"))
    (path / "victim").write_text("keep me")
    (path / "sub").mkdir()
    for p in (path, path / "sub", path / "victim"):
        os.chmod(p, 0o777 if p.is_dir() else 0o666)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _state(path: Path):
    return {str(p): (p.stat().st_mode, p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None)
            for p in sorted([path, *path.rglob("*")])}


@pytest.mark.parametrize("mode,guard", [("root", True), ("root", False), ("userns", True), ("userns", False),
                                        ("root-plain", True), ("plain", True)], indirect=["mode"])
def test_fd_relative_calls_cannot_touch_anything_outside(box, open_dir, mode, guard):
    """The issue's repro and its siblings: a directory fd opened outside, then fd-relative open, unlink,
    rename/replace, mkdir, rmdir, symlink, link, chmod, fchmod, utime and fchdir. With namespaces the OS
    refuses (read-only file system) even without the guard; the guard refuses them in every mode."""
    before = _state(open_dir)
    program = f"import os\nd = os.open({str(open_dir)!r}, os.O_RDONLY | os.O_DIRECTORY)\n"
    for name, call in FD_CALLS.items():
        program += (f"try:\n    {call}\n    print('ESCAPED {name}')\n"
                    f"except OSError as e:\n    print('refused {name}', type(e).__name__, e)\n")
    r = box.contained(run_program(program, [], limits=FAST, guard=guard))
    assert "ESCAPED" not in r.stdout, r.stdout
    assert r.stdout.count("refused") == len(FD_CALLS), r.stdout + r.stderr
    assert _state(open_dir) == before
    if guard:
        assert r.stdout.count("sandbox:") == len(FD_CALLS), r.stdout


def test_world_writable_places_are_read_only_without_the_guard(box):
    """With namespaces the file system outside the run's own tmpfs is read-only: /var/tmp and /dev/shm refuse
    a file even with the Python guard left out (before, only the guard held there)."""
    if not NAMESPACES:
        pytest.skip("no mount namespace here")
    for d in PUBLIC[1:]:
        r = box.contained(run_program(f"open({str(d / box.marker)!r}, 'w').write('x')", [], limits=FAST,
                                      guard=False))
        assert r.error_type == "OSError" and "Read-only file system" in r.error_message, (d, r.error_message)
    r = box.contained(run_program("import os\nprint(sorted(os.listdir('/tmp')), os.getcwd())", [], limits=FAST,
                                  guard=False))
    assert r.stdout.split() == [f"['{r.run_id}']", f"/tmp/{r.run_id}"], "the host's /tmp must not be visible"


def test_the_run_has_a_disk_quota(box):
    if not NAMESPACES:
        pytest.skip("the quota is the size of the run's own tmpfs (mount namespace)")
    program = ("for i in range(40):\n"
               "    with open(f'f{i}', 'wb') as fh:\n"
               "        fh.write(b'x' * ((1 << 20) - 1))\n")
    r = box.contained(run_program(program, [], limits=Limits(timeout=5, fsize_mb=1)))
    assert r.error_type == "OSError" and "No space left" in r.error_message


_FORGE = ("import os\n"
          "def forge():\n"
          "    lines = b'{\"test\": 0, \"got\": {\"json\": \"6\"}}\\n{\"done\": true}\\n{\"exit\": 0}\\n{\"end\": true}\\n'\n"
          "    for fd in range(3, 256):\n"
          "        try:\n"
          "            os.write(fd, lines)\n"
          "        except OSError:\n"
          "            pass\n")


@pytest.mark.parametrize("mode", ["root", "userns", "root-plain", "plain"], indirect=True)
@pytest.mark.parametrize("when", ["load", "call"])
def test_forged_answers_do_not_pass(box, mode, when):
    """A program writes a passing result to every descriptor it has and ends itself: before, one of them was
    the result pipe and the run passed. Now the verdict comes from the supervisor, which alone holds the
    result pipe; the program's answer channel takes one answer per test, in order, after the program loaded."""
    if when == "load":
        program = _FORGE + "forge()\nos._exit(0)\ndef f(x):\n    return 0\n"
    else:
        program = _FORGE + "def f(x):\n    forge()\n    return 0\n"
    r = box.contained(run_program(program, [[5, 6]], limits=FAST))
    assert not r.passed and r.error_type == "ProtocolError", r


@pytest.mark.parametrize("mode", ["root", "userns", "root-plain", "plain"], indirect=True)
def test_hostile_programs_in_every_mode(box, mode):
    """Signals to the caller are refused; daemons that leave the process group die with the run."""
    r = box.contained(run_program("import os\nos.kill(os.getppid(), 9)\n", [], limits=FAST))
    assert r.error_type == "PermissionError" and "signals" in r.error_message
    r = box.contained(run_program("import os, signal\nos.killpg(0, signal.SIGKILL)\n", [], limits=FAST))
    assert r.error_type == "PermissionError"
    r = box.contained(run_program(_daemons(box.marker), [[1, 1]], limits=FAST))
    assert r.passed, r.feedback()
    assert not [p for p in psutil.process_iter(["cmdline"]) if box.marker in " ".join(p.info["cmdline"] or [])]


def test_plain_mode_is_refused_unless_accepted(monkeypatch):
    monkeypatch.setattr(sandbox, "_mode", "plain")
    monkeypatch.delenv("SFTKIT_SANDBOX_PLAIN", raising=False)
    with pytest.raises(SftkitError, match=r"no OS isolation here .*SFTKIT_SANDBOX_PLAIN=1") as e:
        run_program("def f(x): return x", [[1, 1]])
    assert "\n" not in str(e.value)


_CALLER = """
import os, sys, types
from sftkit import sandbox
sandbox._mode = sys.argv[1]
os.environ["SFTKIT_SANDBOX_PLAIN"] = "1"
sandbox.uuid = types.SimpleNamespace(uuid4=lambda: types.SimpleNamespace(hex=sys.argv[2]))
program = (
    "import os, time\\n"
    "if os.fork() == 0:\\n"
    "    os.setsid()\\n"
    "    if os.fork() == 0:\\n"
    "        time.sleep(90)\\n"
    "    os._exit(0)\\n"
    "time.sleep(90)\\n"
    "def f(x): return x\\n")
sandbox.run_program(program, [[1, 1]], limits=sandbox.Limits(timeout=60, cpu_seconds=60))
"""


@pytest.mark.parametrize("mode", ["root", "userns", "root-plain", "plain"], indirect=True)
def test_a_killed_caller_takes_its_run_along(mode, tmp_path):
    """kill -9 of the process that called run_program (a 90 s program, a 60 s limit, a daemon beside it):
    within seconds no process of the run is left, and no work directory either."""
    import subprocess
    import sys

    hexid = uuid.uuid4().hex
    run_id = f"sftkit-sandbox-{hexid[:12]}"
    env = {**os.environ, "PYTHONPATH": str(Path(sandbox.__file__).parents[1])}
    caller = subprocess.Popen([sys.executable, "-c", _CALLER, mode, hexid], env=env, cwd=tmp_path,
                              start_new_session=True)

    def procs():
        out = []
        for p in psutil.process_iter(["cmdline", "status"]):
            if run_id in " ".join(p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE:
                out.append(p)
        return out

    try:
        deadline = time.monotonic() + 20
        while len(procs()) < 3 and time.monotonic() < deadline:  # supervisor, program, daemon (+ unshare)
            time.sleep(0.05)
        time.sleep(0.5)
        assert len(procs()) >= 3, "the run did not start"
        os.kill(caller.pid, 9)
        caller.wait()
        t0 = time.monotonic()
        while procs() and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        left = procs()
        gone_after = time.monotonic() - t0
    finally:
        for p in procs():
            with contextlib.suppress(psutil.Error):
                p.kill()
    assert left == [], f"still running after the caller was killed: {left}"
    assert gone_after < 5
    assert list(Path(tempfile.gettempdir()).glob(f"{run_id}*")) == []
