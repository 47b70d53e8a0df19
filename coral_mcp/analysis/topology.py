"""The service graph: who calls whom. Faults propagate from a callee to its callers."""

from __future__ import annotations

from collections.abc import Iterable


class ServiceGraph:
    """Directed caller -> callee edges, with transitive walks both ways."""

    def __init__(self, edges: Iterable[tuple[str, str]]) -> None:
        self._callees: dict[str, set[str]] = {}
        self._callers: dict[str, set[str]] = {}
        for caller, callee in edges:
            if caller == callee:
                continue
            self._callees.setdefault(caller, set()).add(callee)
            self._callers.setdefault(callee, set()).add(caller)

    def callees(self, service: str) -> frozenset[str]:
        return frozenset(self._callees.get(service, ()))

    def callers(self, service: str) -> frozenset[str]:
        return frozenset(self._callers.get(service, ()))

    def dependencies(self, service: str) -> frozenset[str]:
        """Everything `service` calls, directly or through others."""
        return _reach(service, self._callees)

    def dependents(self, service: str) -> frozenset[str]:
        """Everything that calls `service`, directly or through others."""
        return _reach(service, self._callers)

    def services(self) -> frozenset[str]:
        """Every service on an edge."""
        return frozenset(self._callees) | frozenset(self._callers)

    def __len__(self) -> int:
        return sum(len(v) for v in self._callees.values())


def _reach(start: str, links: dict[str, set[str]]) -> frozenset[str]:
    seen: set[str] = set()
    stack = list(links.get(start, ()))
    while stack:
        node = stack.pop()
        if node in seen or node == start:
            continue
        seen.add(node)
        stack.extend(links.get(node, ()))
    return frozenset(seen)
