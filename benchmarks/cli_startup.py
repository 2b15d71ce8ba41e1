"""The command line's start-up cost (issue #20): CPU seconds before any work is done.

Runs each probe ``--repeat`` times in a fresh interpreter and prints the best (least) CPU time
(user + system, from the children's rusage) and the modules it loaded. No request is made.
``idpsync sync (file, SQLite)`` is a whole run: a file connector of three people synced into a
SQLite store that is up to date (migrated and synced once before the timed runs, one store per
tree), so it is what every sync pays besides its connector's reading and the engine's work.
``--src`` measures another source tree (say a checkout of an older commit)::

    python -m benchmarks.cli_startup
    python -m benchmarks.cli_startup --src /tmp/old/src --src src
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

PROBES: dict[str, list[str]] = {
    "import idpsync.cli": ["-c", "import idpsync.cli"],
    "idpsync sync --help": ["-m", "idpsync.cli", "sync", "--help"],
    "idpsync --help": ["-m", "idpsync.cli", "--help"],
}

COUNT = (
    "import atexit, runpy, sys\natexit.register(lambda: print(len(sys.modules), file=sys.stderr))\n"
)
"""Prefix of a probe that prints, as it ends, how many modules were loaded."""


def cpu_seconds(args: list[str], env: dict[str, str]) -> float:
    """User + system CPU seconds of one ``python ARGS``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, *args], env=env, capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def modules_loaded(args: list[str], env: dict[str, str]) -> int:
    """How many modules ``python ARGS`` has loaded when it ends."""
    if args[0] == "-c":
        code = COUNT + args[1]
    else:
        code = COUNT + f"sys.argv = {['idpsync', *args[2:]]!r}\nrunpy.run_module({args[1]!r})"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return int(done.stderr.strip().splitlines()[-1])


def file_sync(folder: Path) -> list[str]:
    """A file connector of three people into a SQLite store in ``folder``: the probe's args."""
    folder.mkdir()
    people = [
        {"id": f"p{i}", "login": f"p{i}", "email": f"p{i}@example.org", "active": True}
        for i in range(3)
    ]
    (folder / "people.json").write_text(json.dumps({"users": people, "groups": []}))
    config = folder / "idpsync.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{folder / "store.db"}"\n\n'
        f'[connectors.hr.source]\ntype = "file"\npath = "{folder / "people.json"}"\n'
    )
    return ["-m", "idpsync.cli", "sync", "hr", "--config", str(config)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--src",
        type=Path,
        action="append",
        help="A source tree to measure (repeat to compare; runs alternate between them).",
    )
    parser.add_argument("--repeat", type=int, default=5, help="Runs per probe (best kept).")
    options = parser.parse_args()
    trees: list[Path] = options.src or [SRC]
    print(f"best of {options.repeat}, load average at start {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as scratch:
        syncs = {tree: file_sync(Path(scratch, str(i))) for i, tree in enumerate(trees)}
        for tree, args in syncs.items():  # the store made and migrated: not what is timed
            subprocess.run([sys.executable, *args], env=environment(tree), check=True)
        probes = [(name, {tree: args for tree in trees}) for name, args in PROBES.items()]
        probes.append(("idpsync sync (file, SQLite)", syncs))
        for name, by_tree in probes:
            seconds: dict[Path, list[float]] = {tree: [] for tree in trees}
            for _ in range(options.repeat):
                for tree in trees:
                    seconds[tree].append(cpu_seconds(by_tree[tree], environment(tree)))
            for tree in trees:
                modules = modules_loaded(by_tree[tree], environment(tree))
                print(f"{name:27} {min(seconds[tree]):5.2f} s CPU {modules:5} modules  {tree}")


def environment(tree: Path) -> dict[str, str]:
    """This process's environment with ``tree`` first on the import path."""
    return {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "100"}


if __name__ == "__main__":
    main()
