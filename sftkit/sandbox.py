"""Run a Python program against tests in a separate, limited process, and pass@k.

Model-written code is this project's main security surface, so it never runs in the caller's process (no
`exec` in a notebook). `run_program` starts a fresh interpreter (`python -I -S -u`) in a throw-away
directory and returns a `RunResult`: passed, each test's expected vs got, the error type and message,
captured output and the duration. `run_many` runs several programs on a small worker pool.

Test format (the tiny world's code skill states its tests this way: `record["meta"]["tests"]`)::

    [[0, 5], [1, 6], [5, 10]]              # [argument, expected]: f(argument) == expected
    [{"call": "g(2, 3)", "expected": 5}]   # any expression, evaluated in the program's namespace

`entry` names the function the pair form calls ("f", as in `def f(x): return x + 5`). Values are JSON data.
The child never sees the expected values: it sends back what each call returned, as JSON, and the parent
compares (`json.loads(got) == expected`, so a returned object with a rigged `__eq__` cannot pass, and a
tuple equals the list JSON makes of it). The program runs as module `solution` (an
`if __name__ == "__main__":` block does not run).

What contains what (checked on a Linux box as root; `isolation()` says which layers are active here):

OS boundaries (hold whatever the program does in Python, C or a subprocess):
- separate process: a fresh `python -I -S -u` (no site-packages, no PYTHON* variables, no user site).
- limits (setrlimit in the child before the program runs): CPU time (RLIMIT_CPU; the child is the
  namespace's init, which ignores a default SIGXCPU, so a handler ends it and RLIMIT_CPU's hard limit,
  one second later, kills it for sure), address space (RLIMIT_AS: a memory hog gets MemoryError), file
  size (RLIMIT_FSIZE), open files (RLIMIT_NOFILE), no core dumps, and processes (RLIMIT_NPROC).
- as root, each run gets its own unused uid (`UID_BASE` + slot): the child drops to it after setting the
  limits, so it cannot raise them back, RLIMIT_NPROC counts only this run's processes (it is per user and
  does not apply to root: that is why the uid drop matters), and file permissions stop it from writing,
  deleting or reading anything not world-accessible (the repository, the caller's files, other processes'
  /proc/<pid>/environ). The interpreter's library may not be readable by that uid (here Python lives under
  /root, mode 0700): the child opens each sys.path directory while still root and imports through
  /proc/self/fd/N. Without root the program runs as the caller's own user: RLIMIT_NPROC is then set to the
  user's current task count plus `nproc`, and file permissions protect nothing of the user's.
- namespaces (`unshare --net --pid --mount --fork --kill-child`; as a user namespace when not root, if the
  kernel allows and the interpreter can start in it): a network namespace with only a down loopback (no
  connection anywhere, not even to localhost); a PID namespace whose init is the supervisor (below): when
  it exits or is killed, the kernel kills every process of the run, including ones that left its process
  group with setsid(); and a private mount namespace in which the whole file system is read-only
  (mount_setattr, recursive) and a fresh tmpfs on /tmp (size 4 x `fsize_mb`, at least 16 MB: the run's disk
  quota) holds the work directory, the only writable place. That is the file boundary whatever path, fd or
  dir_fd a call uses; the host's /tmp is not even visible, and the work directory never exists outside
  the namespace, so nothing is left behind whatever happens to the caller. In a user namespace the run
  gives up every capability (bounding set, securebits, capset), so it cannot remount anything.
- supervisor and run are two processes: the first (trusted, started by the parent) sets up the mounts,
  forks the run and alone holds the result pipe. The run answers on a pipe of its own; the supervisor takes
  one well-formed answer per test, in order, after the program loaded, and writes the verdict's material
  itself (exit status, CPU limit hit). Anything else on the answer channel (a forged line, an answer out of
  order) fails the run as "ProtocolError". The supervisor is not dumpable and, as root, keeps a uid the run
  does not have. What the program still decides is its own answer to each call, as any program does.
- the caller's death: the first process of the run gets PR_SET_PDEATHSIG (`setpriv --pdeathsig`), so a
  kill -9 of the caller ends `unshare`, whose --kill-child ends the namespace; without namespaces the
  supervisor gets SIGTERM, kills the run (by uid as root; as its subreaper otherwise) and removes the work
  directory. The run itself re-arms PR_SET_PDEATHSIG after setuid (which clears it).
- plain mode (not root, no usable user namespace) is refused with a one-line message naming the fixes, unless
  SFTKIT_SANDBOX_PLAIN=1 accepts it: then the program runs as the caller's user in its own session, the
  supervisor is its subreaper and kills every descendant at the end, and only the Python guard stands
  between the program and the user's files and processes.
- wall clock: the parent waits at most `timeout` seconds, then kills the process group, the namespace and
  every process of the run's uid. The same happens after every run, finished or not (innermost first, so
  each process is reaped by its own parent and no zombie is left behind in namespace mode).
- clean environment: only PATH=/usr/bin:/bin, LANG, HOME and TMPDIR (both the work directory); stdin is
  /dev/null; stdout and stderr are read with a cap (`max_output` bytes together: past it the program is
  stopped and the output kept so far is returned, marked truncated).
- the work directory is a fresh `tempfile.mkdtemp` (mode 0700, owned by the run's uid), removed afterwards.

Python-level guard (an audit hook installed before the program runs, the second layer; best effort, since a
determined program can get around it with ctypes tricks or races, which is why the OS layers exist):
- refuses to open for writing, create, delete, rename, link, chmod or truncate any path outside the work
  directory, resolving fd-relative forms (dir_fd, src_dir_fd/dst_dir_fd, and fchmod/fchdir/ftruncate on a
  descriptor) through /proc/self/fd; os.open is wrapped because its audit event does not carry dir_fd
  (without a mount namespace this is the only layer that keeps a program out of world-writable places like
  /tmp and /dev/shm: the OS lets any uid create files there);
- refuses signals to any process but itself (os.kill, os.killpg);
- refuses to create sockets or resolve names (the layer that works where no network namespace can be made);
- refuses to run other programs (os.system, exec*, spawn*, subprocess) and to load C libraries via
  ctypes, since a child program would not carry the guard;
- refuses to open another process's /proc/<pid>/ files.
Forking stays allowed (`allow_fork=False` refuses it too), so the process limit is what contains a fork bomb.

Checked here (root, Linux 6.18, util-linux 2.38): modes "root" (the default) and, forced, "userns" (root
mapped to itself: the same namespaces, mounts and dropped capabilities), "root-plain" and "plain" (as root,
with every capability given up); as the user nobody, only the probe (the interpreter lives under /root,
which a user namespace cannot enter, so nobody gets "plain" and its refusal). Without namespaces, processes killed after
their parent may stay zombies until init reaps them (they run nothing).

Not enforced: reading world-readable files (the program can read the repository's source, say); a disk quota
without namespaces (RLIMIT_FSIZE caps each file, not their number: until the timeout a program can fill its
directory, which is removed afterwards); limits add up over processes (up to `nproc` x `memory_mb` of memory
and `nproc` busy cores until the timeout); a program that knows the expected values (from a prompt that
shows the tests, say) can still return them: the verdict says what the program answered, not how.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .io import SftkitError
from .profile import timed

UID_BASE = 1_990_000  # as root, run i uses uid UID_BASE + a free slot (no passwd entry needed)
_UID_SLOTS = 1000
_RESULT_CAP = 4 << 20  # bytes of test results a child may send back
_GOT_CAP = 20_000  # characters of one returned value's JSON; longer counts as a failure


@dataclass(frozen=True)
class Limits:
    """Per-run limits. `timeout` is wall-clock seconds (interpreter start included, ~50 ms); `cpu_seconds`
    is RLIMIT_CPU (whole seconds); `memory_mb` is RLIMIT_AS (the interpreter itself needs ~30 MB);
    `nproc` the number of processes the run may have at once; `max_output` bytes of stdout + stderr."""
    timeout: float = 5.0
    cpu_seconds: int = 5
    memory_mb: int = 256
    nproc: int = 8
    fsize_mb: int = 16
    nofile: int = 64
    max_output: int = 64 * 1024


@dataclass
class TestResult:
    """One test: the call (e.g. "f(5)"), the expected value, what came back (`got`, JSON data; for a value
    JSON cannot hold, its repr as a string), and the exception the call raised, if any."""
    __test__ = False  # not a pytest class
    index: int
    call: str
    expected: Any
    got: Any = None
    passed: bool = False
    error_type: str | None = None
    error: str | None = None  # "ZeroDivisionError: division by zero" when the call raised
    traceback: str = ""

    def describe(self) -> str:
        if self.error_type == "NoFunction":
            return f"{self.call}: {self.error.split(': ', 1)[-1]}"
        if self.error_type:
            return f"{self.call} raised {self.error}"
        return f"{self.call}: expected {self.expected!r}, got {self.got!r}"


@dataclass
class RunResult:
    """The outcome of one run. `error_type` is None when every test passed; else one of: "SyntaxError" or
    another exception's name (raised loading the program, or by the first failing test), "WrongAnswer",
    "Timeout" (wall clock), "CPUTimeExceeded", "MemoryError", "OutputLimitExceeded", "Killed" (a signal),
    "Exited" (the program ended the interpreter before the tests finished), "NoFunction", "ProtocolError"
    (the program wrote to the harness's answer channel itself: a forged or out-of-order answer)."""
    passed: bool
    error_type: str | None
    error_message: str
    tests: list[TestResult]
    stdout: str
    stderr: str
    truncated: bool
    duration: float
    returncode: int | None
    traceback: str = ""
    run_id: str = ""  # also in the child's command line, so a leftover process could be found
    workdir: str = ""  # already removed
    uid: int | None = None  # the run's own uid (as root), None when it ran as the caller's user

    @property
    def n_passed(self) -> int:
        return sum(t.passed for t in self.tests)

    @property
    def pass_rate(self) -> float:
        return self.n_passed / len(self.tests) if self.tests else float(self.passed)

    @property
    def failing(self) -> TestResult | None:
        """The first failing test (None when all passed or none ran)."""
        return next((t for t in self.tests if not t.passed), None)

    def feedback(self) -> str:
        """One short paragraph of execution feedback, as a self-debugging prompt would show it."""
        if self.passed:
            return f"All {len(self.tests)} tests passed."
        if self.error_type == "WrongAnswer" or (self.failing and self.failing.error_type == self.error_type
                                                and self.error_type is not None):
            return f"{self.n_passed}/{len(self.tests)} tests passed. First failure: {self.failing.describe()}"
        return f"{self.error_type}: {self.error_message}"


# ------------------------------------------------------------------------------------------------------
# The child: a harness that reads the job from stdin, limits itself, installs the guard, runs the program
# and sends one JSON line per test on the result pipe. It is trusted code; the program runs after it.
_HARNESS = r'''
import builtins, ctypes, json, os, re, resource, select, signal, sys, traceback, linecache

job = json.loads(sys.stdin.buffer.read())
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
RES = job["result_fd"]
_dumps = json.dumps
libc = ctypes.CDLL(None, use_errno=True)
SUP = os.getpid()


def send_to(fd, obj):
    data = (_dumps(obj) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def sweep():
    """Kill every other process of the run and reap it (the supervisor is their subreaper or their PID
    namespace's init). Without a namespace they are found by uid (root) or as descendants (plain)."""
    for _ in range(500):
        left = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == SUP:
                continue
            try:
                with open(f"/proc/{name}/status") as fh:
                    st = dict(line.split(":", 1) for line in fh if ":" in line)
            except OSError:
                continue
            mine = (int(st["PPid"]) == SUP or (job["uid"] is not None and int(st["Uid"].split()[0]) == job["uid"]))
            if mine and not st["State"].strip().startswith("Z"):
                left.append(int(name))
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        if not left:
            return
        select.select([], [], [], 0.01)


def on_caller_death(signum, frame):  # plain modes: the caller died (PR_SET_PDEATHSIG): leave nothing behind
    sweep()
    import shutil
    shutil.rmtree(job["workdir"], ignore_errors=True)
    os._exit(1)


# ---- the supervisor (trusted): it alone holds the result pipe and writes the verdict ----
if job["plain"]:
    signal.signal(signal.SIGTERM, on_caller_death)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans of the run (double forks, setsid) come here
    if os.getppid() != job["caller"]:
        on_caller_death(0, None)
# The interpreter's library may be hidden from the run (under /root for another uid, or under the private
# /tmp): keep a directory fd to each sys.path entry and import through /proc/self/fd/N.
moved = {p: f"/proc/self/fd/{os.open(p, os.O_RDONLY | os.O_DIRECTORY)}" for p in sys.path if os.path.isdir(p)}
if job["mount"]:
    # A private mount namespace (unshare --mount): everything read-only (mount_setattr, recursive), and a
    # fresh tmpfs on /tmp holding the work directory, the only writable place; it vanishes with the namespace.
    libc.syscall.restype = ctypes.c_long
    attr = (ctypes.c_uint64 * 4)(1, 0, 0, 0)  # MOUNT_ATTR_RDONLY
    if libc.mount(None, b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC | MS_PRIVATE
        send_to(RES, {"setup": "mount --make-rprivate /: " + os.strerror(ctypes.get_errno())})
        os._exit(3)
    if libc.syscall(442, -100, b"/", 0x8000, ctypes.byref(attr), 32) != 0:  # mount_setattr(AT_RECURSIVE)
        send_to(RES, {"setup": "read-only / (mount_setattr): " + os.strerror(ctypes.get_errno())})
        os._exit(3)
    opts = f"size={job['disk_mb']}m,mode=0755".encode()
    if libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 2 | 4, opts) != 0:  # MS_NOSUID | MS_NODEV
        send_to(RES, {"setup": "tmpfs on /tmp: " + os.strerror(ctypes.get_errno())})
        os._exit(3)
    os.mkdir(job["workdir"], 0o700)
    if job["uid"] is not None:
        os.chown(job["workdir"], job["uid"], job["uid"])
os.chdir(job["workdir"])
q_r, q_w = os.pipe()
child = os.fork()
if child:
    # ------------------------------------------------------------------------------------------------
    # Supervisor: read the run's answers on its own pipe, accept one well-formed answer per test in order,
    # and write the verdict's raw material on the result pipe, which the run never holds.
    os.close(q_w)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: the run cannot ptrace this process or read its memory
    n = len(job["tests"])
    state = {"loaded": False, "next": 0, "done": False, "bad": None}

    def text(v, cap):
        return v[:cap] if isinstance(v, str) else ""

    def take(line):
        try:
            m = json.loads(line)
        except ValueError:
            return "a line that is not JSON"
        if not isinstance(m, dict):
            return "a non-object line"
        if state["done"]:
            return "a line after the end"
        if not state["loaded"]:
            if m == {"loaded": True}:
                state["loaded"] = True
                return None
            if set(m) == {"load"} and isinstance(m["load"], dict):
                e = m["load"]
                send_to(RES, {"load": {"type": text(e.get("type"), 200), "message": text(e.get("message"), 1000),
                                       "traceback": text(e.get("traceback"), 3000),
                                       "line": e.get("line") if isinstance(e.get("line"), int) else None}})
                state["done"] = True
                return None
            return "a line before the program loaded"
        if m == {"done": True} and state["next"] == n:
            state["done"] = True
            send_to(RES, {"done": True})
            return None
        if m.get("test") != state["next"] or state["next"] >= n or set(m) - {"test", "got", "error"} or len(m) != 2:
            return f"an answer out of order ({str(m.get('test'))[:20]}, expected {state['next']})"
        if "got" in m:
            g = m["got"]
            if isinstance(g, dict) and set(g) == {"json"} and isinstance(g["json"], str):
                try:
                    json.loads(g["json"])
                except ValueError:
                    return "an answer that is not JSON"
                out = {"json": g["json"][:job["got_cap"]]}
            elif isinstance(g, dict) and set(g) <= {"repr", "too_big"} and isinstance(g.get("repr"), str):
                out = {"repr": g["repr"][:400]}
            else:
                return "a malformed answer"
            send_to(RES, {"test": state["next"], "got": out})
        else:
            e = m["error"] if isinstance(m["error"], dict) else {}
            send_to(RES, {"test": state["next"], "error": {
                "type": text(e.get("type"), 200) or "Error", "message": text(e.get("message"), 1000),
                "traceback": text(e.get("traceback"), 3000),
                "line": e.get("line") if isinstance(e.get("line"), int) else None}})
        state["next"] += 1
        return None

    buf, status, rusage = b"", None, None
    os.set_blocking(q_r, False)
    while True:
        ready = select.select([q_r], [], [], 0.05)[0]
        chunk = b""
        if ready:
            try:
                chunk = os.read(q_r, 65536)
            except BlockingIOError:
                pass
            buf += chunk
            if len(buf) > (4 << 20):
                state["bad"] = "more than 4 MB of answers"
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if state["bad"] is None:
                    state["bad"] = take(line)
            if state["bad"] is not None:
                try:
                    os.kill(child, signal.SIGKILL)
                except OSError:
                    pass
        try:
            while True:
                pid, st, ru = os.wait4(-1, os.WNOHANG)
                if not pid:
                    break
                if pid == child:
                    status, rusage = st, ru
        except ChildProcessError:
            pass
        if status is not None and not chunk:
            break
    os.close(q_r)
    if state["bad"] is not None:
        send_to(RES, {"forged": state["bad"]})
    if os.WIFSIGNALED(status):
        rc = -os.WTERMSIG(status)
        used = rusage.ru_utime + rusage.ru_stime
        if rc == -signal.SIGXCPU or (rc == -signal.SIGKILL and used >= job["limits"]["RLIMIT_CPU"]):
            send_to(RES, {"cpu": True})
    else:
        rc = os.WEXITSTATUS(status)
    send_to(RES, {"exit": rc})
    if job["plain"]:  # in a PID namespace the kernel kills the rest when this process, its init, exits
        sweep()
    send_to(RES, {"end": True})
    os._exit(0)

# ----------------------------------------------------------------------------------------------------
# The run: answers on its own pipe (q_w), never the result pipe. Below here the program is in control.
os.close(RES)
os.close(q_r)
ANS = q_w
os.setsid() if job["plain"] else None  # its own session: the supervisor stays out of its process group
signal.signal(signal.SIGTERM, signal.SIG_DFL)


def send(obj):
    send_to(ANS, obj)


signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past RLIMIT_FSIZE a write fails with EFBIG (OSError) instead
root = os.geteuid() == 0
for name, value in job["limits"].items():
    which = getattr(resource, name)
    soft, hard = resource.getrlimit(which)
    hard_new = value + 1 if name == "RLIMIT_CPU" else value
    if not root and hard != resource.RLIM_INFINITY:
        value, hard_new = min(value, hard), min(hard_new, hard)
    resource.setrlimit(which, (value, hard_new))


def remap(path):
    for old, new in moved.items():
        if path == old or path.startswith(old + os.sep):
            return new + path[len(old):]
    return path


sys.path[:] = list(moved.values())
for module in list(sys.modules.values()):  # packages already imported (encodings, json...) find submodules
    if isinstance(getattr(module, "__path__", None), list):
        module.__path__[:] = [remap(p) for p in module.__path__]
sys.path_importer_cache.clear()
if job["uid"] is not None:
    os.setgroups([])
    os.setgid(job["uid"])
    os.setuid(job["uid"])
    libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: a changed uid hides /proc/self from itself
elif root:  # a user namespace's root: give up every capability (no remount, no ptrace of the supervisor)
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP
    libc.prctl(8, 0x2f, 0, 0, 0)  # PR_SET_SECUREBITS: NOROOT, NO_SETUID_FIXUP, KEEP_CAPS locked
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    if libc.capset(header, data) != 0:
        os._exit(4)
    libc.prctl(4, 1, 0, 0, 0)
libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: no setuid binary gives anything back
libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG (setuid cleared it): dies with the supervisor
if os.getppid() != SUP:
    os._exit(5)

WORK = os.path.realpath(os.getcwd())
SELF_PROC = os.path.realpath("/proc/self")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
NET = {"socket.__new__", "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
       "socket.gethostbyname", "socket.gethostbyaddr", "socket.gethostbyname_ex", "socket.socketpair"}
RUN = {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen", "pty.spawn", "os.startfile",
       "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "os.fork" if job["no_fork"] else "-"}
# event -> (index of a path argument, index of its dir_fd argument or None), as CPython 3.11 raises them
PATHS = {"os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),), "os.rename": ((0, 2), (1, 3)),
         "os.link": ((0, 2), (1, 3)), "os.symlink": ((1, 2),), "os.chmod": ((0, 2),), "os.chown": ((0, 3),),
         "os.truncate": ((0, None),), "os.utime": ((0, 3),), "os.chdir": ((0, None),), "os.mkfifo": ((0, 2),),
         "os.mknod": ((0, 3),), "shutil.rmtree": ((0, None),), "shutil.copyfile": ((1, None),),
         "shutil.copytree": ((1, None),), "shutil.move": ((0, None), (1, None)), "shutil.chown": ((0, None),)}
_readlink, _realpath, _getcwd, _join, _isabs = os.readlink, os.path.realpath, os.getcwd, os.path.join, os.path.isabs


def resolve(path, dir_fd=None):
    """The absolute path a call means: a descriptor's own target, or a relative path against dir_fd or the cwd."""
    if isinstance(path, int):
        return _readlink(f"/proc/self/fd/{path}")
    path = os.fsdecode(path)
    relative = isinstance(dir_fd, int) and dir_fd >= 0 and not _isabs(path)  # AT_FDCWD (-100): the cwd
    base = _readlink(f"/proc/self/fd/{dir_fd}") if relative else _getcwd()
    return _realpath(_join(base, path))


def inside(path, dir_fd=None):
    try:
        full = resolve(path, dir_fd)
    except (TypeError, ValueError, OSError):
        return False
    return full == WORK or full.startswith(WORK + os.sep)


def guard(event, args):
    if event == "open":
        path, mode, flags = args
        if isinstance(path, int):
            return
        writing = (mode is not None and any(c in str(mode) for c in "wax+")) or bool(flags & WRITE_FLAGS)
        if writing and not inside(path):
            raise PermissionError(f"sandbox: writing outside the work directory is not allowed: {os.fsdecode(path)}")
        full = resolve(path)
        if re.match(r"/proc/\d+(/|$)", full) and not (full == SELF_PROC or full.startswith(SELF_PROC + "/")):
            raise PermissionError(f"sandbox: other processes' /proc files are off limits: {os.fsdecode(path)}")
    elif event in NET:
        raise PermissionError(f"sandbox: no network ({event})")
    elif event in RUN:
        raise PermissionError(f"sandbox: running other programs or loading C libraries is not allowed ({event})")
    elif event in ("os.kill", "os.killpg"):
        if args[0] != os.getpid():
            raise PermissionError(f"sandbox: signals to other processes are not allowed ({event})")
    elif event in PATHS:
        for i, d in PATHS[event]:
            fd = args[d] if d is not None and d < len(args) else None
            if i < len(args) and args[i] is not None and not inside(args[i], fd):
                raise PermissionError(f"sandbox: {event} outside the work directory is not allowed: {args[i]}")


def _make_open(real):
    def open(path, flags, mode=0o777, *, dir_fd=None):  # the "open" audit event does not carry dir_fd
        if dir_fd is not None and flags & WRITE_FLAGS and not inside(path, dir_fd):
            raise PermissionError(f"sandbox: writing outside the work directory is not allowed: {path}")
        return real(path, flags, mode, dir_fd=dir_fd)
    return open


def describe(e):
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename != "<string>"]
    tb = "".join(["Traceback (most recent call last):\n"] * bool(frames) + traceback.format_list(frames)
                 + traceback.format_exception_only(type(e), e))
    message = e.msg if isinstance(e, SyntaxError) else str(e)
    return {"type": type(e).__name__, "message": message[:1000], "traceback": tb[-3000:],
            "line": e.lineno if isinstance(e, SyntaxError) else next((f.lineno for f in frames[::-1]
                                                                       if f.filename == "solution.py"), None)}


def encode(value):
    try:
        text = _dumps(value)
    except (TypeError, ValueError, RecursionError, OverflowError):
        try:
            text = repr(value)[:300]
        except Exception:
            text = f"<unprintable {type(value).__name__}>"
        return {"repr": text}
    if len(text) > job["got_cap"]:
        return {"repr": text[:300] + "...", "too_big": True}
    return {"json": text}


if job["guard"]:
    sys.addaudithook(guard)
    import posix
    os.open = posix.open = _make_open(posix.open)
source = job["program"]
linecache.cache["solution.py"] = (len(source), None, source.splitlines(True), "solution.py")
ns = {"__name__": "solution", "__builtins__": builtins}
try:
    exec(compile(source, "solution.py", "exec"), ns)
    loaded = True
    send({"loaded": True})
except BaseException as e:
    try:
        info = describe(e)
    except MemoryError:
        info = {"type": "MemoryError", "message": "", "traceback": "", "line": None}
    ns.clear()
    send({"load": info})
    loaded = False
if loaded:
    entry = job["entry"]
    for i, test in enumerate(job["tests"]):
        try:
            if "call" in test:
                got = eval(test["call"], ns)
            elif callable(ns.get(entry)):
                got = ns[entry](test["arg"])
            else:
                send({"test": i, "error": {"type": "NoFunction", "message": f"the program defines no function {entry}()",
                                           "traceback": "", "line": None}})
                continue
            send({"test": i, "got": encode(got)})
        except BaseException as e:
            try:
                info = describe(e)
            except MemoryError:
                info = {"type": "MemoryError", "message": "", "traceback": "", "line": None}
            send({"test": i, "error": info})
if loaded:
    send({"done": True})
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except BaseException:
        pass
os._exit(0)
'''

# ------------------------------------------------------------------------------------------------------
# The parent side.
_mode_lock = threading.Lock()
_mode: str | None = None
_uid_lock = threading.Lock()
_uids_in_use: set[int] = set()


def _probe(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


_NS = ["--net", "--pid", "--mount", "--fork", "--kill-child"]
_PLAIN_ENV = "SFTKIT_SANDBOX_PLAIN"


def _isolation_mode() -> str:
    """"root" (namespaces and a uid per run), "userns" (namespaces, the caller's uid) or "plain"."""
    global _mode
    with _mode_lock:
        if _mode is None:
            unshare = shutil.which("unshare")
            if os.name != "posix" or sys.platform != "linux":
                raise SftkitError("sftkit.sandbox needs Linux (setrlimit, namespaces); run model-written code there")
            # The probe runs this interpreter: inside a user namespace it may not be reachable (under /root, say)
            probe = [sys.executable, "-I", "-S", "-c", ""]
            if os.geteuid() == 0 and unshare and _probe([unshare, *_NS, *probe]):
                _mode = "root"
            elif os.geteuid() == 0:
                _mode = "root-plain"
            elif unshare and _probe([unshare, "--user", "--map-root-user", *_NS, *probe]):
                _mode = "userns"
            else:
                _mode = "plain"
        return _mode


def isolation() -> dict[str, str]:
    """Which layer enforces what on this machine (printed by notebooks that run model-written code)."""
    mode = _isolation_mode()
    ns = mode in ("root", "userns")
    return {
        "mode": mode,
        "process": "fresh `python -I -S -u` subprocess with setrlimit CPU, AS, FSIZE, NOFILE, CORE=0, NPROC",
        "user": "own uid per run (setuid after the limits)" if mode.startswith("root") else "caller's user",
        "network": ("network namespace (unshare --net) + Python guard" if ns else "Python guard only (socket audit hook)"),
        "processes": ("PID namespace: all die with the child; + group kill" if ns
                      else "process group kill + psutil descendant sweep (best effort)")
                     + (" + uid sweep" if mode.startswith("root") else ""),
        "files": ("read-only file system except the run's own tmpfs (mount namespace) + Python guard" if ns
                  else "uid permissions (OS) + Python guard for world-writable places" if mode == "root-plain"
                  else "Python guard only (audit hook refusing writes outside the work directory)"),
        "verdict": "written by a supervisor process; the run answers on its own pipe, one answer per test",
    }


def _take_uid() -> int:
    import psutil

    with _uid_lock:
        busy = {p.info["uids"].real for p in psutil.process_iter(["uids"]) if p.info["uids"]}
        for _ in range(_UID_SLOTS):
            uid = UID_BASE + random.randrange(_UID_SLOTS)
            if uid not in _uids_in_use and uid not in busy:
                _uids_in_use.add(uid)
                return uid
    raise SftkitError("sandbox: no free uid slot")


def _user_tasks() -> int:
    """Tasks (threads count: RLIMIT_NPROC counts them) of this user now."""
    import psutil

    uid, n = os.getuid(), 0
    for p in psutil.process_iter(["uids", "num_threads"]):
        if p.info["uids"] and p.info["uids"].real == uid:
            n += p.info["num_threads"] or 1
    return n


def _kill_all(proc: subprocess.Popen, uid: int | None, wrapped: bool) -> None:
    """Kill everything the run started: its descendants (and, as root, every live process of its uid) first,
    so that each dies where its own parent reaps it (the PID namespace's init reaps what it started when it
    dies, `unshare` reaps the init, we reap `unshare`); then the process group; then `proc` itself."""
    import psutil

    try:
        top = psutil.Process(proc.pid)
        known = top.children(recursive=True) + ([] if wrapped else [top])
    except psutil.Error:  # already ended (and reaped by `poll`)
        known = []
    for p in known:
        with contextlib.suppress(psutil.Error):
            p.kill()
    if uid is not None:
        _kill_uid(uid)
    if wrapped:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)  # `unshare` exits as soon as its child is gone
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()
    if uid is not None:
        _kill_uid(uid)


def _kill_uid(uid: int, patience: float = 5.0) -> None:
    """Kill every live process of `uid` until none is left (zombies hold nothing but a pid; init reaps them)."""
    import psutil

    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        left = [p for p in psutil.process_iter(["uids", "status"]) if p.info["uids"] and p.info["uids"].real == uid
                and p.info["status"] != psutil.STATUS_ZOMBIE]
        if not left:
            return
        for p in left:
            with contextlib.suppress(psutil.Error):
                p.kill()
        time.sleep(0.01)


def _normalize_tests(tests: Sequence, entry: str) -> list[dict]:
    """[arg, expected] pairs and {"call": ..., "expected": ...} dicts -> {"call", "arg"?, "expected"} dicts."""
    out = []
    for i, t in enumerate(tests):
        if isinstance(t, dict):
            if "call" not in t or "expected" not in t:
                raise SftkitError(f"sandbox: test {i} needs 'call' and 'expected' keys, got {sorted(t)}")
            out.append({"call": str(t["call"]), "expected": t["expected"]})
        elif isinstance(t, (list, tuple)) and len(t) == 2:
            out.append({"call": f"{entry}({t[0]!r})", "arg": t[0], "expected": t[1], "pair": True})
        else:
            raise SftkitError(f"sandbox: test {i} must be [argument, expected] or {{'call': ..., 'expected': ...}}, got {t!r}")
        try:
            out[-1]["expected"] = json.loads(json.dumps(out[-1]["expected"]))
            json.dumps(out[-1].get("arg"))
        except (TypeError, ValueError) as e:
            raise SftkitError(f"sandbox: test {i} holds a value JSON cannot carry ({e})") from None
    return out


@timed("sandbox")
def run_program(program: str, tests: Sequence = (), *, entry: str = "f", limits: Limits | None = None,
                guard: bool = True, allow_fork: bool = True) -> RunResult:
    """Run `program` (Python source) in a sandboxed child and check it against `tests` (see the module
    docstring for the format and for what each layer enforces). Never raises for anything the program
    does; raises `SftkitError` for malformed tests or a non-Linux machine.

    `guard=False` leaves out the Python-level audit hook (to see what the OS layers alone hold);
    `allow_fork=False` makes the guard refuse os.fork too."""
    limits = limits or Limits()
    norm = _normalize_tests(tests, entry)
    mode = _isolation_mode()
    if mode == "plain" and os.environ.get(_PLAIN_ENV) != "1":
        raise SftkitError("sandbox: no OS isolation here (not root, and no user namespace could start this "
                          "interpreter), so a program could kill or write as your user; run as root, allow "
                          "unprivileged user namespaces (Ubuntu: sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0), "
                          f"or set {_PLAIN_ENV}=1 to accept that risk")
    mount = mode in ("root", "userns")
    run_id = f"sftkit-sandbox-{uuid.uuid4().hex[:12]}"
    uid = _take_uid() if mode.startswith("root") else None
    nproc = limits.nproc if uid is not None or mode == "userns" else _user_tasks() + limits.nproc
    # With namespaces the work directory is a tmpfs inside the run's private mount namespace: it never exists
    # out here and vanishes with the run, even if this process is killed.
    workdir = f"/tmp/{run_id}" if mount else tempfile.mkdtemp(prefix=f"{run_id}-")
    res_r, res_w = os.pipe()
    proc = None
    out, err, res = bytearray(), bytearray(), bytearray()
    timed_out = over = False
    start = time.monotonic()
    try:
        if not mount:
            os.chmod(workdir, 0o700)
            if uid is not None:
                os.chown(workdir, uid, uid)
        job = json.dumps({
            "program": program, "entry": entry, "result_fd": res_w, "uid": uid, "guard": guard,
            "no_fork": not allow_fork, "got_cap": _GOT_CAP, "workdir": workdir, "mount": mount,
            "plain": not mount, "caller": os.getpid(), "disk_mb": max(4 * limits.fsize_mb, 16),
            "tests": [{"arg": t["arg"]} if t.get("pair") else {"call": t["call"]} for t in norm],
            "limits": {"RLIMIT_CPU": max(1, math.ceil(limits.cpu_seconds)), "RLIMIT_AS": limits.memory_mb << 20,
                       "RLIMIT_FSIZE": limits.fsize_mb << 20, "RLIMIT_NOFILE": limits.nofile, "RLIMIT_CORE": 0,
                       "RLIMIT_NPROC": nproc},
        }).encode()
        cmd = [sys.executable, "-I", "-S", "-u", "-c", _HARNESS, run_id]
        if mode == "root":
            cmd = [shutil.which("unshare"), *_NS, "--", *cmd]
        elif mode == "userns":
            cmd = [shutil.which("unshare"), "--user", "--map-root-user", *_NS, "--", *cmd]
        # The first process dies with this one (PR_SET_PDEATHSIG): `unshare` by SIGKILL (its --kill-child then
        # ends the namespace), the supervisor of a plain run by SIGTERM (it kills the run and removes its files).
        setpriv, preexec = shutil.which("setpriv"), None
        sig = "KILL" if mount else "TERM"
        if setpriv:
            cmd = [setpriv, f"--pdeathsig={sig}", "--", *cmd]
        else:
            preexec = _pdeathsig(signal.SIGKILL if mount else signal.SIGTERM)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir}
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                pass_fds=(res_w,), cwd="/" if mount else workdir, env=env, start_new_session=True,
                                close_fds=True, preexec_fn=preexec)
        os.close(res_w)
        res_w = -1
        timed_out, over = _pump(proc, job, res_r, out, err, res, limits, start)
        if not (timed_out or over):
            try:
                proc.wait(timeout=max(0.0, start + limits.timeout - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
    finally:
        duration = time.monotonic() - start
        try:
            if proc is not None:
                _kill_all(proc, uid, wrapped=mode in ("root", "userns"))
        finally:
            if uid is not None:
                _kill_uid(uid)
                with _uid_lock:
                    _uids_in_use.discard(uid)
            for f in (proc.stdin, proc.stdout, proc.stderr) if proc is not None else ():
                with contextlib.suppress(OSError):
                    f.close()
            for fd in (res_r, res_w):
                if fd >= 0:
                    os.close(fd)
            if not mount:
                shutil.rmtree(workdir, onerror=_force_remove)
    return _result(norm, bytes(out), bytes(err), bytes(res), proc.returncode, timed_out, over, duration, limits,
                   run_id, workdir, uid)


def _pdeathsig(sig: int):
    """A preexec_fn (used where `setpriv` is missing) asking the kernel to send `sig` when this process dies."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec():
        prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
    return preexec


def _force_remove(func, path, exc_info):
    """rmtree's error handler: the program may have made a directory unwritable; make it writable and retry."""
    with contextlib.suppress(OSError):
        os.chmod(os.path.dirname(path), 0o700)
        os.chmod(path, 0o700)
    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def _pump(proc, job: bytes, res_r: int, out: bytearray, err: bytearray, res: bytearray, limits: Limits,
          start: float) -> tuple[bool, bool]:
    """Feed the job to stdin and read stdout, stderr and results with caps until all close or time runs out.
    Returns (timed_out, over_the_output_cap)."""
    sel = selectors.DefaultSelector()
    os.set_blocking(proc.stdin.fileno(), False)
    sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "in")
    for fd, name in ((proc.stdout.fileno(), "out"), (proc.stderr.fileno(), "err"), (res_r, "res")):
        sel.register(fd, selectors.EVENT_READ, name)
    bufs, sent = {"out": out, "err": err, "res": res}, 0
    try:
        while sel.get_map():
            left = start + limits.timeout - time.monotonic()
            if left <= 0:
                return True, False
            for key, _ in sel.select(min(left, 0.25)):
                fd, name = key.fd, key.data
                if name == "in":
                    try:
                        sent += os.write(fd, job[sent:sent + 65536])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # the child died early: what it left says why
                        sent = len(job)
                    if sent >= len(job):
                        sel.unregister(fd)
                        proc.stdin.close()
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    sel.unregister(fd)
                    continue
                buf = bufs[name]
                if name == "res":
                    buf += chunk
                    if len(buf) > _RESULT_CAP:
                        return False, True
                else:
                    room = limits.max_output - len(out) - len(err)
                    buf += chunk[:max(room, 0)]
                    if len(chunk) > room:
                        return False, True
            if b'"end": true' in res and proc.poll() is not None:
                return False, False  # finished; a stray holder of the pipes is killed next
        return False, False
    finally:
        sel.close()


def _signal_name(rc: int | None) -> str | None:
    if rc is None or rc >= 0:
        return None
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def _result(norm, out, err, res, rc, timed_out, over, duration, limits, run_id, workdir, uid) -> RunResult:
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    messages = []
    for line in res.decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            messages.append(json.loads(line))
    setup = next((m["setup"] for m in messages if "setup" in m), None)
    if setup is not None:
        raise SftkitError(f"sandbox: could not set up the run's isolation ({setup})")
    rc = next((m["exit"] for m in messages if "exit" in m), rc)
    forged = next((m["forged"] for m in messages if "forged" in m), None)
    load = next((m["load"] for m in messages if "load" in m), None)
    done = any(m.get("done") for m in messages)
    cpu = any(m.get("cpu") for m in messages)
    by_index = {m["test"]: m for m in messages if isinstance(m.get("test"), int)}
    tests = []
    for i, t in enumerate(norm):
        tr = TestResult(i, t["call"], t["expected"])
        m = by_index.get(i)
        if m is None:
            tr.error_type, tr.error = "NotRun", "not run"
        elif "error" in m:
            tr.error_type = m["error"]["type"]
            tr.error = f"{m['error']['type']}: {m['error']['message']}".rstrip(": ")
            tr.traceback = m["error"].get("traceback", "")
        else:
            got = m["got"]
            if "json" in got:
                tr.got = json.loads(got["json"])
                tr.passed = tr.got == t["expected"]
            else:
                tr.got = got["repr"]
        tests.append(tr)
    kw = dict(tests=tests, stdout=stdout, stderr=stderr, truncated=over, duration=duration, returncode=rc,
              run_id=run_id, workdir=workdir, uid=uid)
    if forged is not None:
        return RunResult(False, "ProtocolError", f"the program wrote to the harness's answer channel "
                         f"({forged}); the run was stopped and fails", **kw)
    if over:
        return RunResult(False, "OutputLimitExceeded", f"the output passed {limits.max_output} bytes; the program was "
                         f"stopped and its output truncated", **kw)
    if cpu or rc in (-signal.SIGXCPU, 152):
        return RunResult(False, "CPUTimeExceeded", f"used more than {limits.cpu_seconds} s of CPU time", **kw)
    if timed_out:
        return RunResult(False, "Timeout", f"no result within {limits.timeout:g} s (wall clock); the program was killed",
                         **kw)
    if load is not None:
        where = f" (line {load['line']})" if load.get("line") else ""
        message = load["message"] or (f"out of memory (limit {limits.memory_mb} MB)" if load["type"] == "MemoryError" else "")
        return RunResult(False, load["type"], f"{message}{where}", traceback=load["traceback"], **kw)
    if not done:
        sig = _signal_name(rc)
        if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
            return RunResult(False, "MemoryError", f"out of memory (limit {limits.memory_mb} MB)", **kw)
        if sig:
            return RunResult(False, "Killed", f"killed by {sig}", **kw)
        return RunResult(False, "Exited", f"the program ended the interpreter (exit status {rc}) before the tests "
                         "finished", **kw)
    fail = next((t for t in tests if not t.passed), None)
    if fail is None:
        return RunResult(True, None, "", **kw)
    if fail.error_type:
        m = by_index.get(fail.index, {}).get("error", {})
        return RunResult(False, fail.error_type, fail.describe(), traceback=m.get("traceback", ""), **kw)
    return RunResult(False, "WrongAnswer", fail.describe(), **kw)


@timed("sandbox")
def run_many(jobs: Iterable, *, workers: int = 2, entry: str = "f", limits: Limits | None = None,
             guard: bool = True) -> list[RunResult]:
    """Run several programs, `workers` at a time (2: this project's machines have 2 cores), results in order.
    Each job is `(program, tests)` or a dict with "program", "tests" and optionally "entry"."""
    jobs = [j if isinstance(j, dict) else {"program": j[0], "tests": j[1]} for j in jobs]
    if workers < 1:
        raise SftkitError(f"sandbox: workers must be at least 1, got {workers}")

    def one(job):
        return run_program(job["program"], job.get("tests", ()), entry=job.get("entry", entry), limits=limits,
                           guard=guard)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, jobs))


def run_record(record: dict, program: str | None = None, **kw) -> RunResult:
    """Run a tiny-world code record's tests on `program` (default: the record's own gold answer)."""
    if "tests" not in record.get("meta", {}):
        raise SftkitError(f"sandbox: record {record.get('id')!r} has no meta.tests (not a code record)")
    return run_program(record["answer"] if program is None else program, record["meta"]["tests"], **kw)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator of Chen et al. (2021): with n samples of which c are correct,
    1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i=n-c+1}^{n} (1 - k/i) (no huge binomials)."""
    if not (0 <= c <= n and 1 <= k <= n):
        raise SftkitError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


__all__ = ["UID_BASE", "Limits", "RunResult", "TestResult", "isolation", "pass_at_k", "run_many", "run_program",
           "run_record"]
