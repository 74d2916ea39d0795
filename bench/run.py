"""`make bench`: generate data at two sizes, load the app at each, print figures and ratios.

    python -m bench.run                              # PostgreSQL: 10k/100k, then 100k/1M
    python -m bench.run --db sqlite --quick          # small smoke run
    python -m bench.run --contacts 100000 --messages 1000000 --db both

Each size gets a fresh database (bench/generate.py), then bench/measure.py starts gunicorn
on it and measures the routes against /healthz, and bench/services.py times the same work
in process (SQL statements counted). Results go to bench/out/results.json
(results-quick.json for --quick);
docs/benchmarks.md explains how to read them. Exit status 2 when a route could not be
measured (e.g. not built yet).
"""
import argparse
import sys

from bench import generate, measure, services

FULL_SIZES = ((10_000, 100_000), (100_000, 1_000_000))
QUICK_SIZE = (1_000, 10_000)


def sizes(args) -> list[tuple[int, int]]:
    if args.contacts or args.messages:
        return [(args.contacts or FULL_SIZES[-1][0], args.messages or FULL_SIZES[-1][1])]
    if args.quick:
        return [QUICK_SIZE]
    return list(FULL_SIZES)


def print_growth(runs: list[dict]) -> None:
    """How each route's latency moved from the smallest to the largest database."""
    for db in sorted({r["db"] for r in runs}):
        mine = sorted((r for r in runs if r["db"] == db), key=lambda r: r["messages"])
        if len(mine) < 2:
            continue
        small, large = mine[0], mine[-1]
        factor = large["messages"] / small["messages"]
        print(f"\n{db}: from {small['messages']:,} to {large['messages']:,} messages (x{factor:.0f} data)")
        for route in large["routes"]:
            before = next((r for r in small["routes"] if r["route"] == route["route"]), None)
            if route["status"] != "ok" or not before or before["status"] != "ok":
                continue
            b, a = before["client_ms"], route["client_ms"]
            print(f"  {route['route']:<13} p50 {b['p50']:.1f} -> {a['p50']:.1f} ms (x{a['p50'] / b['p50']:.2f})"
                  f"   p99 {b['p99']:.1f} -> {a['p99']:.1f} ms (x{a['p99'] / b['p99']:.2f})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="postgresql")
    parser.add_argument("--contacts", type=int, help="one size only: this many contacts")
    parser.add_argument("--messages", type=int, help="one size only: this many messages")
    parser.add_argument("--quick", action="store_true", help="small smoke run (1k contacts, 10k messages)")
    parser.add_argument("--requests", type=int, help="measured requests per read route (default 1000, quick 200)")
    parser.add_argument("--write-requests", type=int,
                        help=f"measured posts (default {measure.WRITE_REQUESTS}, quick 50)")
    parser.add_argument("--concurrency", type=int, default=measure.CONCURRENCY)
    parser.add_argument("--reuse", action="store_true",
                        help="measure the database left by the last generate run instead of making one")
    args = parser.parse_args(argv)
    requests = args.requests or (200 if args.quick else 1000)
    write_requests = args.write_requests or (50 if args.quick else measure.WRITE_REQUESTS)
    databases = ("sqlite", "postgresql") if args.db == "both" else (args.db,)

    runs = []
    for db in databases:
        plan = [None] if args.reuse else sizes(args)
        for size in plan:
            meta = measure.load_meta(db) if size is None else generate.generate(db, *size)
            run = measure.measure(meta, requests, args.concurrency, write_requests)
            run["in_process"] = services.profile(meta, 10 if args.quick else services.REPEAT)
            measure.print_table(run)
            services.print_profile(meta, run["in_process"])
            runs.append(run)
            print()
    print_growth(runs)
    # A smoke run must not overwrite the figures docs/benchmarks.md quotes.
    path = measure.write_results(runs, measure.OUT / ("results-quick.json" if args.quick else "results.json"))
    print(f"\nwrote {path}")
    failing = [f"{r['db']} {route['route']} ({route['errors']})" for r in runs for route in r["routes"]
               if route["status"] == "ok" and route["errors"]]
    if failing:
        print(f"errors under load: {', '.join(failing)}; see bench/out/gunicorn-<db>.log")
    missing = [f"{r['db']} {route['route']}" for r in runs for route in r["routes"] if route["status"] != "ok"]
    if missing:
        print(f"not measured: {', '.join(sorted(set(missing)))} (see the reasons above)")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
