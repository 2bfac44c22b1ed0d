"""The generated parts of ``docs/reference/settings.md``: the run settings and the built-in profilers'
options, as Markdown tables made from their declarations.

``python -m dnn_suite.settings.reference`` rewrites the parts between the ``<!-- generated: NAME -->``
and ``<!-- end: NAME -->`` markers of that page; tests/core/test_settings_declared.py fails when
the page differs from what this writes, so the reference cannot go stale.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Iterable

from dnn_suite.options import Option
from dnn_suite.settings.declared import USER_SETTINGS, Setting

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "settings.md"
#: the distribution whose profilers the page documents (third-party ones document themselves)
BUILT_IN = "dnn-suite"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(value: Any) -> str:
    return "" if value is None else f"`{json.dumps(value)}`"


def _flag(setting: Setting) -> str:
    if setting.flag is None:
        return ""
    flag = setting.flag
    name = setting.flag_name
    shown = f"`--[no-]{name[2:]}`" if setting.default in (True, False) and not flag.repeated else f"`{name}`"
    commands = "" if len(flag.commands) == 3 else f" ({', '.join(flag.commands)})"
    return shown + commands


def settings_table() -> str:
    rows = ["| key | flag | values | default | meaning |", "|---|---|---|---|---|"]
    for name, setting in USER_SETTINGS.items():
        default = "the model's" if name in ("variant", "dataset", "batch_size") else _default(setting.default)
        rows.append(f"| `{name}` | {_flag(setting)} | {_cell(setting.type.expected)} | {default} | "
                    f"{_cell(setting.help)} |")
    return "\n".join(rows)


def options_table(options: Iterable[Option]) -> str:
    rows = ["| option | values | default | meaning |", "|---|---|---|---|"]
    for option in options:
        rows.append(f"| `{option.name}` | {_cell(option.value_type.expected)} | {_default(option.default)} | "
                    f"{_cell(option.help)} |")
    return "\n".join(rows)


def built_in_options(kind: str) -> str:
    """The options of the built-in ``profilers`` or ``loggers``, a table each."""
    from dnn_suite.plugins import discover  # the registry, only when the page is written

    registry = discover()
    parts = []
    for name, entry in sorted(getattr(registry, kind).items()):
        if entry.origin.distribution == BUILT_IN and entry.spec.options:
            parts.append(f"### {name}\n\n{options_table(entry.spec.options)}")
    return "\n\n".join(parts)


SECTIONS = {"run settings": settings_table, "profiler options": lambda: built_in_options("profilers"),
            "logger options": lambda: built_in_options("loggers")}


def render(page: str) -> str:
    """``page`` with every generated section rewritten."""
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n)(?:.*?\n)?(<!-- end: {name} -->)", re.S)
        if not pattern.search(page):
            raise ValueError(f"{PAGE}: no '<!-- generated: {name} -->' ... '<!-- end: {name} -->' section")
        page = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), page)
    return page


def main() -> int:
    PAGE.write_text(render(PAGE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {PAGE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
