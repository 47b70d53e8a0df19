"""`coral eval`: replay every case below a directory and score the rankings."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from coral_mcp.analysis.accuracy import Scored
from coral_mcp.errors import ConfigError
from coral_mcp.intelligence.replay import Case, load_case, replay
from coral_mcp.models.intelligence import InvestigationResult, Outcome


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    name: str
    case: Case
    result: InvestigationResult
    seconds: float

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
        return Scored(kind, self.rank, self.seconds, predictions, kind_right)


def find_cases(root: Path) -> list[Path]:
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory", hint="give a directory of replay cases")
    found = sorted(p.parent for p in root.rglob("metrics.csv"))
    if not found:
        raise ConfigError(f"{root}: no cases (no metrics.csv below it)")
    return found


async def run_case(path: Path) -> CaseOutcome:
    """Replay one case; its time is the investigation's own (reading and analysis, not
    the import of the case)."""
    case = load_case(path)
    with tempfile.TemporaryDirectory(prefix="coral-replay-") as tmp:
        result = await replay(case, Path(tmp))
    return CaseOutcome(path.name, case, result, result.duration_ms / 1000)


#: Cases replayed at once (each in its own store): imports overlap, analysis does not.
CONCURRENT_CASES = 4


def run_all(root: Path) -> list[CaseOutcome]:
    paths = find_cases(root)

    async def main() -> list[CaseOutcome]:
        gate = asyncio.Semaphore(CONCURRENT_CASES)

        async def one(path: Path) -> CaseOutcome:
            async with gate:
                return await run_case(path)

        return list(await asyncio.gather(*(one(p) for p in paths)))

    return asyncio.run(main())
