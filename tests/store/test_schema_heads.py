"""The schema check reads the migration scripts' heads without Alembic (issue #20: start-up).

:func:`idpsync.store.opening.revisions_of` reads each script's ``revision`` and
``down_revision`` literals; it must agree with Alembic's own reading of the shipped scripts, and
give up (so that Alembic is asked) on any script it cannot read plainly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from idpsync.store import opening


def test_the_scripts_heads_and_revisions_agree_with_alembic() -> None:
    script = ScriptDirectory.from_config(opening._alembic_config())
    graph = opening.revisions_of(opening.MIGRATIONS / "versions")
    assert graph is not None
    assert set(graph) == {rev.revision for rev in script.walk_revisions()}
    assert opening._scripts() == (
        frozenset(script.get_heads()),
        frozenset(rev.revision for rev in script.walk_revisions()),
    )


def script(folder: Path, name: str, body: str) -> None:
    (folder / name).write_text(f'"""A migration."""\n{body}\n', encoding="utf-8")


def test_a_merge_and_a_branch_give_their_heads(tmp_path: Path) -> None:
    script(tmp_path, "a.py", 'revision = "a"\ndown_revision = None')
    script(tmp_path, "b.py", 'revision: str = "b"\ndown_revision: str | None = "a"')
    script(tmp_path, "c.py", 'revision = "c"\ndown_revision = "a"')
    script(tmp_path, "m.py", 'revision = "m"\ndown_revision = ("b", "c")')
    script(tmp_path, "x.py", 'revision = "x"\ndown_revision = "m"')
    script(tmp_path, "y.py", 'revision = "y"\ndown_revision = "m"')
    (tmp_path / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / ".#x.py").write_text("editor's lock file", encoding="utf-8")
    graph = opening.revisions_of(tmp_path)
    assert graph == {"a": (), "b": ("a",), "c": ("a",), "m": ("b", "c"), "x": ("m",), "y": ("m",)}
    assert opening._heads_of(graph) == {"x", "y"}


@pytest.mark.parametrize(
    "body",
    [
        "revision = make_id()\ndown_revision = None",  # not a literal
        "down_revision = None",  # no revision
        'revision = "b"',  # no down_revision
        'revision = ""\ndown_revision = None',  # empty
        'revision = "b"\nrevision = "c"\ndown_revision = None',  # twice
        'revision = "b"\ndown_revision = 3',  # not a revision
        'revision = "a"\ndown_revision = None',  # a revision stated twice
        "revision = (",  # not Python
    ],
)
def test_a_script_not_read_plainly_leaves_it_to_alembic(tmp_path: Path, body: str) -> None:
    script(tmp_path, "a.py", 'revision = "a"\ndown_revision = None')
    script(tmp_path, "b.py", body)
    assert opening.revisions_of(tmp_path) is None
