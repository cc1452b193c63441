"""The `make dev` stack: a process that exits is restarted without taking the others down (deploy/keep_running.py),
and the start-up port check agrees with what the servers can bind (deploy/port_check.py)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.support import VENV_BIN, free_port, port_open, wait_until

ROOT = Path(__file__).resolve().parent.parent
KEEP_RUNNING = ROOT / "deploy" / "keep_running.py"
PORT_CHECK = ROOT / "deploy" / "port_check.py"
STARTED = re.compile(r"started nats-server \(pid (\d+)\)")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def started_pids(log: Path) -> list[int]:
    return [int(pid) for pid in STARTED.findall(log.read_text())]


def new_pid(log: Path, known: list[int]) -> int | None:
    return next((pid for pid in started_pids(log) if pid not in known), None)


def kill_all(pids) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def supervise(tmp_path: Path, *command: str, options: tuple[str, ...] = ()) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "keep_running.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(KEEP_RUNNING), *options, "--", *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log


# --- keep_running.py -----------------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_killed_nats_server_is_restarted_and_sigterm_stops_both(tmp_path):
    port = free_port()
    proc, log = supervise(tmp_path, str(VENV_BIN / "nats-server"), "-a", "127.0.0.1", "-p", str(port))
    try:
        first = wait_until(lambda: new_pid(log, []), what="nats-server to start")
        wait_until(lambda: port_open(port), what="nats-server to listen")

        os.kill(first, signal.SIGKILL)
        second = wait_until(lambda: new_pid(log, [first]), what="nats-server to be restarted")
        wait_until(lambda: port_open(port), what="the restarted nats-server to listen")
        assert proc.poll() is None
        assert f"nats-server (pid {first}) was killed by SIGKILL" in log.read_text()

        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
        assert time.monotonic() - sent < 2, "the supervisor should stop as soon as nats-server has"
        assert not alive(second)
        assert not port_open(port)
    finally:
        proc.kill()
        kill_all(started_pids(log))


SIGNAL_COUNTER = """
import signal, sys, time
received = []
signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
print("ready", flush=True)
while not received:
    time.sleep(0.02)
time.sleep(0.5)  # time for a second, duplicate signal to arrive
open(sys.argv[1], "w").write(str(len(received)))
"""


def test_ctrl_c_on_the_supervisors_group_reaches_the_command_once(tmp_path):
    # A terminal's Ctrl-C goes to the whole foreground group: the command must get it through the supervisor only,
    # or a Celery worker would take the second SIGINT as a cold shutdown.
    count = tmp_path / "count"
    proc, log = supervise(tmp_path, sys.executable, "-c", SIGNAL_COUNTER, str(count))
    try:
        wait_until(lambda: "ready" in log.read_text(), what="the command to start")
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=5) == 0
        assert count.read_text() == "1"
    finally:
        proc.kill()


def test_a_command_that_ignores_sigterm_is_killed_after_the_stop_timeout(tmp_path):
    pid_file = tmp_path / "pid"
    stubborn = (
        "import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"
    )
    proc, log = supervise(tmp_path, sys.executable, "-c", stubborn, str(pid_file), options=("--stop-timeout", "0.5"))
    try:
        child = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), what="the command to start"))
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 128 + signal.SIGKILL
        assert time.monotonic() - sent < 2
        assert not alive(child)
        assert "did not stop within 0.5 s; killing it." in log.read_text()
    finally:
        proc.kill()


def test_what_a_crashed_command_leaves_in_its_group_is_killed_before_the_restart(tmp_path):
    pid_file = tmp_path / "grandchild"
    parent = (
        "import subprocess, sys, time; p = subprocess.Popen(['sleep', '600']); "
        "open(sys.argv[1], 'w').write(str(p.pid)); time.sleep(600)"
    )
    proc, log = supervise(tmp_path, sys.executable, "-c", parent, str(pid_file), options=("--name", "parent"))
    try:
        grandchild = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), what="the grandchild"))
        first = int(re.search(r"started parent \(pid (\d+)\)", log.read_text()).group(1))
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: log.read_text().count("started parent") == 2, what="the restart")
        wait_until(lambda: not alive(grandchild), timeout=2, what="the orphaned grandchild to be killed")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_a_command_that_keeps_exiting_at_once_is_given_up_on_with_a_sentence():
    result = subprocess.run(
        [sys.executable, str(KEEP_RUNNING), "--backoff", "0.05", "--", sys.executable, "-c", "raise SystemExit(3)"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.count("exited with status 3 after") == 4
    assert "giving up: python" in result.stderr
    assert "exited 5 times in a row within 10 s of starting (the last time it exited with status 3)." in result.stderr


def test_a_command_that_cannot_be_started_is_not_retried(tmp_path):
    result = subprocess.run(
        [sys.executable, str(KEEP_RUNNING), "--", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 127
    assert "cannot start missing" in result.stderr and "No such file or directory; giving up." in result.stderr


def test_every_process_of_the_dev_procfile_is_kept_running():
    lines = [line for line in (ROOT / "deploy" / "Procfile.dev").read_text().splitlines() if line.strip()]
    assert {line.split(":")[0] for line in lines} == {"nats", "web", "worker", "beat"}
    for line in lines:
        assert line.split(":", 1)[1].strip().startswith('exec "$VENV/bin/python" deploy/keep_running.py -- '), line


@pytest.mark.integration
def test_under_honcho_killing_nats_server_leaves_the_other_processes_running(tmp_path):
    # The nats line of the real dev Procfile, next to a stand-in for web, worker and beat.
    procfile_dev = (ROOT / "deploy" / "Procfile.dev").read_text().splitlines()
    nats_line = next(line for line in procfile_dev if line.startswith("nats:"))
    port = free_port()
    (tmp_path / "nats.conf").write_text(f"listen: 127.0.0.1:{port}\n")
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"{nats_line}\nother: exec {sys.executable} -c 'import time; time.sleep(600)'\n")
    (tmp_path / "empty.env").write_text("")
    env = {**os.environ, "VENV": str(VENV_BIN.parent), "NATS_CONFIG_DIR": str(tmp_path)}
    log = tmp_path / "honcho.log"
    with open(log, "wb") as out:
        honcho = subprocess.Popen(
            [str(VENV_BIN / "honcho"), "-f", procfile, "-d", ROOT, "-e", tmp_path / "empty.env", "start"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        first = wait_until(lambda: new_pid(log, []), what="nats-server to start under honcho")
        other = int(wait_until(lambda: re.findall(r"other\.1 started \(pid=(\d+)\)", log.read_text()), what="other")[0])
        wait_until(lambda: port_open(port), what="nats-server to listen")

        os.kill(first, signal.SIGKILL)
        second = wait_until(lambda: new_pid(log, [first]), what="nats-server to be restarted")
        wait_until(lambda: port_open(port), what="the restarted nats-server to listen")
        time.sleep(0.5)  # honcho polls its processes every 0.1 s
        assert honcho.poll() is None, log.read_text()
        assert alive(other), log.read_text()

        honcho.send_signal(signal.SIGINT)
        honcho.wait(timeout=10)
        assert not alive(second) and not alive(other)
        assert "sending SIGKILL" not in log.read_text(), "every process should stop on honcho's SIGTERM"
    finally:
        if honcho.poll() is None:
            honcho.terminate()  # honcho stops its processes, which run in their own sessions
            try:
                honcho.wait(timeout=10)
            except subprocess.TimeoutExpired:
                honcho.kill()
                honcho.wait()
        kill_all(started_pids(log))


# --- port_check.py -------------------------------------------------------------------------------------------


def port_check(*specs: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PORT_CHECK), *specs], capture_output=True, text=True, timeout=30)


def listener(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as daphne, nats-server and redis-server do
    server.bind((host, port))
    server.listen()
    return server


def tcp_states(port: int) -> set[str]:
    """The states (hex, as in /proc/net/tcp) of the sockets on the local port."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return {row.split()[3] for row in rows if int(row.split()[1].split(":")[1], 16) == port}


