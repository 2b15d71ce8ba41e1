"""Resident memory of this process, sampled by a thread: the peak per named phase.

``ru_maxrss`` only knows the peak of the whole process, so a benchmark that builds its input
first cannot tell the run's peak from the input's. :class:`RssSampler` reads the current RSS
(``/proc/self/statm``, Linux) every ``interval`` seconds and keeps the highest value seen
while each phase was current; a phase starts when :meth:`RssSampler.enter` names it (or when
a run's progress callback, :meth:`RssSampler.progress`, reports a new run phase) and lasts
until the next one. With ``trace`` set it also prints the RSS every ``trace`` seconds, so a
long run shows where its memory grows.

The sampler thread needs the GIL to read, so a phase shorter than a few switch intervals may
be missed; a pure C call that holds the GIL for long is sampled only after it returns (its
allocation is then still counted if it was kept).
"""

from __future__ import annotations

import os
import threading
import time
from types import TracebackType

from idpsync.sources.base import Event

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


def rss_bytes() -> int:
    """The current resident set size of this process, in bytes (0 off Linux)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * PAGE
    except OSError:
        return 0


class RssSampler:
    """A daemon thread keeping the peak RSS per phase (use as a context manager)."""

    def __init__(self, interval: float = 0.05, trace: float = 0.0) -> None:
        self.interval = interval
        self.trace = trace
        self.peaks: dict[str, int] = {}
        """Phase name → highest RSS in bytes seen while it was current (in order entered)."""
        self.run_label = ""
        """Prefix for the phases that :meth:`progress` reports (the run's label)."""
        self._phase = "start"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._start = time.perf_counter()

    def __enter__(self) -> RssSampler:
        self.enter("start")
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def enter(self, phase: str) -> None:
        """Make ``phase`` current (its peak starts at the RSS now)."""
        with self._lock:
            self._phase = phase
            self.peaks[phase] = max(self.peaks.get(phase, 0), rss_bytes())

    def progress(self, event: Event) -> None:
        """A run's progress callback: a new run phase becomes ``<run_label> <phase>``."""
        name = f"{self.run_label} {event.phase}"
        if name != self._phase and event.phase != "done":
            self.enter(name)

    def _sample(self) -> None:
        rss = rss_bytes()
        with self._lock:
            if rss > self.peaks.get(self._phase, 0):
                self.peaks[self._phase] = rss

    def _loop(self) -> None:
        next_trace = self.trace
        while not self._stop.wait(self.interval):
            self._sample()
            elapsed = time.perf_counter() - self._start
            if self.trace and elapsed >= next_trace:
                next_trace += self.trace
                print(
                    f"  [{elapsed:7.1f} s] RSS {rss_bytes() / MIB:6.0f} MiB  ({self._phase})",
                    flush=True,
                )

    def table(self) -> str:
        """The peak per phase, one line each, in the order the phases were entered."""
        return "\n".join(
            f"  {phase:<18} peak RSS {peak / MIB:7.0f} MiB" for phase, peak in self.peaks.items()
        )
