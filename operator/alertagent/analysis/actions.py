"""Vetting an LLM's answer (pure): suggested actions checked against a small grammar of kubectl
commands and the incident's namespaces, and evidence a model could not have seen marked.

`vet_actions(result, allowed_namespaces, tool_calls)` returns the result with:

- each action's `command` parsed (`shlex`, POSIX rules) against this grammar, flags in any order, the
  namespace given as `-n <ns>`, `-n=<ns>`, `--namespace <ns>` or `--namespace=<ns>` (required: without
  it kubectl would use whatever namespace the reader's context has):

      kubectl rollout undo <kind>/<name> -n <ns> [--to-revision=N]   RolloutUndo  (deployment|statefulset|daemonset)
      kubectl rollout restart <kind>/<name> -n <ns>                  Restart      (deployment|statefulset|daemonset)
      kubectl scale <kind>/<name> -n <ns> --replicas=N               Scale        (deployment|statefulset|replicaset)
      kubectl delete pod <name> -n <ns>  (or pod/<name>)             Restart      (its controller makes a new one)
      kubectl get|describe <kind>[/<name>] [<name>] -n <ns>          Other        (read-only: pods, workloads,
      kubectl logs <pod> -n <ns> [-c C] [--previous] [--tail=N]                   services, events; no Secrets)
      kubectl rollout status|history <kind>/<name> -n <ns>

  Kinds may be written as kubectl accepts them (`deploy`, `deployments`, `deployment.apps`, `sts`, ...)
  and are normalised to the singular (`deployment/api`). A parsed command fills `kind`, `namespace`,
  `target` (`kind/name`) and `replicas` from itself (the command is what a person would run, so it wins
  over the model's own fields), and is rewritten in the canonical form. An action without a command
  but with a repair kind and fields gets the command they describe, then is checked the same way.
- an action whose command does not parse, whose namespace is not one of the incident's, or that names
  another kind, flag, verb or shell syntax (`;`, `|`, `&&`, `$(…)`, redirections) becomes kind `Other`
  with no namespace, target or replicas, and its reason starts `refused: <why>` (the command is kept
  for the human; never structured for an approval flow). An `Other` action without a command (advice in
  words) is kept as it is.
- each evidence item whose fact points to something outside what the model was shown — a `pod:`,
  `event:` or `rollout:` ref whose namespace is not one of the incident's, or `tool:N` with N not in
  1..tool_calls (the calls made) — gets its detail prefixed `unverified: ` (once).

Nothing is executed. Deterministic; never raises.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from alertagent.api.analysis import ActionKind, AnalysisResult, Evidence, SuggestedAction

_NAME_RE: Final = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")
_NAMESPACE_RE: Final = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_SHELL: Final = re.compile(r"[;|&<>`$\n\r\\]")
_KINDS: Final = {
    "deployment": ("deployment", "deployments", "deploy", "deployment.apps", "deployments.apps"),
    "statefulset": ("statefulset", "statefulsets", "sts", "statefulset.apps", "statefulsets.apps"),
    "daemonset": ("daemonset", "daemonsets", "ds", "daemonset.apps", "daemonsets.apps"),
    "replicaset": ("replicaset", "replicasets", "rs", "replicaset.apps", "replicasets.apps"),
    "pod": ("pod", "pods", "po"),
    "service": ("service", "services", "svc"),
    "event": ("event", "events", "ev"),
}
_KIND_OF: Final = {alias: kind for kind, aliases in _KINDS.items() for alias in aliases}
_ROLLOUT_KINDS: Final = frozenset({"deployment", "statefulset", "daemonset"})
_SCALE_KINDS: Final = frozenset({"deployment", "statefulset", "replicaset"})
_ROLLOUT_ACTIONS: Final[dict[str, ActionKind]] = {"rollout undo": "RolloutUndo", "rollout restart": "Restart"}
_REFUSED: Final = "refused: "
_UNVERIFIED: Final = "unverified: "
_REF_RE: Final = re.compile(r"\s*(?P<type>pod|event|rollout|tool)\s*:\s*(?P<rest>\S.*)", re.IGNORECASE)


class _RefusedError(ValueError):
    """Why a command is not in the grammar."""


@dataclass(frozen=True)
class Command:
    """A parsed command: the action kind, namespace, target (`kind/name`, or a bare kind for a list),
    replicas (Scale) and its canonical text."""

    kind: ActionKind
    namespace: str
    target: str
    replicas: int | None
    text: str


def parse_command(command: str) -> Command:
    """command read against the grammar (see the module docstring). Raises ValueError with the reason
    when it is not in it."""
    if _SHELL.search(command):
        raise _RefusedError("shell syntax (;, |, &, $, `, <, >, \\) is not a kubectl command")
    try:
        words = shlex.split(command)
    except ValueError as err:
        raise _RefusedError(f"cannot split it into words ({err})") from None
    if not words or words[0] != "kubectl":
        raise _RefusedError("not a kubectl command")
    flags, args = _flags(words[1:])
    namespace = flags.pop("namespace", None)
    if namespace is None:
        raise _RefusedError("no namespace (-n) given")
    if not _NAMESPACE_RE.fullmatch(namespace):
        raise _RefusedError(f"not a namespace: {namespace[:64]!r}")
    verb = " ".join(args[:2] if args[:1] == ["rollout"] else args[:1])
    read = _VERBS.get(verb)
    if read is None:
        raise _RefusedError(f"`kubectl {verb[:32]}` is not a suggested command AlertAgent accepts")
    return read(verb, args[len(verb.split()) :], flags, namespace)


def _rollout(verb: str, rest: list[str], flags: dict[str, str], namespace: str) -> Command:
    kind, name = _target(rest, _ROLLOUT_KINDS)
    _only(flags, {"to-revision"} if verb == "rollout undo" else set())
    revision = flags.get("to-revision")
    if revision is not None and not revision.isdigit():
        raise _RefusedError(f"--to-revision must be a whole number, not {revision[:16]!r}")
    text = f"kubectl {verb} {kind}/{name} -n {namespace}" + (f" --to-revision={int(revision)}" if revision else "")
    return Command(_ROLLOUT_ACTIONS.get(verb, "Other"), namespace, f"{kind}/{name}", None, text)


def _scale(_verb: str, rest: list[str], flags: dict[str, str], namespace: str) -> Command:
    kind, name = _target(rest, _SCALE_KINDS)
    _only(flags, {"replicas"})
    replicas = flags.get("replicas")
    if replicas is None or not replicas.isdigit():
        raise _RefusedError("scale needs --replicas=N, N a whole number")
    text = f"kubectl scale {kind}/{name} -n {namespace} --replicas={int(replicas)}"
    return Command("Scale", namespace, f"{kind}/{name}", int(replicas), text)


def _delete(_verb: str, rest: list[str], flags: dict[str, str], namespace: str) -> Command:
    _kind, name = _target(rest, {"pod"})
    _only(flags, set())
    return Command("Restart", namespace, f"pod/{name}", None, f"kubectl delete pod {name} -n {namespace}")


def _get(verb: str, rest: list[str], flags: dict[str, str], namespace: str) -> Command:
    _only(flags, {"output"} if verb == "get" else set())
    output = flags.get("output")
    if output is not None and output not in ("wide", "yaml", "json"):
        raise _RefusedError(f"-o {output[:16]} is not one of wide, yaml, json")
    kind, name = _target(rest, set(_KINDS), name_required=False)
    target = f"{kind}/{name}" if name else kind
    text = f"kubectl {verb} {target} -n {namespace}" + (f" -o {output}" if output else "")
    return Command("Other", namespace, target, None, text)


def _logs(_verb: str, rest: list[str], flags: dict[str, str], namespace: str) -> Command:
    _only(flags, {"container", "previous", "tail"})
    if len(rest) != 1:
        raise _RefusedError("logs needs exactly one pod")
    pod = rest[0].removeprefix("pod/")
    if not _NAME_RE.fullmatch(pod):
        raise _RefusedError(f"not a pod name: {pod[:64]!r}")
    tail, container = flags.get("tail"), flags.get("container")
    if tail is not None and not tail.isdigit():
        raise _RefusedError("--tail must be a whole number")
    if container is not None and not _NAMESPACE_RE.fullmatch(container):
        raise _RefusedError(f"not a container name: {container[:64]!r}")
    text = f"kubectl logs {pod} -n {namespace}" + (f" -c {container}" if container else "")
    text += (" --previous" if "previous" in flags else "") + (f" --tail={int(tail)}" if tail else "")
    return Command("Other", namespace, f"pod/{pod}", None, text)


_VERBS: Final[dict[str, Callable[[str, list[str], dict[str, str], str], Command]]] = {
    "rollout undo": _rollout,
    "rollout restart": _rollout,
    "rollout status": _rollout,
    "rollout history": _rollout,
    "scale": _scale,
    "delete": _delete,
    "get": _get,
    "describe": _get,
    "logs": _logs,
}


# Flags: canonical name → (spellings, takes a value).
_FLAGS: Final = {
    "namespace": (("-n", "--namespace"), True),
    "to-revision": (("--to-revision",), True),
    "replicas": (("--replicas",), True),
    "output": (("-o", "--output"), True),
    "container": (("-c", "--container"), True),
    "tail": (("--tail",), True),
    "previous": (("-p", "--previous"), False),
}
_SPELLING: Final = {spelling: (name, value) for name, (spellings, value) in _FLAGS.items() for spelling in spellings}


def _flags(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """(flags by canonical name, positional words); unknown or repeated flags are refused."""
    flags: dict[str, str] = {}
    args: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-"):
            args.append(word)
            continue
        spelling, eq, value = word.partition("=")
        known = _SPELLING.get(spelling)
        if known is None:
            raise _RefusedError(f"the flag {spelling[:32]} is not accepted")
        name, takes_value = known
        if name in flags:
            raise _RefusedError(f"the flag {spelling} is given twice")
        if not takes_value:
            if eq:
                raise _RefusedError(f"the flag {spelling} takes no value")
            flags[name] = ""
            continue
        if not eq:
            if i >= len(words):
                raise _RefusedError(f"the flag {spelling} needs a value")
            value, i = words[i], i + 1
        flags[name] = value
    return flags, args


def _only(flags: dict[str, str], allowed: set[str]) -> None:
    extra = sorted(set(flags) - allowed)
    if extra:
        raise _RefusedError(f"the flag --{extra[0]} is not accepted here")


def _target(words: list[str], kinds: Iterable[str], name_required: bool = True) -> tuple[str, str]:
    """(kind, name) from `kind/name` or `kind name` (name optional unless name_required)."""
    if len(words) == 1 and "/" in words[0]:
        raw_kind, _, name = words[0].partition("/")
    elif 1 <= len(words) <= 2:
        raw_kind, name = words[0], words[1] if len(words) == 2 else ""
    else:
        raise _RefusedError("needs one target, kind/name")
    kind = _KIND_OF.get(raw_kind.lower())
    if kind is None or kind not in set(kinds):
        raise _RefusedError(f"the kind {raw_kind[:32]!r} is not accepted here")
    if name and not _NAME_RE.fullmatch(name):
        raise _RefusedError(f"not an object name: {name[:64]!r}")
    if name_required and not name:
        raise _RefusedError("needs a target, kind/name")
    return kind, name


def _command_from_fields(action: SuggestedAction) -> str:
    """The command a repair action's own fields describe ("" when they describe none)."""
    if not action.target or not action.namespace:
        return ""
    if action.kind == "RolloutUndo":
        return f"kubectl rollout undo {action.target} -n {action.namespace}"
    if action.kind == "Restart":
        if action.target.lower().startswith("pod/"):
            return f"kubectl delete pod {action.target.partition('/')[2]} -n {action.namespace}"
        return f"kubectl rollout restart {action.target} -n {action.namespace}"
    if action.kind == "Scale" and action.replicas is not None:
        return f"kubectl scale {action.target} -n {action.namespace} --replicas={action.replicas}"
    return ""


