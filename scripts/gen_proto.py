"""Regenerate coral_mcp/proto/*_pb2*.py(i) from coral_mcp/proto/coral.proto.

Usage: python scripts/gen_proto.py [OUT_DIR]

With OUT_DIR the files are written below OUT_DIR instead of the repository (the
staleness test uses this to compare a fresh generation with what is committed).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO = Path("coral_mcp/proto/coral.proto")


def generate(out_root: Path) -> list[Path]:
    """Run protoc (python, grpc and mypy stubs) into out_root; return the files made."""
    plugin = shutil.which("protoc-gen-mypy", path=str(Path(sys.executable).parent))
    if plugin is None:
        raise SystemExit("protoc-gen-mypy not found beside this Python: install the dev extra")
    grpc_plugin = shutil.which("protoc-gen-mypy_grpc", path=str(Path(sys.executable).parent))
    if grpc_plugin is None:
        raise SystemExit("protoc-gen-mypy_grpc not found beside this Python: install the dev extra")
    args = [
        "protoc",
        f"-I{ROOT}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--plugin=protoc-gen-mypy={plugin}",
        f"--plugin=protoc-gen-mypy_grpc={grpc_plugin}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        str(ROOT / PROTO),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted((out_root / PROTO.parent).glob("coral_pb2*"))


def main() -> None:
    if len(sys.argv) > 1:
        generate(Path(sys.argv[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for made in generate(Path(tmp)):
            shutil.copyfile(made, ROOT / PROTO.parent / made.name)
            print(f"wrote {PROTO.parent / made.name}")


if __name__ == "__main__":
    main()
