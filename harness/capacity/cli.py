"""`python -m harness capacity [run parameters] --p99-objective-ms 250 [--out DIR]`."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from harness.capacity.criteria import SEND_DELAY_SHARE, Objective
from harness.capacity.driver import CAPACITY_FILE, STEP_S, search_capacity, search_conflict
from harness.capacity.search import FOUND, SearchSettings
from harness.params import ParameterError, add_run_arguments, config_from_args
from harness.paths import RESULTS
from harness.slo import parse_slos


def _inputs(args: argparse.Namespace) -> tuple[Objective, SearchSettings, list]:
    """The objective, the search's settings and the SLOs; ParameterError (said before anything
    starts)."""
    try:
        objective = Objective(
            p99_ms=args.p99_objective_ms,
            e2e_p99_ms=args.e2e_p99_objective_ms,
            max_error_rate=args.max_error_rate,
            send_delay_bound_ms=args.send_delay_bound_ms,
        )
        settings = SearchSettings(precision=args.precision, max_steps=args.max_steps)
        if args.step_s is not None and not args.step_s > 0:
            raise ValueError(f"--step-s must be > 0 seconds, not {args.step_s!r}")
        slos = parse_slos(args.slo or [])
    except ValueError as exc:
        raise ParameterError(str(exc)) from None
    return objective, settings, slos


def cmd_capacity(args: argparse.Namespace) -> int:
    objective, settings, slos = _inputs(args)
    if args.duration_s is not None:
        raise ParameterError(
            "--duration-s: a capacity step's measured length is --step-s (the same thing under "
            "the search's own name); give --step-s instead"
        )
    if args.events is not None:
        print("warning: --events has no effect: a capacity search's probe and steps are timed "
              "(--step-s)", file=sys.stderr)  # fmt: skip
    cfg = config_from_args(args)
    problem = search_conflict(cfg)
    if problem:
        raise ParameterError(problem)
    out = Path(args.out) if args.out else RESULTS / f"capacity-{datetime.now():%Y%m%d-%H%M%S}"
    result = search_capacity(cfg, out, objective, settings, step_s=args.step_s,
                             progress=not args.quiet, slos=slos)  # fmt: skip
    print(result["summary"])
    print(f"capacity: {out.resolve() / CAPACITY_FILE}")
    return 0 if result["result"] == FOUND else 1


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "capacity",
        help="the highest rate one setting sustains under a latency objective; "
        "writes DIR/capacity.json",
        description="Probes the setting in closed loop, then runs open-loop steps: growing until "
        "one fails, bisecting to --precision, confirming the rate found. See docs/capacity.md.",
    )
    add_run_arguments(p)
    p.add_argument("--p99-objective-ms", type=float, required=True,
                   help="http p99 (from the schedule) a sustainable step stays within")  # fmt: skip
    p.add_argument("--e2e-p99-objective-ms", type=float, default=None,
                   help="also an e2e p99 objective (default: none)")  # fmt: skip
    p.add_argument("--precision", type=float, default=SearchSettings.precision,
                   help="relative gap between sustainable and failing rates to stop at (0.05 = 5%%)")  # fmt: skip
    p.add_argument("--max-steps", type=int, default=SearchSettings.max_steps,
                   help=f"step budget, the confirmation included ({SearchSettings.max_steps})")  # fmt: skip
    p.add_argument("--step-s", type=float, default=None,
                   help=f"measured seconds per step, after --warmup-s (default {STEP_S:g}; "
                        "--duration-s is refused here: it is this)")  # fmt: skip
    p.add_argument("--max-error-rate", type=float, default=0.0,
                   help="share of events a sustainable step may fail (0)")  # fmt: skip
    p.add_argument("--send-delay-bound-ms", type=float, default=None,
                   help=f"send-delay p99 above which a step is generator-bound (default: "
                        f"{SEND_DELAY_SHARE:.0%}% of the p99 objective)")  # fmt: skip
    p.add_argument("--slo", action="append", metavar="EXPR",
                   help="a further criterion of every step, e.g. 'latency_ms.e2e.p99 < 1000' "
                        "(harness/slo.py); repeatable")  # fmt: skip
    p.add_argument("--out", default=None,
                   help="the search directory (default: results/capacity-<time>)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_capacity)
