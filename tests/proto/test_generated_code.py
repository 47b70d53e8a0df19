import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_protobuf_code_matches_coral_proto(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = sorted((tmp_path / "coral_mcp" / "proto").glob("coral_pb2*"))
    assert [p.name for p in fresh] == [
        "coral_pb2.py",
        "coral_pb2.pyi",
        "coral_pb2_grpc.py",
        "coral_pb2_grpc.pyi",
    ]
    for made in fresh:
        committed = ROOT / "coral_mcp" / "proto" / made.name
        assert committed.read_text() == made.read_text(), (
            f"{committed.name} is stale: run `make proto` and commit the result"
        )
