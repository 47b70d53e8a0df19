"""`@tool(rank)`: the mark that makes a function in `tools/` an MCP tool and, with `rest=`,
a REST route.

Adding a tool is one module in `tools/` (or one function in an existing one) and its test:
`tools.catalog` imports every module of the package and lists the marked functions by
rank (the order `tools/list` shows them in).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

Tool = Callable[..., Awaitable[BaseModel]]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class _Mark:
    rank: int
    rest: str | None  # its REST path under /api/v1, if it has one
    mcp: bool


_MARKS: dict[Callable[..., Any], _Mark] = {}


def tool(rank: int, rest: str | None = None, mcp: bool = True) -> Callable[[F], F]:
    """Marks an async function `(data: CoralData, **params) -> BaseModel` as an MCP tool
    listed at `rank` (lower first); with `rest`, also the REST route /api/v1/{rest} (with
    `mcp=False`, only that)."""

    def mark(function: F) -> F:
        _MARKS[function] = _Mark(rank, rest, mcp)
        return function

    return mark


def _ranked() -> list[Callable[..., Any]]:
    ranked = sorted(_MARKS, key=lambda f: _MARKS[f].rank)
    for seen in ({f.__name__ for f in ranked}, {m.rank for m in _MARKS.values()}):
        if len(seen) != len(ranked):
            raise RuntimeError(f"two tools share a name or a rank: {_MARKS}")
    return ranked


def marked() -> tuple[Tool, ...]:
    """The MCP tools by rank; a name or rank used twice is a programming error."""
    return tuple(f for f in _ranked() if _MARKS[f].mcp)


def rest_marked() -> tuple[tuple[str, Tool], ...]:
    """(REST path, function) of the functions with a REST route, by rank."""
    return tuple((path, f) for f in _ranked() if (path := _MARKS[f].rest) is not None)
