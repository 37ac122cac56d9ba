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

#: apimachinery's quantity grammar (resource.Quantity; the pattern controller-gen publishes for it): an
#: optionally signed decimal, then a binary suffix (Ki…Ei), a decimal suffix (n u m k M G T P E) or a decimal
#: exponent (e3, E-2). ``1e3M`` (an exponent and a suffix) is not a quantity.
QUANTITY_PATTERN = (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
                    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")
_QUANTITY_RE = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([KMGTPE]i|[numkMGTPE])|[eE]([+-]?[0-9]+))?$")
# What people write instead: a unit with B (4GB, 512MiB), a space (4 Gi), lower-case binary units (4gi).
_NEAR_QUANTITY_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtTpPeE])(i?)[bB]?\s*$")

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class QuantityError(ValueError):
    """A quantity or duration string that cannot be parsed."""


def suggestions(text: str) -> list[str]:
    """Quantities the user may have meant by ``text`` (``4GB`` → ``4G``, ``4Gi``), or none."""
    match = _NEAR_QUANTITY_RE.match(text)
    if match is None:
        return []
    number, unit, binary = match.groups()
    decimal_unit = "k" if unit in "kK" else unit.upper()
    if unit == "m" and not binary and not text.rstrip().endswith(("b", "B")):  # "500 m": millicores
        return [f"{number}m"]
    if binary:
        return [f"{number}{unit.upper()}i"]
    return [f"{number}{decimal_unit}", f"{number}{unit.upper()}i"]


def explain_quantity(kind: str, text: object) -> str:
    """The message for a value that is not a quantity: the product's words, never the pattern."""
    near = suggestions(text) if isinstance(text, str) else []
    hint = (f"did you mean {' or '.join(near)}?" if near else
            "write a number with an optional suffix, e.g. 512Mi, 4Gi, 1G for memory or 1, 500m for CPU")
    return f"{kind} {text!r}: not a Kubernetes quantity; {hint}"


def parse_quantity(text: str, kind: str = "quantity") -> Decimal:
    """Parse a Kubernetes quantity into its value in base units (bytes, or cores)."""
    match = _QUANTITY_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise QuantityError(explain_quantity(kind, text))
    number, suffix, exponent = match.group(1), match.group(2) or "", match.group(3)
    try:
        value = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(explain_quantity(kind, text)) from exc
    if exponent is not None:
        if abs(int(exponent)) > 100:  # far beyond any bound; keeps Decimal's arithmetic small
            raise QuantityError(f"{kind} {text!r}: the exponent is out of range")
        return value.scaleb(int(exponent))
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    return value * _DECIMAL[suffix]


def quantity_text(value: object) -> object:
    """A quantity given as a YAML/JSON number, as the string Kubernetes prints for it (``2`` → ``"2"``).

    The CRD declares quantities int-or-string: an integer is accepted as it is, a fraction (``0.5``) is not
    (a structural schema has no float there), so the models refuse it too and say to quote it. A whole
    float (``2.0``) is what kubectl sends as the integer 2. Anything else is left to the validators."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity: write a number such as 1, 500m or 4Gi")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        raise ValueError(f"{value!r} is an unquoted YAML number with a fraction, which a Kubernetes quantity "
                         f"field cannot take: quote it (\"{value}\") or write it with a suffix "
                         f"(e.g. {format_millis(value)})")
    return value


def format_millis(value: float) -> str:
    """``0.5`` → ``500m``: a fraction of a CPU in millicores (for messages)."""
    return f"{Decimal(str(value)) * 1000:f}".rstrip("0").rstrip(".") + "m"


def memory_bytes(text: str, kind: str = "memory") -> int:
    """Memory quantity to whole bytes (rounded up, as Kubernetes does)."""
    return math.ceil(parse_quantity(text, kind))


def cpu_millicores(text: str, kind: str = "cpu") -> int:
    """CPU quantity to millicores (rounded up)."""
    return math.ceil(parse_quantity(text, kind) * 1000)


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
