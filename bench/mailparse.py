"""Inbound mail parsing speed: `mailparse.parse` over the tests/mail corpus, against bare stdlib parsing.

    python -m bench.mailparse                 # 50 rounds over the corpus
    python -m bench.mailparse --rounds 200

The gateway must ingest 150+ mails/s including the database work, so parsing has to cost a small
part of that budget. Measured, one thread, the corpus in memory (each round parses every fixture
once, the unparseable one left out):

- compat32        `email.message_from_bytes(raw, policy=compat32)`: the tree only, headers untouched
- default         the same with `policy=email.policy.default` (headers parsed lazily)
- default + read  policy.default, then what a gateway reads: addresses, subject, date, ids, bodies
                  (`get_body`) and attachments (`iter_attachments`) — the straightforward alternative
- parse           `app.services.mailparse.parse`: compat32 plus all of ParsedMail

Prints mails/s for each and the ratios; writes bench/out/mailparse-results.json.
"""
import argparse
import email
import email.policy
import json
import time

from bench import OUT, ROOT, measure

CORPUS_DIR = ROOT / "tests" / "mail"
ROUNDS = 50


def say(line: str = "") -> None:
    print(line, flush=True)


def load_corpus() -> list[bytes]:
    """The fixtures that are mail (the manifest says which one is not)."""
    manifest = json.loads((CORPUS_DIR / "corpus.json").read_text(encoding="utf-8"))
    return [(CORPUS_DIR / entry["file"]).read_bytes() for entry in manifest if "error" not in entry["parse"]]


def default_and_read(raw: bytes) -> None:
    """What a gateway written on policy.default would read of each mail."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for name in ("from", "to", "cc", "reply-to"):
        header = msg[name]
        if header is not None:
            _ = header.addresses
    _ = (msg["subject"], msg["message-id"], msg["in-reply-to"], msg["references"], msg["date"])
    for preference in (("plain",), ("html",)):
        body = msg.get_body(preferencelist=preference)
        if body is not None:
            try:
                body.get_content()
            except (LookupError, ValueError):  # what policy.default raises on odd charsets
                pass
    for part in msg.iter_attachments():
        try:
            part.get_content()
        except (LookupError, ValueError, KeyError):
            pass


def rate(fn, mails: list[bytes], rounds: int) -> float:
    """Mails per second over `rounds` passes (after one warm-up pass)."""
    for raw in mails:
        fn(raw)
    started = time.perf_counter()
    for _ in range(rounds):
        for raw in mails:
            fn(raw)
    return rounds * len(mails) / (time.perf_counter() - started)


def run(rounds: int) -> dict:
    from app.services.mailparse import parse

    mails = load_corpus()
    size = sum(map(len, mails))
    say(f"== mail parsing: {len(mails)} mails, {size / 1024:.0f} KB, {rounds} rounds")
    rates = {
        "compat32": rate(lambda raw: email.message_from_bytes(raw, policy=email.policy.compat32), mails, rounds),
        "default": rate(lambda raw: email.message_from_bytes(raw, policy=email.policy.default), mails, rounds),
        "default_and_read": rate(default_and_read, mails, max(1, rounds // 5)),
        "parse": rate(parse, mails, rounds),
    }
    for name, value in rates.items():
        say(f"  {name:<17} {value:>9,.0f} mails/s")
    ratios = {
        "parse_vs_compat32": rates["parse"] / rates["compat32"],
        "parse_vs_default": rates["parse"] / rates["default"],
        "parse_vs_default_and_read": rates["parse"] / rates["default_and_read"],
        "default_vs_compat32": rates["default"] / rates["compat32"],
    }
    say(f"  parse runs at {ratios['parse_vs_compat32']:.2f}x bare compat32, {ratios['parse_vs_default']:.2f}x bare "
        f"policy.default, {ratios['parse_vs_default_and_read']:.1f}x policy.default with the same reading done")
    say(f"  one parse: {1000 / rates['parse']:.2f} ms on average "
        f"({1000 / rates['parse'] / (1000 / 150):.0%} of the 150 mails/s budget per mail)")
    return {"mails": len(mails), "bytes": size, "rounds": rounds,
            "mails_per_s": {k: round(v) for k, v in rates.items()},
            "ratios": {k: round(v, 3) for k, v in ratios.items()}}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="passes over the corpus per measure")
    args = parser.parse_args(argv)
    result = run(args.rounds)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "mailparse-results.json"
    path.write_text(json.dumps({"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": measure.machine(),
                                **result}, indent=2))
    say(f"\nwrote {path}")


if __name__ == "__main__":
    main()
