"""Real parts for the SSH front door's tests and benchmarks (needs pyte, in the
`test` and `bench` extras).

- keys made by `ssh-keygen`, written into a copy of the sample plan;
- `warroom serve-ssh` as a subprocess on 127.0.0.1 at a port the server
  picked itself (`--port 0`, read back from its "listening on" line: no
  race for a free port);
- the real OpenSSH client on a pseudo-terminal of its own (so it gets its
  window size and SIGWINCH like in a terminal window), its screen read
  back through pyte, a terminal emulator.

Every wait is a bounded loop on a condition; nothing sleeps to hope.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyte

from warroom.resources import sample_plan
from warroom.ssh.pty import WindowSize, set_window_size

SAMPLE = sample_plan()
WARROOM = Path(sys.executable).parent / "warroom"
NOW = "2024-03-20T13:20:00Z"
SSH = "/usr/bin/ssh"


class MissingTool(RuntimeError):
    """A machine tool these parts need is not installed."""


def require(tool: str) -> str:
    """A machine tool the tests need; scripts/test-deps installs it, so missing is a failure
    (MissingTool: an error, not a skip)."""
    found = shutil.which(tool) or (tool if os.access(tool, os.X_OK) else None)
    if found is None:
        raise MissingTool(
            f"{tool} is missing: run scripts/test-deps (Debian: openssh-client, openssh-server)"
        )
    return found


# ---------------------------------------------------------------- keys and plans


@dataclass(frozen=True)
class Key:
    path: Path  # the private key
    public: str  # "ssh-ed25519 AAAA... comment"

    @property
    def fingerprint(self) -> str:
        out = subprocess.run(
            [require("ssh-keygen"), "-l", "-E", "sha256", "-f", str(self.path) + ".pub"],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        return out.split()[1]


def make_key(folder: Path, name: str) -> Key:
    path = folder / f"{name}_key"
    subprocess.run(
        [
            require("ssh-keygen"),
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            f"{name}@laptop",
            "-f",
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=20,
    )
    return Key(path, Path(str(path) + ".pub").read_text(encoding="utf-8").strip())


def plan_with_keys(
    folder: Path, keys: dict[str, list[str]], release: str | None = None, name: str = "plan.yaml"
) -> Path:
    """The sample plan with `ssh_keys` added to the named people (and maybe renamed)."""
    text = SAMPLE.read_text(encoding="utf-8")
    for person, publics in keys.items():
        listed = ", ".join(f'"{k}"' for k in publics)
        text, count = re.subn(
            rf"(\{{name: {re.escape(person)},[^}}]*)\}}",
            lambda match, listed=listed: f"{match.group(1)}, ssh_keys: [{listed}]}}",  # type: ignore[misc]
            text,
            count=1,
        )
        assert count == 1, f"{person} is not a person of the sample plan"
    if release is not None:
        text = re.sub(r"^release: .*$", f"release: {release}", text, count=1, flags=re.M)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def warroom(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> str:
    """Run the real `warroom` executable; fail the test with its stderr if it fails."""
    result = subprocess.run(
        [str(WARROOM), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "WARROOM_NOW": NOW, **(env or {})},
    )
    assert result.returncode == 0, f"warroom {' '.join(args)} failed: {result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


# ---------------------------------------------------------------- the server


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)

    def wait_for_line(self, pattern: str, timeout: float = 30) -> str:
        """The first output line matching `pattern` (bounded wait)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if regex.search(line):
                    return line
            time.sleep(0.02)  # polling the condition above, bounded by the deadline
        raise AssertionError(f"server never said {pattern!r}; it said:\n" + "".join(self.lines))

    def sessions(self) -> dict[int, str]:
        """Sessions' app processes still running: pid -> person (from the server's log)."""
        started: dict[str, tuple[int, str]] = {}
        for line in list(self.lines):
            match = re.search(r" (\S+): session (\w+) started \(.*pid (\d+)", line)
            if match:
                started[match.group(2)] = (int(match.group(3)), match.group(1))
            match = re.search(r": session (\w+) ended", line)
            if match:
                started.pop(match.group(1), None)
        return {pid: person for pid, person in started.values() if alive(pid)}

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
                raise AssertionError("serve-ssh did not stop within 20 s of SIGTERM") from None
        return self.process.returncode


