"""Exit codes of the Pod-side entry point (``run``); the operator's retry policy reads them.

The manifest lists ``SYSTEM_ERROR`` in ``spec.retry.retryableExitCodes``: Climate-REF calls a failure
"retryable" when running again on the same data may succeed (MemoryError, OSError, a conda environment
that did not start), so the operator gives it another attempt. ``DIAGNOSTIC_ERROR`` is final: the same
inputs and code fail the same way.
"""

SUCCESS = 0
#: The definition could not be read or its provider not configured: nothing ran.
USAGE = 2
#: The diagnostic ran and reported failure (Climate-REF's non-retryable failure).
DIAGNOSTIC_ERROR = 3
#: A system error (Climate-REF's retryable failure); EX_TEMPFAIL of sysexits.h.
SYSTEM_ERROR = 75

RETRYABLE = (SYSTEM_ERROR,)
