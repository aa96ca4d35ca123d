"""Matching of actions, resources and principals, with AWS's wildcard, case and policy-variable rules.

- Action names are case-insensitive; ``*`` and ``?`` match any run of characters and one character.
- Resource ARNs are case-sensitive and matched part by part: an ARN has six colon-separated parts
  (``arn:partition:service:region:account:resource``) and a wildcard in one of the first five stays
  within its part, except a ``*`` that ends its part, which "can expand to match beyond the colon
  boundaries" (IAM User Guide, "IAM JSON policy elements: Resource"); the resource part (which may
  itself hold colons, as in ``log-group:NAME:log-stream:S``) is matched as a whole.
  ``ArnLike``/``ArnEquals`` check each of the six components separately, so there no wildcard
  crosses a colon (IAM User Guide, "Condition operators").
- Policy variables (``${aws:username}``, ``${aws:PrincipalTag/team, 'default'}``, ``${*}``, ``${?}``,
  ``${$}``) are replaced from the request context in policies of version ``2012-10-17``; a variable
  whose key the request lacks, and has no default, makes that one value match nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

ARN_PARTS = 6
VARIABLE = re.compile(r"\$\{\s*([^}]*?)\s*\}")
_DEFAULT = re.compile(r"^(?P<key>[^,]+?)\s*,\s*'(?P<default>[^']*)'$")
# ${*}, ${?} and ${$} stand for the literal characters, not for wildcards.
_ESCAPES = {"*": "\x00", "?": "\x01", "$": "$"}
_LITERALS = {"\x00": "*", "\x01": "?"}
_UNMARK = str.maketrans(_LITERALS)


_ANY, _LOCAL = "any", "local"  # what a wildcard may match: any character, or any but ':'


def _fold(character: str) -> str:
    # One character for one, as a case-insensitive regular expression compares them.
    lower = character.lower()
    return lower if len(lower) == 1 else character


@dataclass(frozen=True, eq=False)
class Glob:
    """A wildcard pattern, matched in time linear in the value: a bit-parallel automaton of the
    pattern's positions, stepped once per character, never backtracking (a regular expression
    translated from ``*a*a*a...b`` takes exponential time on a value that almost matches).

    Bit ``i`` of the state means "the first ``i`` tokens of the pattern match what was read";
    ``literals`` maps a character to the tokens equal to it, ``one_*`` are the ``?`` tokens and
    ``star_*`` the ``*`` tokens, of either class (no two stars are adjacent: they are merged).
    """

    literals: Mapping[str, int]
    one_any: int
    one_local: int
    star_any: int
    star_local: int
    final: int
    prefix: str
    ignore_case: bool

    def match(self, value: str) -> bool:
        """Whether ``value`` matches the whole pattern."""
        if self.ignore_case:
            value = value.lower() if value.isascii() else "".join(map(_fold, value))
        if not value.startswith(self.prefix):
            return False
        stars = self.star_any | self.star_local
        state = 1 | ((1 & stars) << 1)
        literals, one, one_local, star_any, star_all = (
            self.literals, self.one_any, self.one_any | self.one_local, self.star_any, stars)
        for character in value[len(self.prefix):]:
            if character == ":":
                state = ((state & (literals.get(character, 0) | one)) << 1) | (state & star_any)
            else:
                state = ((state & (literals.get(character, 0) | one_local)) << 1) | (state & star_all)
            if not state:
                return False
            state |= (state & stars) << 1
        return bool(state & self.final)


def _tokens(text: str, star: str, one: str) -> list[tuple[str, str]]:
    """``text`` as tokens: ("literal", character), ("one", class) or ("star", class)."""
    tokens = []
    for character in text:
        if character == "*":
            tokens.append(("star", star))
        elif character == "?":
            tokens.append(("one", one))
        else:
            tokens.append(("literal", character.translate(_UNMARK)))
    return tokens


def _arn_tokens(pattern: str, expand: bool) -> list[tuple[str, str]]:
    parts = pattern.split(":", ARN_PARTS - 1)
    tokens: list[tuple[str, str]] = []
    for part in parts[:-1]:
        part_tokens = _tokens(part, _LOCAL, _LOCAL)
        if expand and part.endswith("*"):
            part_tokens[-1] = ("star", _ANY)
        tokens += [*part_tokens, ("literal", ":")]
    return tokens + _tokens(parts[-1], _ANY, _ANY)


def _build(tokens: list[tuple[str, str]], ignore_case: bool) -> Glob:
    merged: list[tuple[str, str]] = []
    for kind, what in tokens:
        if kind == "star" and merged and merged[-1][0] == "star":
            merged[-1] = ("star", _ANY if _ANY in (what, merged[-1][1]) else _LOCAL)
        else:
            merged.append((kind, _fold(what) if ignore_case and kind == "literal" else what))
    prefix = ""
    for kind, what in merged:
        if kind != "literal":
            break
        prefix += what
    merged = merged[len(prefix):]
    literals: dict[str, int] = {}
    masks = {("one", _ANY): 0, ("one", _LOCAL): 0, ("star", _ANY): 0, ("star", _LOCAL): 0}
    for position, (kind, what) in enumerate(merged):
        if kind == "literal":
            literals[what] = literals.get(what, 0) | 1 << position
        else:
            masks[kind, what] |= 1 << position
    return Glob(literals, masks["one", _ANY], masks["one", _LOCAL], masks["star", _ANY], masks["star", _LOCAL],
                1 << len(merged), prefix, ignore_case)


@lru_cache(maxsize=8192)
def compile_glob(pattern: str, ignore_case: bool = False, arn: str | None = None) -> Glob:
    """Compile one pattern: ``arn=None`` a glob whose ``*``/``?`` match any character, colons
    included; ``arn="resource"`` a ``Resource`` ARN matched part by part, where a ``*`` ending one of
    the first five parts may run on past colons; ``arn="condition"`` an ``ArnLike``/``ArnEquals``
    value, where no wildcard of the first five components crosses a colon (see the module docstring).
    """
    if arn is None:
        tokens = _tokens(pattern, _ANY, _ANY)
    else:
        tokens = _arn_tokens(pattern, expand=arn == "resource")
    return _build(tokens, ignore_case)


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def has_variable(text: str) -> bool:
    return "${" in text


def substitute(text: str, context: Mapping[str, Any]) -> str | None:
    """Replace the policy variables in ``text`` from ``context`` (keys in lower case).

    Returns ``None`` when a variable names a key the request lacks (or holds several values) and
    gives no default: AWS then matches nothing with this value. ``${*}`` and ``${?}`` come back as
    private markers that :func:`compile_glob` turns into the literal characters.
    """
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        body = match.group(1)
        if body in _ESCAPES:
            return _ESCAPES[body]
        default = _DEFAULT.match(body)
        key, fallback = (default.group("key").strip(), default.group("default")) if default else (body, None)
        value = context.get(key.lower())
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else None
        if value is None:
            if fallback is None:
                missing = True
                return ""
            return fallback
        return context_text(value)

    result = VARIABLE.sub(replace, text)
    return None if missing else result


def unmark(text: str) -> str:
    """Turn the markers :func:`substitute` leaves for ``${*}``/``${?}`` into the plain characters
    (for operators that compare literally rather than as globs)."""
    return text.translate(_UNMARK)


def context_text(value: Any) -> str:
    """A context value as the text AWS compares (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_list(value: Any) -> list[Any]:
    """A policy element that may be one value or a list, as a list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


@dataclass(frozen=True)
class PatternSet:
    """Compiled ``Action`` or ``Resource`` values of one statement.

    ``exact`` holds values without wildcards or variables (lower-cased when case is ignored),
    ``globs`` the wildcard values, ``templates`` the values with policy variables, compiled per
    request.
    """

    exact: frozenset[str]
    globs: tuple[Glob, ...]
    templates: tuple[str, ...]
    ignore_case: bool
    arn: bool
    everything: bool

    def matches(self, value: str, context: Mapping[str, Any]) -> bool:
        if self.everything:
            return True
        probe = value.lower() if self.ignore_case else value
        if probe in self.exact:
            return True
        if any(glob.match(value) for glob in self.globs):
            return True
        kind = "resource" if self.arn else None
        for template in self.templates:
            text = substitute(template, context)
            if text is not None and compile_glob(text, self.ignore_case, kind).match(value):
                return True
        return False


def compile_patterns(values: Iterable[Any], *, ignore_case: bool, arn: bool, variables: bool) -> PatternSet:
    """Compile the values of an ``Action``/``NotAction`` (``arn=False``, ``ignore_case=True``) or
    ``Resource``/``NotResource`` (``arn=True``) element."""
    exact: set[str] = set()
    globs: list[Glob] = []
    templates: list[str] = []
    everything = False
    for raw in values:
        if not isinstance(raw, str):
            raise ValueError(f"expected a string, got {raw!r}")
        if raw == "*":
            everything = True
        elif variables and has_variable(raw):
            templates.append(raw)
        elif has_wildcard(raw):
            globs.append(compile_glob(raw, ignore_case, "resource" if arn else None))
        else:
            exact.add(raw.lower() if ignore_case else raw)
    return PatternSet(frozenset(exact), tuple(globs), tuple(templates), ignore_case, arn, everything)


def arn_like(pattern: str, value: str) -> bool:
    """``ArnLike``/``ArnEquals``: ``value`` matches the ARN ``pattern`` component by component, case-sensitively."""
    return compile_glob(pattern, False, "condition").match(value)


def string_like(pattern: str, value: str) -> bool:
    """``StringLike``: a case-sensitive glob over the whole value."""
    return compile_glob(pattern).match(value)


_ACCOUNT = re.compile(r"^\d{12}$")
_ARN = re.compile(r"^arn:(?P<partition>[^:]+):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)$")


@dataclass(frozen=True)
class Principal:
    """The principal of a request, as its ARN, service or ``*``, with what policies match it on.

    ``kind`` is one of ``anonymous``, ``service``, ``root``, ``user``, ``role``, ``session``
    (an assumed-role session), ``federated`` (a ``GetFederationToken`` session), ``provider`` (an
    OIDC or SAML provider) or ``other``.
    """

    text: str
    kind: str
    account: str | None = None
    partition: str | None = None
    role_arn_name: str | None = None  # for a session: the role's name, to match its role ARN

    @property
    def is_iam(self) -> bool:
        """Whether an identity in an account (root, user, role, role session or federated user
        session) makes the request: an account principal covers all of them."""
        return self.kind in {"root", "user", "role", "session", "federated"}

    @property
    def is_service_linked(self) -> bool:
        """Whether the principal is a service-linked role (its ARN's path is ``/aws-service-role/``)."""
        return self.kind == "role" and self.text.split(":", 5)[5].startswith("role/aws-service-role/")


_IAM_KINDS = {"root": "root", "user": "user", "role": "role", "assumed-role": "session",
              "federated-user": "federated", "oidc-provider": "provider", "saml-provider": "provider"}


@lru_cache(maxsize=4096)
def parse_principal(text: str | None) -> Principal:
    """Classify a request principal: ``*``, a service (``vpc-flow-logs.amazonaws.com``), an account
    id, or an IAM/STS ARN."""
    if text is None or text == "" or text == "*":
        return Principal("*", "anonymous")
    if _ACCOUNT.match(text):
        return Principal(text, "root", account=text, partition="aws")
    match = _ARN.match(text)
    if match:
        resource = match.group("resource")
        head = resource.split("/", 1)[0]
        kind = _IAM_KINDS.get(head, "other")
        role_name = resource.split("/")[1] if kind == "session" and resource.count("/") >= 2 else None
        return Principal(text, kind, match.group("account"), match.group("partition"), role_name)
    if text.startswith("arn:"):
        return Principal(text, "other")
    return Principal(text, "service")


@dataclass(frozen=True)
class PrincipalSet:
    """The compiled ``Principal`` or ``NotPrincipal`` element of a resource-based policy."""

    everyone: bool
    accounts: frozenset[tuple[str | None, str]]  # (partition or None for the short form, account id)
    arns: frozenset[str]
    roles: frozenset[tuple[str, str, str]]  # (partition, account, role name) of role ARNs
    others: frozenset[str]  # Service, Federated and CanonicalUser values
    services: frozenset[str]  # Service values, lower case (service names are case-insensitive)

    def matches(self, principal: Principal) -> bool:
        if self.everyone:
            return True
        if self.names_exactly(principal):
            return True
        if principal.is_iam and (
            (None, principal.account) in self.accounts or (principal.partition, principal.account) in self.accounts
        ):
            return True
        return principal.kind == "session" and (
            (principal.partition, principal.account, principal.role_arn_name) in self.roles
        )

    def names_exactly(self, principal: Principal) -> bool:
        """Whether this element names ``principal`` itself (or everyone), not its account or role."""
        if self.everyone or principal.text in self.others or principal.text in self.arns:
            return True
        return principal.kind == "service" and principal.text.lower() in self.services

    def excludes(self, principal: Principal) -> bool:
        """Whether a ``NotPrincipal`` element exempts ``principal``: only a principal it names
        itself (an account ARN exempts the account's root user, not every identity in the account;
        a role ARN does not exempt the role's sessions), as AWS's ``NotPrincipal`` page describes."""
        if self.names_exactly(principal):
            return True
        return principal.kind == "root" and (
            (None, principal.account) in self.accounts or (principal.partition, principal.account) in self.accounts
        )

    def names_account_only(self, principal: Principal) -> bool:
        """Whether this element admits ``principal`` only through its account (``123…`` or ``…:root``),
        which delegates the decision to the account's identity policies."""
        if not principal.is_iam or self.everyone or principal.text in self.arns or principal.text in self.others:
            return False
        if principal.kind == "session" and (principal.partition, principal.account, principal.role_arn_name) in self.roles:
            return False
        return (None, principal.account) in self.accounts or (principal.partition, principal.account) in self.accounts


def compile_principals(element: Any) -> PrincipalSet:
    """Compile a ``Principal``/``NotPrincipal`` element: ``"*"`` or ``{"AWS"|"Service"|"Federated"|
    "CanonicalUser": value or list}``; an ``AWS`` value is ``*``, an account id or an ARN."""
    if element == "*":
        return PrincipalSet(True, frozenset(), frozenset(), frozenset(), frozenset(), frozenset())
    if not isinstance(element, Mapping):
        raise ValueError(f"Principal must be \"*\" or an object, got {element!r}")
    everyone = False
    accounts: set[tuple[str | None, str]] = set()
    arns: set[str] = set()
    roles: set[tuple[str, str, str]] = set()
    others: set[str] = set()
    services: set[str] = set()
    for kind, values in element.items():
        for value in as_list(values):
            if not isinstance(value, str):
                raise ValueError(f"Principal {kind} values must be strings, got {value!r}")
            if kind == "AWS":
                parsed = parse_principal(value)
                if value == "*":
                    everyone = True
                elif _ACCOUNT.match(value):
                    accounts.add((None, value))
                elif parsed.kind == "root":
                    accounts.add((parsed.partition, parsed.account or ""))
                else:
                    arns.add(value)
                    if parsed.kind == "role":
                        roles.add((parsed.partition or "", parsed.account or "", value.rsplit("/", 1)[-1]))
            elif kind == "Service":
                services.add(value.lower())
            elif kind in ("Federated", "CanonicalUser"):
                others.add(value)
            else:
                raise ValueError(f"unknown Principal type {kind!r}")
    return PrincipalSet(everyone, frozenset(accounts), frozenset(arns), frozenset(roles), frozenset(others), frozenset(services))
