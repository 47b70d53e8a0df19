"""Every MCP tool in the order the server lists them, and binding one to the colony's data.

A tool is one async function in `tools/`, marked `@tool(rank)` (`tools.registry`): its
name, its docstring (what the model reads), its annotated parameters (descriptions and
defaults) and its pydantic return type. Its
first parameter is the `CoralData` it reads; `bind` hides that parameter, so the MCP
server and the REST routes both see the same signature.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import math
import pkgutil
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

import coral_mcp.tools
from coral_mcp.errors import CoralError
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.registry import Tool, marked, rest_marked


def _discover() -> tuple[Tool, ...]:
    """Every function marked `@tool` in the modules of `coral_mcp.tools`, by rank."""
    for module in pkgutil.iter_modules(coral_mcp.tools.__path__):
        importlib.import_module(f"{coral_mcp.tools.__name__}.{module.name}")
    return marked()


TOOLS: tuple[Tool, ...] = _discover()
#: REST path (under /api/v1) -> the function that answers it.
REST_TOOLS: tuple[tuple[str, Tool], ...] = rest_marked()


@functools.cache
def signature(tool: Tool) -> inspect.Signature:
    """The tool's signature without its `data` parameter, annotations resolved."""
    hints = typing.get_type_hints(tool, include_extras=True)
    params = list(inspect.signature(tool).parameters.values())[1:]
    return inspect.Signature(
        [p.replace(annotation=hints[p.name]) for p in params],
        return_annotation=hints["return"],
    )


def as_json(result: BaseModel) -> str:
    """A tool result as it travels: compact JSON, optional fields left out while they
    hold their default (a required field that is unknown still says null), numbers
    without float noise (3.153908450042297 -> 3.154, 13774848.0 -> 13774848)."""
    document = _plain_numbers(result.model_dump(mode="json", exclude_defaults=True))
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def _plain_numbers(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        short = round(value, 3) if abs(value) >= 1 else float(f"{value:.4g}")
        return int(short) if short.is_integer() and abs(short) < 2**53 else short
    if isinstance(value, dict):
        return {key: _plain_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(item) for item in value]
    return value


def bind(
    tool: Tool, data: CoralData, translate: Callable[[CoralError], Exception] | None = None
) -> Tool:
    """`tool` reading `data`: same name, docstring and (data-less) signature. With
    `translate`, a CoralError it raises becomes the exception `translate` makes."""

    async def call(**arguments: Any) -> BaseModel:
        try:
            return await tool(data, **arguments)
        except CoralError as exc:
            if translate is None:
                raise
            raise translate(exc) from None

    sig = signature(tool)
    call.__name__ = call.__qualname__ = tool.__name__
    call.__doc__ = tool.__doc__
    call.__module__ = tool.__module__
    call.__signature__ = sig  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in sig.parameters.values()}
    call.__annotations__["return"] = sig.return_annotation
    return call
