"""Outbound mail: how fast one `flask worker` sends queued mail to a local SMTP server.

    python -m bench.mailout                  # 1,000 mails, one worker, PostgreSQL + Redis
    python -m bench.mailout --mails 5000 --workers 2

A fresh PostgreSQL database (`hilo_bench_mail`, real migrations); MAILS mails written with
`mailer.send_mail` in one transaction (as many posts would), which queues one job each on Redis
(db 14, its own queue name); an aiosmtpd server in this process accepts them; then WORKERS
`flask worker --burst` processes run until the queue is empty. Reported: mails/s from the
workers' start to the last mail accepted by the SMTP server, and per mail in the worker.
Results are appended to bench/out/mailout-results.json.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import OUT, ROOT
from bench.generate import create_database
from bench.measure import free_port

DB_NAME = "hilo_bench_mail"
REDIS_URL = os.environ.get("HILO_BENCH_MAIL_REDIS_URL", "redis://127.0.0.1:6379/14")
RQ_QUEUE = "hilo-bench-mail"
RESULTS = OUT / "mailout-results.json"


class Sink:
    """Accepts every mail and notes when it arrived."""

    def __init__(self):
        self.times: list[float] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.times.append(time.perf_counter())
        return "250 Message accepted"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    from aiosmtpd.controller import Controller
    from redis import Redis

    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    smtp_url = f"smtp://127.0.0.1:{port}"
    url = create_database("postgresql", DB_NAME)
    Redis.from_url(REDIS_URL).flushdb()
    env = {**os.environ, "FLASK_APP": "wsgi", "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "RQ_QUEUE": RQ_QUEUE,
           "REALTIME_PREFIX": "hilo-bench-mail", "SMTP_URL": smtp_url, "SECRET_KEY": "bench-secret",
           "HILO_INSTANCE_PATH": str(OUT / "instance"), "LOG_LEVEL": "WARNING"}
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "RQ_QUEUE", "REALTIME_PREFIX",
                                           "SMTP_URL", "SECRET_KEY", "HILO_INSTANCE_PATH")})
    from app import create_app
    from app.extensions import db
    from app.services import mailer

    app = create_app()
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        started = time.perf_counter()
        with app.test_request_context(base_url=app.config["BASE_URL"]):
            for n in range(args.mails):
                mailer.send_mail(f"customer{n}@customer.test", f"Your order {n} has shipped",
                                 "Hello,\n\nyour parcel is on its way.\n\nThe support team",
                                 "<p>Hello,</p><p>your parcel is on its way.</p><p>The support team</p>",
                                 thread_id=n + 1)
            db.session.commit()
        written = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    print(f"{args.mails:,} mails written and queued in {written:.2f} s ({args.mails / written:,.0f}/s)")

    flask_cli = Path(sys.executable).with_name("flask")
    started = time.perf_counter()
    log_path = OUT / "mailout-worker.log"
    OUT.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:  # a file, not a pipe: a full pipe would stall the workers
        workers = [subprocess.Popen([str(flask_cli), "worker", "--burst"], cwd=ROOT, env=env,
                                    stdout=log, stderr=log) for _ in range(args.workers)]
        cpu_before = os.times()
        for process in workers:
            if process.wait(timeout=600) != 0:
                print(f"a worker failed: see {log_path}", file=sys.stderr)
                return 1
    cpu = os.times()
    elapsed = (sink.times[-1] if sink.times else time.perf_counter()) - started
    controller.stop()
    child_cpu = (cpu.children_user + cpu.children_system) - (cpu_before.children_user + cpu_before.children_system)
    result = {"at": time.strftime("%Y-%m-%d %H:%M:%S"), "mails": args.mails, "workers": args.workers,
              "received": len(sink.times), "seconds": round(elapsed, 2),
              "mails_per_second": round(len(sink.times) / elapsed, 1) if elapsed else None,
              "worker_cpu_ms_per_mail": round(child_cpu * 1000 / max(1, len(sink.times)), 2)}
    print(f"{result['received']:,} of {args.mails:,} mails accepted by the SMTP server in {elapsed:.2f} s "
          f"with {args.workers} worker(s): {result['mails_per_second']:,} mails/s "
          f"(worker CPU {result['worker_cpu_ms_per_mail']} ms a mail, start-up included)")
    history = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps(history + [result], indent=1))
    return 0 if result["received"] == args.mails else 1


if __name__ == "__main__":
    sys.exit(main())
