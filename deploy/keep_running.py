"""Run a command and start it again whenever it exits, the way a production supervisor would.

    python deploy/keep_running.py [options] -- nats-server -c nats.conf

deploy/Procfile.dev runs every process of the dev stack through this, so that one of them exiting (nats-server
stopped to watch clients reconnect, a crash) does not make honcho stop all the others. Each exit and restart
is logged; restarts wait --backoff seconds, doubling up to --max-backoff. After --max-quick-exits runs in a
row that each ended within --min-uptime seconds of starting, it gives up with a sentence and exits 1, and
honcho then stops the stack as it would have at the first exit.

The command runs in its own process group. SIGTERM and SIGINT are forwarded to that group once (a Ctrl-C or
honcho's SIGTERM to the supervisor's group does not reach the command directly, so it is not signalled twice),
and the group is killed if the command has not exited --stop-timeout seconds later; the supervisor then exits
with the command's status. Whatever is left in the group when the command exits (children of a crashed
server) is killed before the restart, and on Linux the command is sent SIGTERM if the supervisor itself is
killed: no orphan keeps holding a port.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def log(message: str) -> None:
    print(f"keep_running: {message}", file=sys.stderr, flush=True)


def describe(returncode: int) -> str:
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        return f"was killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"was killed by signal {-returncode}"


def exit_status(returncode: int) -> int:
    """A Popen return code as a shell reports it: 128 + N for a process killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def signal_group(leader: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader, signum)


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that has Linux send the child SIGTERM when this process dies (None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def arm() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the supervisor died before the request took effect
            os._exit(1)

    return arm


class Supervisor:
    def __init__(
        self,
        command: list[str],
        *,
        name: str,
        max_quick_exits: int,
        min_uptime: float,
        backoff: float,
        max_backoff: float,
        stop_timeout: float,
    ) -> None:
        self.command = command
        self.name = name
        self.max_quick_exits = max_quick_exits
        self.min_uptime = min_uptime
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stop_timeout = stop_timeout
        self._stop_signal: int | None = None
        # Signals (stop requests, SIGCHLD) write a byte here, which wakes up _sleep without polling.
        self._wakeup_read, self._wakeup_write = os.pipe()
        os.set_blocking(self._wakeup_read, False)
        os.set_blocking(self._wakeup_write, False)

    def run(self) -> int:
        signal.set_wakeup_fd(self._wakeup_write)
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        preexec = die_with_parent()
        quick_exits = 0
        delay = self.backoff
        while self._stop_signal is None:
            started = time.monotonic()
            try:
                child = subprocess.Popen(self.command, start_new_session=True, preexec_fn=preexec)  # noqa: S603 (our own argv)
            except OSError as error:
                log(f"cannot start {self.name} ({self.command[0]}): {error.strerror or error}; giving up.")
                return 127
            log(f"started {self.name} (pid {child.pid})")
            returncode = self._wait(child)
            signal_group(child.pid, signal.SIGKILL)
            if self._stop_signal is not None:
                return exit_status(returncode)
            uptime = time.monotonic() - started
            if uptime >= self.min_uptime:
                quick_exits, delay = 0, self.backoff
            else:
                quick_exits += 1
            if quick_exits >= self.max_quick_exits:
                log(
                    f"giving up: {self.name} exited {quick_exits} times in a row within {self.min_uptime:g} s of "
                    f"starting (the last time it {describe(returncode)})."
                )
                return 1
            log(f"{self.name} (pid {child.pid}) {describe(returncode)} after {uptime:.1f} s; restarting in {delay:g} s")
            self._sleep_until(time.monotonic() + delay)
            delay = min(delay * 2, self.max_backoff)
        return 0

    def _request_stop(self, signum: int, frame: object) -> None:
        if self._stop_signal is None:
            self._stop_signal = signum

    def _wait(self, child: subprocess.Popen) -> int:
        """Wait for the child to exit; on a stop request forward it once, and kill after stop_timeout."""
        deadline: float | None = None
        while (returncode := child.poll()) is None:
            if self._stop_signal is not None:
                if deadline is None:
                    signal_group(child.pid, self._stop_signal)
                    deadline = time.monotonic() + self.stop_timeout
                elif time.monotonic() >= deadline:
                    log(f"{self.name} did not stop within {self.stop_timeout:g} s; killing it.")
                    signal_group(child.pid, signal.SIGKILL)
                    return child.wait()
            self._sleep(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return returncode

    def _sleep_until(self, deadline: float) -> None:
        while self._stop_signal is None and (left := deadline - time.monotonic()) > 0:
            self._sleep(left)

    def _sleep(self, timeout: float | None) -> None:
        """Return after timeout seconds, or sooner when a signal arrives."""
        select.select([self._wakeup_read], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            os.read(self._wakeup_read, 512)


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="keep_running.py",
        usage="%(prog)s [options] -- command [args...]",
        description="Run a command and restart it whenever it exits.",
    )
    parser.add_argument("--name", help="name used in messages (default: the command's file name)")
    parser.add_argument("--max-quick-exits", type=int, default=5, help="give up after this many quick exits in a row")
    parser.add_argument("--min-uptime", type=float, default=10.0, help="a run shorter than this is a quick exit (s)")
    parser.add_argument("--backoff", type=float, default=0.5, help="first delay before a restart (s)")
    parser.add_argument("--max-backoff", type=float, default=5.0, help="longest delay before a restart (s)")
    parser.add_argument("--stop-timeout", type=float, default=4.0, help="kill the command this long after a stop (s)")
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        parser.error("give the command to run after --")
    split = argv.index("--")
    options = parser.parse_args(argv[:split])
    if options.max_quick_exits < 1:
        parser.error("--max-quick-exits must be at least 1")
    return options, argv[split + 1 :]


def main(argv: list[str]) -> int:
    options, command = parse(argv)
    return Supervisor(
        command,
        name=options.name or os.path.basename(command[0]),
        max_quick_exits=options.max_quick_exits,
        min_uptime=options.min_uptime,
        backoff=options.backoff,
        max_backoff=options.max_backoff,
        stop_timeout=options.stop_timeout,
    ).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
