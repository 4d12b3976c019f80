"""Prefect's temporary server dies with the `quietchurn` process that started it, even by SIGKILL.

Without PREFECT_API_URL a flow call starts a temporary Prefect server as a child process and stops it
at exit; a SIGKILLed parent never gets to, and the server lives on, re-parented to init. Prefect spawns
it itself, so it cannot be given a parent-death signal. Instead `guard_children()` starts this module as
a small watchdog process holding the read end of a pipe whose write end only the parent has: the pipe
reaches end-of-file exactly when the parent is gone, however it went. Meanwhile the watchdog notes the
parent's children whose command line contains the marker; at end-of-file it stops those still alive.

    python -m flows.watchdog <parent pid> <marker>
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

PREFECT_SERVER_MARKER = "prefect.server.api.server:create_app"  # the temporary server's uvicorn factory
POLL_S = 0.5


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time in clock ticks) of a live process, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[19]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def matching_children(parent: int, marker: str) -> dict[int, str]:
    """The parent's children whose command line holds `marker`: pid -> start time (to spot a reused pid)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _stat(pid)
        if stat and stat[0] == parent and pid != os.getpid() and marker in _cmdline(pid):  # not the watchdog itself
            found[pid] = stat[1]
    return found


def stop(pids: dict[int, str], grace_s: float = 5.0) -> list[int]:
    """SIGTERM each process that is still the one we saw (same start time), SIGKILL after the grace."""
    alive = [pid for pid, started in pids.items() if (s := _stat(pid)) and s[1] == started]
    for pid in alive:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_stat(pid) and _stat(pid)[1] == pids[pid] for pid in alive):
        time.sleep(0.1)
    for pid in alive:
        if (s := _stat(pid)) and s[1] == pids[pid]:
            os.kill(pid, signal.SIGKILL)
    return alive


def watch(parent: int, marker: str, pipe: int = 0) -> None:
    """Until `pipe` reaches end-of-file (the parent is gone), note its marked children; then stop them."""
    seen: dict[int, str] = {}
    while True:
        readable, _, _ = select.select([pipe], [], [], POLL_S)
        if readable and not os.read(pipe, 1024):
            break
        seen.update(matching_children(parent, marker))
    stop(seen)


def guard_children(marker: str = PREFECT_SERVER_MARKER) -> subprocess.Popen | None:
    """Start a watchdog for this process's marked children, once per marker (Linux only; elsewhere nothing happens).

    The write end of the pipe stays open in this process only (not inheritable) until it exits.
    """
    if not Path("/proc/self/stat").exists() or marker in _watching:
        return None
    _watching.add(marker)
    read_end, write_end = os.pipe()
    watcher = subprocess.Popen(
        [sys.executable, "-m", "flows.watchdog", str(os.getpid()), marker],
        stdin=read_end,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C at the terminal must not stop it before it has done its job
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    os.close(read_end)
    _write_ends.append(write_end)
    return watcher


_write_ends: list[int] = []  # held open until this process exits: closing one means "I am gone"
_watching: set[str] = set()  # markers already guarded by a watchdog of this process


if __name__ == "__main__":
    watch(int(sys.argv[1]), sys.argv[2])
