"""What live metrics cost: throughput with the endpoint served and scraped every second vs `--metrics-port 0`.

    .venv/bin/python bench/metrics_overhead.py [--pairs 5] [--images 120] [--workers 2] [-s python-threads]

Each pair runs the same `kit run` twice, once with metrics served on a free loopback port while a
scraper here fetches /metrics every second (as the compose stack's Prometheus does), once with
`--metrics-port 0`; the order alternates between pairs so drift favours neither side. Prints each
pair and the median ratio served/off of throughput_items_per_second with its min-max (the goal:
within 2%, i.e. a median of at least 0.98).
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
import urllib.request

from common import kit_run, spread


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Scraper:
    """Fetches http://127.0.0.1:PORT/metrics every `interval` seconds until stopped; counts the answers."""

    def __init__(self, port: int, interval: float = 1.0) -> None:
        self.url, self.interval = f"http://127.0.0.1:{port}/metrics", interval
        self.scrapes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=1) as response:
                    response.read()
                self.scrapes += 1
            except OSError:
                pass  # not up yet, or gone
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def throughput(common: list[str], strategy: str, served: bool) -> tuple[float, int]:
    """(items/s of the strategy, scrapes answered) for one run."""
    if not served:
        records = kit_run([*common, "--metrics-port", "0"])
        scrapes = 0
    else:
        port = free_port()
        with Scraper(port) as scraper:
            records = kit_run([*common, "--metrics-port", str(port), "--metrics-linger", "0"])
        scrapes = scraper.scrapes
    record = next(r for r in records if r["strategy"] == strategy)
    if record["status"] != "ok" or not record["throughput_items_per_second"]:
        raise SystemExit(f"{strategy} did not complete: {record['status']} {record.get('message') or ''}")
    return float(record["throughput_items_per_second"]), scrapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="interleaved pairs (at least 5 for a claim)")
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--resolution", default="4k")
    parser.add_argument("-s", "--strategy", default="python-threads")
    args = parser.parse_args()
    common = ["-s", args.strategy, "--workers", str(args.workers), "--images", str(args.images),
              "--resolution", args.resolution]
    kit_run(common)  # warm-up; also generates the image pool and the reference outputs
    ratios = []
    for pair in range(args.pairs):
        sides = [True, False] if pair % 2 == 0 else [False, True]
        figures = {served: throughput(common, args.strategy, served) for served in sides}
        (on, scrapes), (off, _) = figures[True], figures[False]
        ratios.append(on / off)
        print(f"pair {pair + 1} ({'served first' if sides[0] else 'off first'}): served {on:.2f} img/s "
              f"({scrapes} scrapes), off {off:.2f} img/s, ratio {ratios[-1]:.3f}", flush=True)
    print(f"served/off throughput: median [min-max] = {spread(ratios)} over {args.pairs} pairs"
          f"{'' if args.pairs >= 5 else ' (fewer than 5 pairs: not enough for a claim)'}")


if __name__ == "__main__":
    main()
