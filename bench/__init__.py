"""`make bench` (bench/README.md)."""

from __future__ import annotations

from pathlib import Path

# Unless BENCH_DATABASE_URL names another server, each run starts an embedded PostgreSQL of its
# own in this folder (config/embedded_postgres.py) and stops it when it ends; the database is
# dropped and recreated every run.
POSTGRES_ROOT = Path(__file__).resolve().parent.parent / "var" / "postgres-bench"
DATABASE = "candor_bench"
# The one-click nudges of the wrk scenarios go to a Valkey of the run's own here (no worker
# reads them: the harness applies what was accepted itself, timed); emptied at every run.
VALKEY_ROOT = Path(__file__).resolve().parent.parent / "var" / "valkey-bench"
