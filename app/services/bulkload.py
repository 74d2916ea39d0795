"""Bulk writes for large seeded data sets (`flask demo seed`, bench/generate.py).

Rows are written in one transaction per writer: PostgreSQL through COPY (psycopg), SQLite
through executemany in batches. Callers choose the ids, so related rows are written without
reading anything back; `finish()` moves PostgreSQL's sequences past them and refreshes the
planner's statistics. Progress lines go to `echo` (default: nowhere).
"""
import re
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url


def ts(value: datetime) -> str:
    """Naive UTC as text in the layout SQLAlchemy stores on SQLite; PostgreSQL parses it too."""
    return value.isoformat(sep=" ", timespec="microseconds")


def writer_for(url: str, echo=None):
    """The writer for the database at `url` (a SQLAlchemy URL)."""
    echo = echo or (lambda line: None)
    return PostgresWriter(url, echo) if url.startswith("postgresql") else SqliteWriter(url, echo)


class Progress:
    def __init__(self, table: str, total: int, echo):
        self.table, self.total, self.echo, self.start = table, total, echo, time.perf_counter()
        self.every = max(50_000, total // 10)

    def tick(self, n: int) -> None:
        if n % self.every == 0:
            elapsed = time.perf_counter() - self.start
            self.echo(f"  {self.table:<22} {n:>10,} / {self.total:,} rows  {n / elapsed:>10,.0f} rows/s")

    def done(self, n: int) -> float:
        """The table is written (for COPY: constraint checks and index updates included)."""
        elapsed = time.perf_counter() - self.start
        rate = n / elapsed if elapsed else 0.0
        self.echo(f"  {self.table:<22} {n:>10,} rows in {elapsed:5.1f} s  = {rate:>8,.0f} rows/s, written")
        return elapsed


class PostgresWriter:
    """One transaction, one COPY per table; sequences are moved past the ids we chose."""

    def __init__(self, url: str, echo):
        import psycopg

        self.echo = echo
        self.conn = psycopg.connect(re.sub(r"^postgresql\+\w+://", "postgresql://", url))
        self.conn.execute("SET synchronous_commit = off")
        self.with_ids: list[str] = []

    def write(self, table: str, columns, rows, total: int) -> float:
        progress = Progress(table, total, self.echo)
        n = 0
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for n, row in enumerate(rows, 1):
                copy.write_row(row)
                progress.tick(n)
        if "id" in columns and table not in self.with_ids:
            self.with_ids.append(table)
        return progress.done(n)

    def finish(self) -> None:
        for table in self.with_ids:
            self.conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT max(id) FROM {table}))")
        self.conn.commit()
        self.conn.autocommit = True
        started = time.perf_counter()
        self.conn.execute("VACUUM ANALYZE")
        self.echo(f"  vacuum analyze         {time.perf_counter() - started:.1f} s")

    def size_bytes(self) -> int:
        return self.conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]

    def close(self) -> None:
        self.conn.close()


class SqliteWriter:
    """One transaction, executemany in batches (no per-row round trip to a server)."""

    BATCH = 20_000

    def __init__(self, url: str, echo):
        self.echo = echo
        self.path = Path(make_url(url).database or "")
        self.engine = create_engine(url)
        self.conn = self.engine.connect()
        self.conn.exec_driver_sql("PRAGMA synchronous=OFF")
        self.conn.exec_driver_sql("PRAGMA cache_size=-200000")
        self.conn.commit()  # the rows then go in one transaction (autobegun by the first insert)

    def write(self, table: str, columns, rows, total: int) -> float:
        progress = Progress(table, total, self.echo)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        batch, n = [], 0
        for n, row in enumerate(rows, 1):
            batch.append(row)
            if len(batch) == self.BATCH:
                self.conn.exec_driver_sql(sql, batch)
                batch = []
            progress.tick(n)
        if batch:
            self.conn.exec_driver_sql(sql, batch)
        return progress.done(n)

    def finish(self) -> None:
        self.conn.commit()
        started = time.perf_counter()
        self.conn.exec_driver_sql("ANALYZE")
        self.conn.commit()
        self.echo(f"  analyze                {time.perf_counter() - started:.1f} s")

    def size_bytes(self) -> int:
        return self.path.stat().st_size if self.path.is_file() else 0

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()
