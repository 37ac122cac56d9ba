"""Untrusted text (log lines, names, group keys, messages, values, paths, errors) shown in a terminal.

Such text is never read as rich markup (``[/]`` or ``[link=…]`` in a log line is printed as written) and its
control characters are shown as escapes (``\\x1b``), so a diagnostic cannot move the cursor, recolour or
retitle the user's terminal.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 controls except tab and newline, DEL and the C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(value: object) -> str:
    """``value`` as a string with control characters written as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def plain(value: object, style: str = "") -> Text:
    """``value`` as rich Text (never markup), control characters escaped."""
    return Text(shown(value), style=style)


def line(*parts: str | tuple[object, str]) -> Text:
    """A line of plain parts: a string, or (value, style). Every part is text, never markup."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(shown(part[0]), style=part[1])
        else:
            text.append(shown(part))
    return text


def cells(*values: object) -> list[Text]:
    """A table row's cells as plain Text (a str cell would be read as markup)."""
    return [plain(v) for v in values]
