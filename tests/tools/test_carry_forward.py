from datetime import UTC, datetime, timedelta

from coral_mcp.models import MetricPoint
from coral_mcp.tools.metrics import CARRY_S, carry_forward

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def point(minute: int, value: float, count: int = 4) -> MetricPoint:
    return MetricPoint(T0 + timedelta(minutes=minute), value, value, value, value, value, count)


def test_empty_buckets_after_a_report_repeat_it_with_count_zero() -> None:
    filled = carry_forward([point(0, 5.0), point(3, 7.0)], 60, T0 + timedelta(minutes=4))
    assert [(p.ts.minute, p.last, p.count) for p in filled] == [
        (0, 5.0, 4),
        (1, 5.0, 0),
        (2, 5.0, 0),
        (3, 7.0, 4),
    ]


def test_a_series_silent_longer_than_its_refresh_is_not_invented() -> None:
    gap = CARRY_S // 60 + 3
    filled = carry_forward([point(0, 1.0), point(gap, 2.0)], 60, T0 + timedelta(minutes=gap))
    carried = [p for p in filled if p.count == 0]
    assert len(carried) == CARRY_S // 60  # up to the refresh horizon, then a real gap
    assert all(p.ts <= T0 + timedelta(seconds=CARRY_S) for p in carried)


def test_the_tail_is_carried_up_to_the_end_of_the_range() -> None:
    filled = carry_forward([point(0, 3.0)], 60, T0 + timedelta(minutes=2))
    assert [(p.ts.minute, p.count) for p in filled] == [(0, 4), (1, 0)]
