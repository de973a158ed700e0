"""`check_template`: the evaluator's load-time check of one label or annotation template.

Speed: texts without `{{` return at once; texts whose actions are all simple (`{{ $labels.job }}`,
`{{ $value | humanize }}`, `{{ printf "%.2f" $value }}`, see `_simple_actions_only`) skip the parser;
the rest are parsed, with results cached by (text, dialect, name).
"""

from __future__ import annotations

import re
from functools import lru_cache

from .dialects import TemplateDialect, template_dialect
from .errors import TemplateSyntaxError
from .parser import _parse


def check_template(
    text: str,
    dialect: str | TemplateDialect = "prometheus",
    *,
    name: str | None = None,
    version: str | None = None,
    go_version: str | None = None,
) -> None:
    """Raise TemplateSyntaxError when the evaluator would refuse `text` as a label/annotation template.

    `name` is the template name used in messages (Prometheus: `__alert_<alert>`; vmalert: empty).
    """
    if "{{" not in text:
        return  # no action: plain text for Go, whatever the dialect
    d = dialect if isinstance(dialect, TemplateDialect) else template_dialect(dialect, version, go_version)
    if d.skip_untemplated and "}}" not in text:
        return
    if _simple_actions_only(text, d):
        return
    tname = d.template_name(None) if name is None else name
    failure = _check_cached(text, d, tname)
    if failure is not None:
        reason, line = failure
        raise TemplateSyntaxError(reason, name=tname, line=line)


# Fast path. Most templates are actions of the form `{{ $labels.job }}`, `{{ .Value }}`,
# `{{ $value | humanize }}`, `{{ printf "%.2f" $value }}`: operands (a variable or field chain, a
# function name, a string without escapes, a plain decimal number) separated by single-line spaces,
# commands separated by `|`, later commands starting with a function name or a chain. Go accepts every
# such action whose variables are the header's and whose functions exist (no declarations, keywords,
# trim markers or comments can match), so these skip the parser; anything else goes through it.
_FP_CHAIN = r"(?:\$[A-Za-z_][A-Za-z0-9_]*+|\.[A-Za-z_][A-Za-z0-9_]*+)(?:\.[A-Za-z_][A-Za-z0-9_]*+)*+"
_FP_IDENT = r"[A-Za-z_][A-Za-z0-9_]*+"
_FP_OPERAND = rf'(?:{_FP_CHAIN}|{_FP_IDENT}|"[^"\\\n]*+"|(?:0|[1-9][0-9]{{0,17}})(?:\.[0-9]{{1,17}})?+)'
_FP_ARGUMENTS = rf"(?: ++{_FP_OPERAND})*+"
_FP_ACTION = re.compile(
    rf"\{{\{{ *+{_FP_OPERAND}{_FP_ARGUMENTS}(?: *+\| *+(?:{_FP_CHAIN}|{_FP_IDENT}){_FP_ARGUMENTS})*+ *+\}}\}}"
)
# Inside a matched action: strings (skipped), variables (group 1), field chains (skipped), names (group 2).
_FP_NAMES = re.compile(r'"[^"]*+"|(\$[A-Za-z0-9_]++)|\.[A-Za-z0-9_.]++|([A-Za-z_][A-Za-z0-9_]*+)')


def _simple_actions_only(text: str, dialect: TemplateDialect) -> bool:
    """True when every action of `text` is of the fast-path form and uses only known names."""
    variables, functions = dialect.variables, dialect.functions
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            return True
        action = _FP_ACTION.match(text, start)
        if action is None:
            return False
        pos = action.end()
        for name in _FP_NAMES.finditer(text, start + 2, pos - 2):
            variable, function = name.group(1, 2)
            if (variable is not None and variable not in variables) or (
                function is not None and function not in functions
            ):
                return False


@lru_cache(maxsize=8192)
def _check_cached(text: str, dialect: TemplateDialect, name: str) -> tuple[str, int] | None:
    try:
        _parse(text, dialect, name)
    except TemplateSyntaxError as err:
        return err.reason, err.line
    except RecursionError:
        return "template nesting too deep for AlertAgent's check", 1
    return None