@contextlib.contextmanager
def serve_ssh(
    db_url: str, folder: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """`warroom serve-ssh` on 127.0.0.1 at a port it picks; stopped (and checked) afterwards."""
    process = subprocess.Popen(
        [
            str(WARROOM),
            "serve-ssh",
            "--db",
            db_url,
            "--port",
            "0",
            "--host-key",
            str(folder / "host_key"),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "WARROOM_NOW": NOW, **(env or {})},
        cwd=folder,
    )
    lines: list[str] = []

    def pump() -> None:  # keep the pipe drained, whatever the test does
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    server = Server(process, 0, lines)
    try:
        try:
            found = server.wait_for_line(r"listening on 127\.0\.0\.1:(\d+)")
        except AssertionError:
            process.kill()
            raise
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", found)
        assert match is not None
        server.port = int(match.group(1))
        yield server
    finally:
        server.stop()
        reader.join(5)
    assert "Traceback" not in "".join(lines), "".join(lines)


# ---------------------------------------------------------------- the client


def _take_terminal() -> None:  # runs in the ssh child between fork and exec
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    # A client in a terminal ends when its window hangs up, even if whoever
    # started us ignores hang-ups (nohup): an ignored SIGHUP is inherited
    # across exec, and every close() would wait out its timeout instead.
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


class Terminal:
    """The real ssh client in a terminal of `columns` x `rows`, screen read through pyte."""

    def __init__(self, argv: list[str], columns: int = 120, rows: int = 36) -> None:
        self.screen = pyte.Screen(columns, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        master, slave = os.openpty()
        set_window_size(slave, WindowSize(columns, rows))
        self.master = master
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_take_terminal,  # noqa: PLW1509 - tests are single-threaded here
            env={**os.environ, "TERM": "xterm-256color"},
            close_fds=True,
        )
        os.close(slave)
        os.set_blocking(master, False)
        self.closed = False

    # reading

    def pump(self, timeout: float = 0.05) -> bool:
        """Read what the client printed within `timeout`; False once its terminal is closed."""
        if self.closed:
            return False
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        while True:
            try:
                data = os.read(self.master, 65536)
            except BlockingIOError:
                return True
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return False
            self.raw += data
            self.stream.feed(data)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def output(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if not self.pump(0.05) and not condition():
                raise AssertionError(
                    f"the ssh client closed while waiting for {what}:\n{self.text()}\n{self.output()[-2000:]!r}"
                )
        raise AssertionError(
            f"timed out after {timeout:g}s waiting for {what}; screen:\n{self.text()}"
        )

    def wait_for_text(self, needle: str, timeout: float = 30) -> None:
        self.wait_for(lambda: needle in self.text(), repr(needle), timeout)

    def wait_exit(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                while self.pump(0.05):  # what it printed last
                    if time.monotonic() > deadline:
                        break
                return code
            self.pump(0.05)
        raise AssertionError(f"ssh did not exit within {timeout:g}s; screen:\n{self.text()}")

    # acting

    def send(self, data: str | bytes) -> None:
        payload = data.encode("utf-8") if isinstance(data, str) else data
        os.write(self.master, payload)

    def resize(self, columns: int, rows: int) -> None:
        self.screen.resize(rows, columns)
        set_window_size(self.master, WindowSize(columns, rows))  # the kernel sends SIGWINCH

    def close(self) -> None:
        """Close the window: the client gets SIGHUP, as when a terminal window closes."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if not self.closed:
            self.closed = True
        with contextlib.suppress(OSError):
            os.close(self.master)


def ssh_argv(port: int, key: Path | None, user: str, *options: str) -> list[str]:
    argv = [
        require(SSH),
        "-F",
        "/dev/null",  # neither ~/.ssh/config nor /etc/ssh/ssh_config
        "-tt",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-p",
        str(port),
    ]
    if key is not None:
        argv += ["-i", str(key)]
    return [*argv, *options, f"{user}@127.0.0.1"]


@contextlib.contextmanager
def ssh_session(
    port: int, key: Path | None, user: str, *options: str, columns: int = 120, rows: int = 36
) -> Iterator[Terminal]:
    term = Terminal(ssh_argv(port, key, user, *options), columns, rows)
    try:
        yield term
    finally:
        term.close()


def is_drawn(term: Terminal, person: str, role: str) -> bool:
    """The war room is on screen: the header naming the person and role, and the footer."""
    return f"{person}  {role}" in term.screen.display[0] and "palette" in term.screen.display[-1]


# The sample plan's services, in deploy order (the deploy table's rows).
SERVICES = (
    "api-gateway",
    "auth-service",
    "logging-service",
    "user-service",
    "mobile-backend",
    "web-frontend",
)


def highlighted_service(term: Terminal) -> str | None:
    """The deploy table's cursor row: the service the table (on the right) marks as selected."""
    found = [
        name
        for text in term.screen.display
        for name in SERVICES
        if f"❯ {name} " in text[len(text) // 3 :]
    ]
    return found[0] if len(found) == 1 else None


def first_frame(term: Terminal, person: str, role: str, timeout: float = 30) -> None:
    """Wait for the war room to be drawn."""
    term.wait_for(
        lambda: is_drawn(term, person, role), f"the war room as {person} ({role})", timeout
    )


def wait_all(
    terms: list[Terminal], condition: Callable[[], bool], what: str, timeout: float = 40
) -> None:
    """Like Terminal.wait_for, reading every terminal meanwhile (so none of them stalls)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        ready, _, _ = select.select([t.master for t in terms if not t.closed], [], [], 0.05)
        for term in terms:
            if term.master in ready:
                term.pump(0)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def children_of(pid: int) -> dict[int, str]:
    """The live child processes of `pid` and their command lines (sessions' apps)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            )
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline.strip()
    return found


def alive(pid: int) -> bool:
    """Is `pid` a running (not zombie) process?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)  # polling the condition above, bounded by the deadline
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
