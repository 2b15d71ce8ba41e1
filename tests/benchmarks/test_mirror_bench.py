from __future__ import annotations

import pytest
from benchmarks.mirror import WAYS, main


def test_every_way_of_reading_the_mirror_is_measured(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--users", "300", "--groups", "20"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "staged 300 users, 20 groups (sqlite)"
    sizes = {line[:14].strip(): line.rsplit("(", 1)[1] for line in lines[1:]}
    assert sizes == {
        "nothing": "0 items)",
        "user_ids()": "300 items)",
        "group_ids()": "20 items)",
        "managers()": "300 items)",
        "users (whole)": "300 items)",
    }
    assert list(sizes) == list(WAYS)