def _cut(text: str, limit: int = 1024) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def vet_action(action: SuggestedAction, allowed: frozenset[str]) -> SuggestedAction:
    """One action checked (see the module docstring)."""
    if action.kind == "Other" and not action.command:
        return action
    if action.reason.startswith(_REFUSED):
        return action  # vetted already
    command = action.command or _command_from_fields(action)
    try:
        if not command:
            raise _RefusedError("no command, and its fields describe none")
        parsed = parse_command(command)
        if parsed.namespace not in allowed:
            raise _RefusedError(
                f"namespace {parsed.namespace!r} is not one of the incident's: {', '.join(sorted(allowed)) or '(none)'}"
            )
    except _RefusedError as why:
        reason = f"{_REFUSED}{why}" + (f"; {action.reason}" if action.reason else "")
        return SuggestedAction(kind="Other", command=action.command, reason=_cut(reason))
    return SuggestedAction(
        kind=parsed.kind,
        namespace=parsed.namespace,
        target=parsed.target,
        replicas=parsed.replicas,
        command=parsed.text,
        reason=action.reason,
    )


def _fact_seen(fact: str, allowed: frozenset[str], tool_calls: int) -> bool:
    """Whether a fact ref points to something the model was shown (anything not a ref counts)."""
    m = _REF_RE.fullmatch(fact)
    if m is None:
        return True
    rest = m["rest"].strip()
    if m["type"].lower() == "tool":
        return rest.isdigit() and 1 <= int(rest) <= tool_calls
    return rest.split("/", 1)[0] in allowed


def vet_actions(result: AnalysisResult, allowed_namespaces: Iterable[str], tool_calls: int = 0) -> AnalysisResult:
    """result with its actions checked and its evidence marked (see the module docstring)."""
    allowed = frozenset(allowed_namespaces)
    evidence = [
        e
        if _fact_seen(e.fact, allowed, tool_calls) or e.detail.startswith(_UNVERIFIED)
        else Evidence(fact=e.fact, detail=_cut(_UNVERIFIED + e.detail))
        for e in result.evidence
    ]
    actions = [vet_action(a, allowed) for a in result.actions]
    return result.model_copy(update={"evidence": evidence, "actions": actions})
