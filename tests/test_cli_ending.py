"""``idpsync sync`` ends its process without the interpreter's teardown (cli/ending.py).

After a sync, the process's output is flushed and its ``atexit`` handlers run, then it ends
with the command's exit code, without freeing its heap object by object (an object still
alive is never finalised). Any other command, or a sync with a thread still running, ends the
ordinary way.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.test_cli_startup import SRC, file_sync

PROBE = """
import atexit, sys, threading, time


class Held:
    def __del__(self) -> None:
        sys.stderr.write("torn down\\n")


held = Held()
atexit.register(lambda: sys.stdout.write("atexit ran\\n"))
from idpsync.cli import ending, main


def busy() -> None:  # still running when the sync allows the quick end, and a while after
    waited = time.monotonic() + 30
    while not ending.allowed() and time.monotonic() < waited:
        time.sleep(0.01)
    time.sleep(0.5)


if sys.argv[1] == "thread":
    threading.Thread(target=busy).start()

sys.argv = ["idpsync", *sys.argv[2:]]
main()
"""


def idpsync(tmp_path: Path, *args: str, thread: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, "thread" if thread else "-", *args],
        cwd=tmp_path,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "COLUMNS": "100"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_sync_ends_with_its_output_and_exit_handlers_but_no_teardown(tmp_path: Path) -> None:
    done = idpsync(tmp_path, *file_sync(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "sync finished" in done.stdout
    assert done.stdout.endswith("atexit ran\n")
    assert "torn down" not in done.stderr


def test_a_sync_keeps_its_exit_code(tmp_path: Path) -> None:
    args = file_sync(tmp_path)
    (tmp_path / "people.json").write_text("{", encoding="utf-8")  # unreadable: the run fails
    done = idpsync(tmp_path, *args)
    assert done.returncode == 1
    assert "atexit ran" in done.stdout and "torn down" not in done.stderr


def test_other_commands_end_the_ordinary_way(tmp_path: Path) -> None:
    args = file_sync(tmp_path)
    assert idpsync(tmp_path, *args).returncode == 0
    done = idpsync(tmp_path, "runs", *args[2:])
    assert done.returncode == 0, done.stderr
    assert "atexit ran" in done.stdout and "torn down" in done.stderr


def test_a_sync_with_a_thread_still_running_ends_the_ordinary_way(tmp_path: Path) -> None:
    done = idpsync(tmp_path, *file_sync(tmp_path), thread=True)
    assert done.returncode == 0, done.stderr
    assert "atexit ran" in done.stdout and "torn down" in done.stderr
