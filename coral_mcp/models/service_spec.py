"""`--service NAME=SPEC`: which processes make up a watched service."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from coral_mcp.errors import ServiceSpecError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_USAGE = "use NAME=pid:N, NAME=port:N or NAME=name:PATTERN, e.g. --service api=port:8080"


class SpecKind(StrEnum):
    """How a service's processes are found."""

    PID = "pid"  # exactly this process id
    PORT = "port"  # the process listening on this TCP port
    NAME = "name"  # processes whose name or command line matches a regex


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A parsed service specification."""

    name: str
    kind: SpecKind
    value: str

    @property
    def pid(self) -> int:
        return int(self.value)

    @property
    def port(self) -> int:
        return int(self.value)

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.value)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.value}"


def parse_service_spec(text: str) -> ServiceSpec:
    """Parse `NAME=KIND:VALUE`; raise ServiceSpecError naming what is wrong."""
    name, sep, spec = text.partition("=")
    if not sep or not name or not spec:
        raise ServiceSpecError(f"service spec {text!r} is not NAME=SPEC", hint=_USAGE)
    if not _NAME.match(name):
        raise ServiceSpecError(
            f"service name {name!r} must be 1-64 letters, digits, '.', '_' or '-'",
            hint=_USAGE,
        )
    kind_text, sep, value = spec.partition(":")
    try:
        kind = SpecKind(kind_text)
    except ValueError:
        raise ServiceSpecError(
            f"service spec {text!r}: unknown kind {kind_text!r}", hint=_USAGE
        ) from None
    if not sep or not value:
        raise ServiceSpecError(f"service spec {text!r}: {kind.value} needs a value", hint=_USAGE)
    if kind is SpecKind.PID:
        if not value.isdigit() or int(value) <= 0:
            raise ServiceSpecError(f"service spec {text!r}: pid must be a positive integer")
    elif kind is SpecKind.PORT:
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise ServiceSpecError(f"service spec {text!r}: port must be 1-65535")
    else:
        try:
            re.compile(value)
        except re.error as exc:
            raise ServiceSpecError(
                f"service spec {text!r}: pattern is not a valid regex ({exc})"
            ) from None
    return ServiceSpec(name=name, kind=kind, value=value)
