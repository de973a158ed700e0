"""Go text/template parse check for alert labels and annotations, per rule evaluator (dialect).

What a rule evaluator refuses when it loads a rule file is exactly what Go's `text/template` parser
refuses for `header + text`, where the header is a run of `{{$var := .Field}}` actions the evaluator
prepends and the function map is the evaluator's own plus Go's builtins. This package is a
re-implementation (not a copy) of that parser, so the check accepts and refuses what the target does,
with Go's messages (`template: NAME:LINE: undefined variable "$label"`).

Upstream files mirrored, and the versions read (each module's docstring has the details):

- `lexer`: Go `src/text/template/parse/lex.go` (Go 1.26).
- `parser`, with `lookahead`: Go `src/text/template/parse/parse.go` (Go 1.26).
- `nodes`, with `literals`: Go `src/text/template/parse/node.go` (`newNumber`) with `strconv`'s and
  `fmt.Sscan`'s number and quote rules.
- `dialects`: Go `src/text/template/funcs.go`; Prometheus `model/rulefmt/rulefmt.go`,
  `rules/alerting.go` and `template/template.go` (v2.42.0 and main after v3.14.0); VictoriaMetrics
  `app/vmalert/notifier/alert.go`, `app/vmalert/config/config.go` and `app/vmalert/templates/template.go`
  (v1.79.5 and main after v1.150.0); the Go version differences (``go_version``). The test bed's Debian
  binaries (Prometheus 2.42, vmalert 1.79.5) are built with go1.19.8.
- `check`: `check_template`, its fast path and its cache.

Without ``version`` a dialect is the current upstream (Prometheus main, vmalert main, newest Go), so
`{{ now }}` passes the default Prometheus check though Prometheus 2.42 refuses it: pass the
evaluator's version (and Go version, both in its build info) to check against one build.

Parity was checked, message for message, against a Go 1.26 parse with each dialect's header and
function names, and against `promtool check rules` 2.42.0 and `vmalert -dryRun` 1.79.5 (go1.19.8),
on a hand-written table and on randomly generated templates. Known limits: execution-time errors
(unknown `.Field`, wrong argument count, `{{template "x"}}` of a template that does not exist) are
accepted, as by the targets' load-time checks. Nesting deeper than Python's recursion allows (about
250 nested blocks or parentheses; Go allows 10,000 parentheses) is refused with its own message.

Speed: texts without `{{` return at once; texts whose actions are all simple (`{{ $labels.job }}`,
`{{ $value | humanize }}`, `{{ printf "%.2f" $value }}`, see `_simple_actions_only`) skip the parser;
the rest are parsed, with results cached by (text, dialect, name).
"""

from __future__ import annotations

from .check import _simple_actions_only as _simple_actions_only
from .check import check_template
from .dialects import DIALECTS, TemplateDialect, template_dialect
from .errors import TemplateSyntaxError
from .parser import _parse as _parse

__all__ = [
    "DIALECTS",
    "TemplateDialect",
    "TemplateSyntaxError",
    "check_template",
    "template_dialect",
]
