"""Python's cyclic garbage collector, set for a long-lived operator that holds many objects.

With the interpreter's defaults (a young-generation collection every 700 net container allocations, a full one
after 100 young ones) the operator spent 6.6 s of its 23 s of CPU in the collector while 500 executions were
created and ran, 3.7 s of it in 21 full collections of up to 0.28 s each: pauses of the event loop, in the
creation-to-Job latency's p99 (benchmarks/operator_scale.py, docs/benchmarks.md). The collector's time showed
up in py-spy profiles as the allocation that triggered it, mostly the JSON decoding of watch events; decoding
the same events (83 MB recorded from one run) outside the operator takes 0.8 s.

So, once at start:
- ``gc.freeze()``: what exists after the imports (modules, classes, functions: long-lived by nature) moves to
  the permanent generation, and no collection traverses it again;
- young collections every ``THRESHOLDS[0]`` allocations, older ones more rarely. Most garbage is freed by
  reference counting the moment it is dropped; only reference cycles wait for the collector, a little longer.
"""

from __future__ import annotations

import gc

#: (young, middle, old) generation thresholds; the interpreter's default is (700, 10, 10)
THRESHOLDS = (50_000, 20, 20)


def tune() -> None:
    """Collect what the start-up left, freeze the rest, raise the thresholds. Call once, before the operator
    starts its work (idempotent)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
