from __future__ import annotations

from pathlib import Path

from idpsync.model import Snapshot
from idpsync.service.executor import supports_incremental
from idpsync.sources.base import DeltaResult, Progress, Source, no_progress
from idpsync.sources.file.reader import FileSource


class WithDelta(Source):
    type = "test"

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        return Snapshot()

    async def delta(
        self, state: dict[str, object], staged: Snapshot, progress: Progress = no_progress
    ) -> DeltaResult | None:
        return DeltaResult()


def test_incremental_support_is_having_a_delta_read(tmp_path: Path) -> None:
    assert not supports_incremental(FileSource(tmp_path / "people.json"))
    assert supports_incremental(WithDelta())
