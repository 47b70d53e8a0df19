"""How `coral ask` words an investigation."""

from __future__ import annotations

from coral_mcp.investigate.render import investigation

RESULT = {
    "id": "inv-1",
    "start": "2026-11-28T10:00:00Z",
    "end": "2026-11-28T11:00:00Z",
    "outcome": "ranked",
    "summary": "db crashed",
    "duration_ms": 12.0,
    "hypotheses": [],
}


def test_an_investigation_speaks_of_a_range_between_start_and_end() -> None:
    text = investigation(RESULT)
    assert text.startswith("Between 2026-11-28T10:00:00Z and 2026-11-28T11:00:00Z: db crashed")
    quiet = investigation({**RESULT, "outcome": "no_significant_anomaly"})
    assert quiet.startswith("No significant anomaly between 2026-11-28T10:00:00Z and 2026")
    assert " to 2026" not in text + quiet
