"""Convert DoWhy's microservice RCA example data into replay cases (docs/replay.md).

Usage: python scripts/convert_dowhy.py [OUT_DIR] [--version 0.12]
       (default OUT_DIR: benchmarks/data/dowhy)

Fetches the dowhy source distribution with `pip download --no-deps --no-binary :all:`
(dowhy is not a dependency and none of its code is used), reads the three
`rca_microservice_architecture_*.csv` files (per-request latencies in seconds of 11
services; no timestamps), and writes cases: consecutive requests are grouped into
windows (the window average is the summary, one window a minute), normal windows first,
then the anomalous ones. The call graph is the one of DoWhy's example notebook; the root
cause there is `Caching Service` (its intrinsic latency raised by 2 s).
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from coral_mcp.intelligence.replay import save_case

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "docs/source/example_notebooks/rca_microservice_architecture_"
T0 = 1_767_225_600
STEP_S = 60
#: (cause, effect) as in the notebook's causal graph: effect calls cause.
CAUSAL = [
    ("www", "Website"), ("Auth Service", "www"), ("API", "www"), ("Customer DB", "Auth Service"),
    ("Customer DB", "API"), ("Product Service", "API"), ("Auth Service", "API"),
    ("Order Service", "API"), ("Shipping Cost Service", "Product Service"),
    ("Caching Service", "Product Service"), ("Product DB", "Caching Service"),
    ("Customer DB", "Product Service"), ("Order DB", "Order Service"),
]  # fmt: skip
ROOT_CAUSE = {"service": "Caching Service", "kind": "latency"}


def fetch(version: str, into: Path) -> dict[str, np.ndarray | list[str]]:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         f"dowhy=={version}", "-d", str(into), "--quiet"],
        check=True,
    )  # fmt: skip
    sdist = next(into.glob("dowhy-*.tar.gz"))
    tables: dict[str, np.ndarray | list[str]] = {}
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            name = member.name.split("/", 1)[-1]
            if name.startswith(PREFIX) and name.endswith(".csv"):
                f = tar.extractfile(member)
                assert f is not None
                rows = list(csv.reader(f.read().decode().splitlines()))
                tables["header"] = rows[0]
                tables[name[len(PREFIX) : -4]] = np.array(rows[1:], dtype=np.float64)
    if len(tables) < 4:
        raise SystemExit(f"rca_microservice_architecture_*.csv not found in {sdist.name}")
    return tables


def windows(rows: np.ndarray, size: int) -> np.ndarray:
    n = len(rows) // size
    return rows[: n * size].reshape(n, size, rows.shape[1]).mean(axis=1)


def write_case(
    out: Path, name: str, header: list[str], normal: np.ndarray, bad: np.ndarray
) -> None:
    rows = (
        (T0 + i * STEP_S, service, "latency_seconds", f"{value:.6g}")
        for i, row in enumerate(np.vstack([normal, bad]))
        for service, value in zip(header, row, strict=True)
    )
    edges = [(effect, cause) for cause, effect in CAUSAL]
    doc: dict[str, object] = {"incident_time": T0 + len(normal) * STEP_S, "root_cause": ROOT_CAUSE}
    save_case(out / name, rows, (), edges, doc)


def convert(tables: dict[str, np.ndarray | list[str]], out: Path) -> list[str]:
    header = list(tables["header"])
    normal = np.asarray(tables["latencies"])
    many = np.asarray(tables["anomaly_1000"])
    single = np.asarray(tables["anomaly"])
    made = []
    for size in (1, 5, 10, 20, 50):
        name = f"anomaly_1000-window{size}"
        # The last 200 windows of normal traffic, then the 1000 anomalous requests.
        write_case(out, name, header, windows(normal, size)[-200:], windows(many, size))
        made.append(name)
    write_case(out, "anomaly_single", header, normal[-200:], single)
    made.append("anomaly_single")
    return made


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    version = sys.argv[sys.argv.index("--version") + 1] if "--version" in sys.argv else "0.12"
    args = [a for a in args if a != version]
    target = Path(args[0]) if args else ROOT / "benchmarks" / "data" / "dowhy"
    with tempfile.TemporaryDirectory() as tmp:
        made = convert(fetch(version, Path(tmp)), target)
    print(f"wrote {len(made)} cases to {target}: {', '.join(made)}")
