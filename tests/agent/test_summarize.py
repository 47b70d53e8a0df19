import math

from hypothesis import given
from hypothesis import strategies as st

from coral_mcp.agent.summarize import drop_unchanged, percentile, summarize
from coral_mcp.models import Sample, SummaryWindow


def test_summarize_computes_statistics_per_series() -> None:
    samples = [
        Sample(3.0, "api", "cpu", 30.0),
        Sample(1.0, "api", "cpu", 10.0),
        Sample(2.0, "api", "cpu", 20.0),
        Sample(1.0, "db", "cpu", 5.0),
    ]
    window = summarize(samples, 0, 4000)
    api, db = window.summaries
    assert (api.service, api.metric) == ("api", "cpu")
    assert (api.min, api.max, api.avg, api.count) == (10.0, 30.0, 20.0, 3)
    assert api.last == 30.0  # the latest timestamp, not the last in input order
    assert math.isclose(api.p95, 29.0)
    assert (db.min, db.max, db.last, db.count) == (5.0, 5.0, 5.0, 1)
    assert (window.start_ms, window.end_ms) == (0, 4000)


def test_summarize_of_nothing_is_an_empty_window() -> None:
    assert summarize([], 0, 1000).summaries == ()


@given(st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=50))
def test_summary_bounds_hold_for_any_values(values: list[float]) -> None:
    samples = [Sample(float(i), "s", "m", v) for i, v in enumerate(values)]
    (summary,) = summarize(samples, 0, 1).summaries
    assert summary.min <= summary.p95 <= summary.max
    assert summary.min - 1e-6 <= summary.avg <= summary.max + 1e-6
    assert summary.last == values[-1]
    assert summary.count == len(values)


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([7.0], 0.95) == 7.0


def _window(*series: tuple[str, list[float]]) -> SummaryWindow:
    samples = [
        Sample(float(i), "api", metric, v) for metric, vs in series for i, v in enumerate(vs)
    ]
    return summarize(samples, 0, 1000)


def test_steady_series_near_the_value_last_sent_are_left_out_until_a_refresh() -> None:
    state: dict[tuple[str, str], tuple[float, int]] = {}
    sent = []
    for _ in range(5):
        window = _window(("threads", [4, 4]), ("ctx", [100, 103]), ("rss", [1, 2]))
        window, state = drop_unchanged(window, state, 4)
        sent.append(sorted(s.metric for s in window.summaries))
    # rss moves 100 % within each window: always sent; threads (flat) and ctx (within the
    # 5 % band): the first time, then every 4th window
    everything = ["ctx", "rss", "threads"]
    assert sent == [everything, ["rss"], ["rss"], ["rss"], everything]
    window, state = drop_unchanged(_window(("threads", [5, 5])), state, 4)
    assert [s.metric for s in window.summaries] == ["threads"]  # a new steady value is news
    # a series absent from a window (its service resting) is not news when it comes back
    window, state = drop_unchanged(_window(("threads", [5, 5]), ("ctx", [104, 104])), state, 4)
    assert [s.metric for s in window.summaries] == []
    for _ in range(4):
        window, state = drop_unchanged(_window(("threads", [5, 5])), state, 4)
    assert ("api", "rss") not in state  # series gone for refresh_every windows are forgotten