def test_a_port_with_a_listener_is_in_use():
    with listener() as server:
        port = server.getsockname()[1]
        result = port_check(f"WEB_PORT=127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr == (
        f"error: port {port} (WEB_PORT) is already in use; stop what holds it or set WEB_PORT to another port.\n"
    )


def test_a_port_left_with_time_wait_sockets_only_is_free():
    # A stack stopped a moment ago: its server closed the connections first, so the server side is in TIME_WAIT.
    with listener() as server:
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()
        client.recv(1)
        client.close()
    assert "06" in tcp_states(port), "expected a TIME_WAIT socket"
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # what a check without SO_REUSEADDR sees

    result = port_check(f"NATS_PORT=127.0.0.1:{port}")
    assert result.returncode == 0, result.stderr
    with listener(port=port):  # and the servers can indeed listen there
        pass


def test_a_free_port_is_free():
    result = port_check(f"WEB_PORT=127.0.0.1:{free_port()}", f"NATS_PORT=127.0.0.1:{free_port()}")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_the_port_is_checked_on_the_address_the_server_will_listen_on():
    with listener("127.0.0.2") as server:
        port = server.getsockname()[1]
        assert port_check(f"WEB_PORT=127.0.0.1:{port}").returncode == 0
        assert "already in use" in port_check(f"WEB_PORT=127.0.0.2:{port}").stderr


def test_every_port_in_use_is_named_and_an_address_not_on_this_machine_is_explained():
    with listener() as first, listener() as second:
        ports = first.getsockname()[1], second.getsockname()[1]
        result = port_check(f"NATS_PORT=127.0.0.1:{ports[0]}", f"NATS_WS_PORT=127.0.0.1:{ports[1]}")
    assert result.returncode == 1
    assert f"port {ports[0]} (NATS_PORT) is already in use" in result.stderr
    assert f"port {ports[1]} (NATS_WS_PORT) is already in use" in result.stderr

    result = port_check("WEB_PORT=192.0.2.1:8000")
    assert result.returncode == 1
    assert result.stderr == "error: cannot listen on 192.0.2.1:8000 (WEB_PORT): Cannot assign requested address.\n"


@pytest.mark.parametrize("spec", ["WEB_PORT=8000", "WEB_PORT=127.0.0.1:http", "=127.0.0.1:8000", "P=127.0.0.1:70000"])
def test_a_malformed_port_is_a_usage_error(spec):
    result = port_check(spec)
    assert result.returncode == 2
    assert "expected NAME=HOST:PORT with a port number from 1 to 65535" in result.stderr
