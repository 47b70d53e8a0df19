"""`coral eval`: replay every case below a directory and score the rankings."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from coral_mcp.analysis.accuracy import Scored
from coral_mcp.analysis.detect import Series
from coral_mcp.analysis.reference_rankers import baro, default_onset, rank_of, traversal
from coral_mcp.analysis.topology import ServiceGraph
from coral_mcp.errors import ConfigError
from coral_mcp.intelligence.replay import Case, load_case, replay
from coral_mcp.models.intelligence import InvestigationResult, Outcome

#: The reference rankers `--compare` runs beside Coral (analysis/reference_rankers.py).
REFERENCES = ("baro", "traversal")


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    name: str
    case: Case
    result: InvestigationResult
    seconds: float
    #: The directory below the evaluated root that holds the case ("" at the root).
    dataset: str = ""
    #: The root cause's rank by each reference ranker (with --compare).
    references: dict[str, int | None] = field(default_factory=dict)

    @property
    def unclear(self) -> bool:
        """Coral answered "no clear root cause" (or saw no anomaly at all)."""
        return self.result.outcome in (Outcome.NO_CLEAR_ROOT_CAUSE, Outcome.NO_SIGNIFICANT_ANOMALY)

    def reference_scored(self, ranker: str) -> Scored:
        label = self.case.label
        kind = (label.kind if label else None) or "unknown"
        return Scored(kind, self.references.get(ranker), 0.0)

    @property
    def rank(self) -> int | None:
        label = self.case.label
        if label is None:
            return None
        for i, h in enumerate(self.result.hypotheses, start=1):
            if h.service == label.service:
                return i
        return None

    @property
    def correct_none(self) -> bool:
        """A case with no fault answered with "no significant anomaly"."""
        return self.case.label is None and self.result.outcome is Outcome.NO_SIGNIFICANT_ANOMALY

    def scored(self) -> Scored:
        label = self.case.label
        kind = (label.kind if label else None) or "unknown"
        predictions = tuple(
            (h.confidence, label is not None and h.service == label.service)
            for h in self.result.hypotheses
        )
        top = self.result.hypotheses[0] if self.result.hypotheses else None
        kind_right = self.rank == 1 and top is not None and top.kind.value == kind
        return Scored(kind, self.rank, self.seconds, predictions, kind_right, self.unclear)


def find_cases(root: Path) -> list[Path]:
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory", hint="give a directory of replay cases")
    found = sorted(p.parent for p in root.rglob("metrics.csv"))
    if not found:
        raise ConfigError(f"{root}: no cases (no metrics.csv below it)")
    return found


def case_series(case: Case) -> list[Series]:
    """The case's metrics as series (sorted by time), as the references read them."""
    grouped: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for ts_s, service, metric, value in case.metrics:
        grouped.setdefault((service, metric), []).append((ts_s, value))
    out = []
    for (service, metric), points in sorted(grouped.items()):
        points.sort()
        ts = np.array([p[0] for p in points])
        out.append(Series(service, metric, ts, np.array([p[1] for p in points])))
    return out


def reference_ranks(case: Case) -> dict[str, int | None]:
    """The root cause's rank by each reference ranker (None: no label or no onset)."""
    if case.label is None:
        return {}
    series = case_series(case)
    onset = case.incident_time.timestamp() if case.incident_time else default_onset(series)
    if onset is None:
        return dict.fromkeys(REFERENCES)
    symptom = case.symptom.service if case.symptom else None
    graph = ServiceGraph(case.edges)
    return {
        "baro": rank_of(baro(series, onset), case.label.service),
        "traversal": rank_of(traversal(series, onset, graph, symptom), case.label.service),
    }


async def run_case(path: Path, root: Path | None = None, compare: bool = False) -> CaseOutcome:
    """Replay one case; its time is the investigation's own (reading and analysis, not
    the import of the case)."""
    case = load_case(path)
    with tempfile.TemporaryDirectory(prefix="coral-replay-") as tmp:
        result = await replay(case, Path(tmp))
    refs = reference_ranks(case) if compare else {}
    return CaseOutcome(
        path.name, case, result, result.duration_ms / 1000, dataset_of(root, path), refs
    )


def dataset_of(root: Path | None, path: Path) -> str:
    """The first directory below `root` on the way to the case ("" for cases at the
    root's own level)."""
    if root is None:
        return ""
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else ""


#: Cases replayed at once (each in its own store): imports overlap, analysis does not.
CONCURRENT_CASES = 4


def run_all(
    root: Path, compare: bool = False, progress: Callable[[int, int], None] | None = None
) -> list[CaseOutcome]:
    """Replay every case below `root`; `progress(done, total)` after each one."""
    paths = find_cases(root)

    async def main() -> list[CaseOutcome]:
        gate = asyncio.Semaphore(CONCURRENT_CASES)
        done = 0

        async def one(path: Path) -> CaseOutcome:
            nonlocal done
            async with gate:
                outcome = await run_case(path, root, compare)
            done += 1
            if progress is not None:
                progress(done, len(paths))
            return outcome

        return list(await asyncio.gather(*(one(p) for p in paths)))

    return asyncio.run(main())
