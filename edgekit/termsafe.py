"""Text from a database or a device, made safe to print on a terminal.

Stored strings (a target, a model name from an artifact path, a power source) come from devices. Printed
raw they could move the cursor, recolour or clear the screen (ESC sequences), reorder text (bidi
overrides), or be read as rich markup (``[red]``, ``[link=...]``). :func:`plain` writes every control or
format character as a visible escape; :func:`markup` also escapes rich markup, for strings placed inside
markup; :func:`cells` makes rich ``Text`` cells, which rich never parses as markup.
"""

from __future__ import annotations

import unicodedata


def plain(value) -> str:
    """``value`` as text with control and format characters (C0, DEL, C1, bidi, zero-width) escaped."""
    s = value if isinstance(value, str) else str(value)
    if s.isprintable():
        return s
    out = []
    for c in s:
        if c.isprintable() or c == " ":
            out.append(c)
        elif unicodedata.category(c) in ("Zs",):
            out.append(" ")
        else:
            code = ord(c)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def markup(value) -> str:
    """:func:`plain`, then rich markup escaped: safe inside a string rich parses as markup."""
    from rich.markup import escape

    return escape(plain(value))


def cells(*values):
    """rich ``Text`` cells of :func:`plain` text (``Text`` is never parsed as markup)."""
    from rich.text import Text

    return tuple(Text(plain(v)) for v in values)
