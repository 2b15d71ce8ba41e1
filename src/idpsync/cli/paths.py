"""Checks on files a command will write, made before the command does anything else."""

from __future__ import annotations

import os
from pathlib import Path


def unwritable(path: str) -> str | None:
    """Why a file cannot be written at ``path`` (one line), or ``None`` when it can.

    Checks what can be known without writing: the folder exists, is a folder and is writable;
    an existing file is not a folder and is writable. A full disk still shows only at the end.
    """
    target = Path(path).expanduser()
    folder = target.parent
    if target.is_dir():
        return f"{path} is a folder; give a file name, e.g. {target / 'report.json'}"
    if not folder.exists():
        return f"the folder {folder} does not exist; create it or choose another path"
    if not folder.is_dir():
        return f"{folder} is not a folder; choose another path"
    if target.exists():
        if not os.access(target, os.W_OK):
            return f"{path} is not writable; check its permissions or choose another path"
    elif not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable; check its permissions or choose another path"
    return None
