"""Benchmarks: a bulk data generator and a load client. Not part of `make test`; see docs/benchmarks.md."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"  # gitignored: databases, logs, results.json
