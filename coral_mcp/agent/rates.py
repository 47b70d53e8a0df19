"""Per-second rates from monotonically growing counters, one reading at a time."""

from __future__ import annotations

from collections.abc import Hashable


class Rates:
    """Remembers the last (time, total) per key; a rate needs two readings.

    A total that went down (a counter reset, a process replaced) gives no rate for that
    reading rather than a negative one. Keys not seen in a round are dropped by
    `end_round()`, so memory follows what is watched now.
    """

    def __init__(self) -> None:
        self._last: dict[Hashable, tuple[float, float]] = {}
        self._seen: set[Hashable] = set()
        self._kept: set[Hashable] = set()

    def rate(self, key: Hashable, ts_s: float, total: float) -> float | None:
        self._seen.add(key)
        previous = self._last.get(key)
        self._last[key] = (ts_s, total)
        if previous is None:
            return None
        then_s, then_total = previous
        if ts_s <= then_s or total < then_total:
            return None
        return (total - then_total) / (ts_s - then_s)

    def end_round(self) -> None:
        for key in self._last.keys() - self._seen:
            if not (isinstance(key, tuple) and key and key[0] in self._kept):
                del self._last[key]
        self._seen = set()
        self._kept = set()

    def keep(self, owner: Hashable) -> None:
        """Keep the keys `(owner, ...)` through this round without a reading (a service
        resting this round), so its next reading still gives a rate."""
        self._kept.add(owner)
