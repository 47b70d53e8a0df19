"""Errors of the mesh (a branch of Coral's one error tree).

CoralError
└── MeshError                   the mesh cannot be set up or used as asked
    ├── JoinRefusedError        the colony refused a join (bad, expired, used-up token)
    ├── PinMismatchError        the far side does not hold the pinned colony key
    └── TunnelError             a WireGuard tunnel cannot be made or configured
"""

from __future__ import annotations

from coral_mcp.errors import CoralError


class MeshError(CoralError):
    """The mesh cannot be set up or used as asked."""


class JoinRefusedError(MeshError):
    """The colony refused to let an agent join."""


class PinMismatchError(MeshError):
    """A colony (or a discovery record) does not prove the pinned colony key."""


class TunnelError(MeshError):
    """A WireGuard tunnel cannot be made or configured."""
