from pathlib import Path

from coral_mcp.agent.ring_store import RingStore
from coral_mcp.models import Event, Sample, Severity


def _samples(start_s: float, n: int, service: str = "api") -> list[Sample]:
    return [Sample(start_s + i, service, "rss_bytes", float(i)) for i in range(n)]


def test_ring_store_returns_samples_in_time_order_within_range(tmp_path: Path) -> None:
    store = RingStore(tmp_path / "ring.sqlite", max_age_s=3600, max_bytes=10_000_000)
    store.append(reversed(_samples(1000, 10)))
    got = store.read(1003, 1006)
    assert [s.ts_s for s in got] == [1003, 1004, 1005]
    assert got[0] == Sample(1003, "api", "rss_bytes", 3.0)


def test_ring_store_evicts_samples_older_than_max_age(tmp_path: Path) -> None:
    store = RingStore(tmp_path / "ring.sqlite", max_age_s=100, max_bytes=10_000_000)
    store.append(_samples(0, 300))
    dropped = store.evict(now_s=300)
    assert dropped == 200
    assert store.oldest_s() == 200
    assert store.count() == 100


def test_ring_store_evicts_oldest_first_when_over_byte_bound(tmp_path: Path) -> None:
    bound = 256 * 1024
    store = RingStore(tmp_path / "ring.sqlite", max_age_s=10**9, max_bytes=bound)
    newest = 0.0
    for batch in range(40):
        samples = _samples(batch * 1000, 1000)
        newest = samples[-1].ts_s
        store.append(samples)
        store.evict(now_s=newest)
        assert store.used_bytes() <= bound
    # What remains is the newest data, contiguous up to the last sample.
    oldest = store.oldest_s()
    assert oldest is not None and oldest > 0
    kept = store.read(oldest, newest + 1)
    assert kept[-1].ts_s == newest
    assert len(kept) == store.count() == newest - oldest + 1


def test_ring_store_file_stops_growing_once_bound_is_reached(tmp_path: Path) -> None:
    path = tmp_path / "ring.sqlite"
    store = RingStore(path, max_age_s=10**9, max_bytes=512 * 1024)
    sizes = []
    for batch in range(60):
        store.append(_samples(batch * 1000, 1000))
        store.evict(now_s=batch * 1000 + 999)
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes.append(path.stat().st_size)
    # After warm-up, freed pages are reused: the file does not keep growing.
    assert max(sizes[30:]) <= max(sizes[:30]) * 1.1


def test_ring_store_keeps_samples_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ring.sqlite"
    store = RingStore(path, max_age_s=3600, max_bytes=10_000_000)
    store.append(_samples(50, 5))
    store.close()
    reopened = RingStore(path, max_age_s=3600, max_bytes=10_000_000)
    assert [s.value for s in reopened.read(0, 100)] == [0, 1, 2, 3, 4]


def test_ring_store_keeps_events_across_reopen_newest_first(tmp_path: Path) -> None:
    ring = RingStore(tmp_path / "ring.sqlite", 3600, 10_000_000)
    ring.append_events(
        [
            Event(1_000, "api", "crash", Severity.CRITICAL, "boom", (("exit_code", "3"),)),
            Event(2_000, "api", "restart", Severity.WARNING, "again", ()),
        ]
    )
    ring.close()
    reopened = RingStore(tmp_path / "ring.sqlite", 3600, 10_000_000)
    events = reopened.read_events(0, 10_000, 10)
    assert [(e.kind, e.attributes) for e in events] == [
        ("restart", ()),
        ("crash", (("exit_code", "3"),)),
    ]
    reopened.evict(now_s=3600 + 1.5)  # the crash (t=1 s) is now older than an hour
    assert [e.kind for e in reopened.read_events(0, 10_000, 10)] == ["restart"]
