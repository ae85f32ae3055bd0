"""`{{placeholder}}` templates of sequence steps: `{{first_name}}`, `{{company | Ihr Team}}` (a fallback after `|`).

A placeholder the renderer does not know is an error naming it (and what is known), caught when the sequence is
created, not when the first lead would have received a message with braces in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

PLACEHOLDER: Final = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|\s*([^}]*?)\s*)?\}\}")

#: What a template may name; each is read from the lead (see `lead_values`).
PLACEHOLDERS: Final = ("first_name", "last_name", "name", "company", "email", "phone")


class UnknownPlaceholder(ValueError):
    """A template names a placeholder that does not exist."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown placeholder {{{{{name}}}}}; known: {', '.join(PLACEHOLDERS)}")
        self.name = name


def placeholders_in(template: str) -> list[str]:
    """The placeholder names a template uses, in order; UnknownPlaceholder for the first unknown one."""
    names = [m.group(1) for m in PLACEHOLDER.finditer(template)]
    for name in names:
        if name not in PLACEHOLDERS:
            raise UnknownPlaceholder(name)
    return names


def lead_values(lead: Mapping[str, Any]) -> dict[str, str]:
    """The placeholder values of a lead row (name split into first and last at the first space)."""
    name = str(lead.get("name") or "").strip()
    first, _, last = name.partition(" ")
    return {
        "first_name": first,
        "last_name": last.strip(),
        "name": name,
        "company": str(lead.get("company") or "").strip(),
        "email": str(lead.get("email") or "").strip(),
        "phone": str(lead.get("phone") or "").strip(),
    }


def render(template: str, values: Mapping[str, str]) -> str:
    """The template with every placeholder replaced (its fallback when the value is empty); collapses the
    space an empty value leaves before punctuation ("Hallo ," → "Hallo,")."""
    placeholders_in(template)

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1), "")
        return value if value else (match.group(2) or "")

    text = PLACEHOLDER.sub(fill, template)
    return re.sub(r"[ \t]+([,.!?;:])", r"\1", text).strip()
