"""Kubernetes-style quantities (``4Gi``, ``500m``) and Go-style durations (``6h``, ``1h30m``).

Pure parsing, no I/O. The spec keeps the user's strings (so ``kubectl get -o yaml`` shows what was
written); these functions turn them into numbers when a decision needs one.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}

QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
_QUANTITY_RE = re.compile(QUANTITY_PATTERN)

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class QuantityError(ValueError):
    """A quantity or duration string that cannot be parsed."""


def parse_quantity(text: str) -> Decimal:
    """Parse a Kubernetes quantity into its value in base units (bytes, or cores)."""
    match = _QUANTITY_RE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise QuantityError(
            f"{text!r} is not a quantity: write a number with an optional suffix, "
            "e.g. 512Mi, 4Gi, 1G for memory or 1, 500m for CPU"
        )
    number, suffix = match.group(1), match.group(3) or ""
    try:
        value = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"{text!r} is not a quantity") from exc
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    return value * _DECIMAL[suffix]


def memory_bytes(text: str) -> int:
    """Memory quantity to whole bytes (rounded up, as Kubernetes does)."""
    return math.ceil(parse_quantity(text))


def cpu_millicores(text: str) -> int:
    """CPU quantity to millicores (rounded up)."""
    return math.ceil(parse_quantity(text) * 1000)


def format_memory(num_bytes: int) -> str:
    """Bytes to the shortest exact binary quantity (``1536Mi``), or Mi rounded up."""
    for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20)):
        if num_bytes % size == 0 and num_bytes >= size:
            return f"{num_bytes // size}{suffix}"
    return f"{math.ceil(num_bytes / 2**20)}Mi"


def parse_duration(text: str) -> float:
    """Go-style duration (``90s``, ``10m``, ``1h30m``, ``2d``) to seconds."""
    if not isinstance(text, str) or not _DURATION_RE.match(text.strip()):
        raise QuantityError(
            f"{text!r} is not a duration: write a number with a unit, e.g. 30s, 10m, 6h, 1h30m, 2d"
        )
    return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART_RE.findall(text.strip()))


def format_duration(seconds: float) -> str:
    """Seconds to a compact duration string (``1h30m``, ``45s``)."""
    total = math.ceil(seconds)
    if total == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            count, total = divmod(total, size)
            parts.append(f"{count}{unit}")
    return "".join(parts)
