"""Ranking along the topology, change priors, and invariance to a shift in time."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coral_mcp.analysis.accuracy import Scored, calibration
from coral_mcp.analysis.baselines import ALL_HOURS, baseline_at, learn_baselines
from coral_mcp.analysis.detect import MetricAnomaly, Series
from coral_mcp.analysis.ranking import none_confidence, rank_candidates
from coral_mcp.analysis.topology import ServiceGraph
from coral_mcp.models import Event, Severity

T0 = 1_700_000_000.0
CHAIN = ServiceGraph([("web", "api"), ("api", "db")])


def anomaly(service: str, onset: float, score: float, metric: str = "latency_ms") -> MetricAnomaly:
    return MetricAnomaly(service, metric, "level_shift", onset, onset, score, 1.0, 0.5, 1)


def incident(t0: float) -> tuple[list[MetricAnomaly], list[Event]]:
    found = [
        anomaly("db", t0, 12.0),
        anomaly("api", t0 + 60, 30.0),
        anomaly("web", t0 + 120, 40.0),
        anomaly("batch", t0 - 1800, 9.0, "cpu_percent"),
    ]
    events = [Event(int((t0 - 300) * 1000), "web", "deploy", Severity.INFO, "unrelated")]
    return found, events


def test_the_anomalous_service_with_healthy_dependencies_ranks_first() -> None:
    found, events = incident(T0)
    ranked = rank_candidates(found, events, CHAIN)
    assert [c.service for c in ranked][:1] == ["db"]
    victims = {c.service: c for c in ranked}
    assert victims["api"].anomalous_dependencies == ("db",)
    assert set(victims["db"].explained) == {"api", "web"}


def test_a_deploy_just_before_the_onset_is_a_strong_prior() -> None:
    found = [anomaly("api", T0, 10.0), anomaly("db", T0, 10.0), anomaly("web", T0 + 60, 10.0)]
    deploy = Event(int((T0 - 60) * 1000), "api", "deploy", Severity.INFO, "version=2")
    without = rank_candidates(found, [], CHAIN)
    with_deploy = rank_candidates(found, [deploy], CHAIN)
    score = {c.service: c.score for c in without}
    score_d = {c.service: c.score for c in with_deploy}
    assert score_d["api"] > score["api"]
    assert score_d["db"] == score["db"]


def test_confidences_with_none_of_these_are_probabilities_summing_to_one() -> None:
    found, events = incident(T0)
    ranked = rank_candidates(found, events, CHAIN)
    none = none_confidence(ranked)
    assert 0.0 < none < 1.0
    assert abs(sum(c.confidence for c in ranked) + none - 1.0) < 1e-9
    assert ranked[0].confidence == max(c.confidence for c in ranked)


def test_a_lone_weak_candidate_is_not_certain() -> None:
    weak = MetricAnomaly("api", "latency_ms", "level_shift", T0, T0, 6.5, 2.0, 1.0, 1)
    (only,) = rank_candidates([weak], [], CHAIN)
    assert only.confidence < 0.9


@settings(max_examples=30, deadline=None)
@given(shift_s=st.integers(min_value=-(10**8), max_value=10**8))
def test_shifting_every_timestamp_does_not_change_the_ranking(shift_s: int) -> None:
    found, events = incident(T0)
    shifted = [replace(a, onset_s=a.onset_s + shift_s, peak_s=a.peak_s + shift_s) for a in found]
    moved = [replace(e, ts_ms=e.ts_ms + shift_s * 1000) for e in events]
    before = [(c.service, round(c.score, 9)) for c in rank_candidates(found, events, CHAIN)]
    after = [(c.service, round(c.score, 9)) for c in rank_candidates(shifted, moved, CHAIN)]
    assert before == after


def test_no_anomalies_and_no_faults_give_no_candidates() -> None:
    quiet = [Event(int(T0 * 1000), "api", "dependency_new", Severity.INFO, "peer=db")]
    assert rank_candidates([], quiet, CHAIN) == []


def test_hour_of_day_baselines_are_learned_after_three_days() -> None:
    hours = np.arange(0, 4 * 24 * 60, 10) * 60.0  # 4 days, every 10 minutes
    night = ((hours // 3600) % 24) < 6
    values = np.where(night, 5.0, 50.0) + (np.arange(hours.size) % 3)
    learned = learn_baselines([Series("api", "cpu_percent", T0 - T0 % 86400 + hours, values)])
    table = {(b.service, b.metric, b.hour_of_day): b.stats for b in learned}
    assert ("api", "cpu_percent", ALL_HOURS) in table
    at_3am = baseline_at(table, "api", "cpu_percent", T0 - T0 % 86400 + 3 * 3600)
    at_noon = baseline_at(table, "api", "cpu_percent", T0 - T0 % 86400 + 12 * 3600)
    assert at_3am is not None and at_noon is not None
    assert at_3am.center < 10 < at_noon.center


def test_a_short_history_learns_only_the_all_hours_baseline() -> None:
    ts = T0 + 60.0 * np.arange(120)
    learned = learn_baselines([Series("api", "cpu_percent", ts, np.full(120, 3.0))])
    assert [b.hour_of_day for b in learned] == [ALL_HOURS]


def test_calibration_buckets_every_hypothesis_by_confidence() -> None:
    cases = [
        Scored("latency", 1, 0.1, ((0.9, True), (0.1, False))),
        Scored("latency", 2, 0.1, ((0.85, False), (0.15, True))),
    ]
    table = {(b.low, b.high): b for b in calibration(cases)}
    high, low = table[(0.8, 1.0)], table[(0.0, 0.2)]
    assert (high.hypotheses, high.observed) == (2, 0.5)
    assert high.mean_confidence is not None and abs(high.mean_confidence - 0.875) < 1e-9
    assert (low.hypotheses, low.observed) == (2, 0.5)
    assert table[(0.4, 0.6)].hypotheses == 0 and table[(0.4, 0.6)].observed is None
