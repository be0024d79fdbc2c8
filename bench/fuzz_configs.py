"""Random experiments of every model kind (tests/lab/config_strategies.py):
each must train one step (finite loss, or a non-finite one reported as a
divergence) or be refused with ``ConfigError`` naming a field; never another
exception, never a hang (an example over ``--timeout`` seconds fails).

    python bench/fuzz_configs.py [--examples 1000] [--timeout 60]

Not a speed figure: a property run larger than the test suite's (300)."""

from __future__ import annotations

import argparse
import collections
import signal
import time
import traceback

from common import verdict  # also sets sys.path
from hypothesis import HealthCheck, given, settings

from tests.lab.config_strategies import experiment_dicts
from tests.lab.test_properties import one_step


class Hang(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    outcomes: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    slowest = 0.0

    def on_alarm(_signum: int, _frame: object) -> None:
        raise Hang(f"no answer within {args.timeout} s")

    signal.signal(signal.SIGALRM, on_alarm)

    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(experiment_dicts())
    def run(data: dict) -> None:
        nonlocal slowest
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
        try:
            outcomes[one_step(data)] += 1
        except BaseException as exc:  # noqa: BLE001 - every failure is counted, then the next
            outcomes["failed"] += 1
            if len(failures) < 5:
                failures.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            slowest = max(slowest, time.perf_counter() - start)

    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    total = sum(outcomes.values())
    for failure in failures:
        print(failure)
    print(f"{total} experiments in {seconds:.0f} s: {dict(outcomes)}; slowest {slowest:.1f} s")
    verdict(
        {
            "examples": total,
            "outcomes": dict(outcomes),
            "slowest_s": round(slowest, 2),
            "seconds": round(seconds, 1),
        },
        {"examples": f">= {args.examples}", "failed": "0", "hangs": f"none over {args.timeout} s"},
        total >= args.examples and outcomes["failed"] == 0,
    )


if __name__ == "__main__":
    main()
