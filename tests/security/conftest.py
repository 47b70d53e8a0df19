"""The security suite reuses the mesh tests' namespace lab."""

from tests.mesh.conftest import lab

__all__ = ["lab"]
