"""Alertmanager's label-matcher syntax: parse, print and evaluate ``{name="value", ...}``.

Routing, runbook selection, API filters and Slack commands share this module so that a matcher
string means the same thing everywhere in Firebreak, and what it means to Alertmanager and amtool.

Accepted syntax (Alertmanager's classic form plus the quoted label names of 0.27):

* an optional ``{ ... }`` around a comma-separated list; a trailing comma is allowed, and
  ``{}`` or blank text is the empty list;
* a label name is ``[a-zA-Z_][a-zA-Z0-9_]*`` or a double-quoted string;
* an operator is one of ``=``, ``!=``, ``=~``, ``!~``;
* a value is double-quoted (``\\"``, ``\\\\`` and ``\\n`` are escapes; any other backslash
  sequence is kept as written, so ``"\\d+"`` is the regex ``\\d+``) or unquoted, running up to
  the next ``,`` or ``}`` with surrounding whitespace stripped.

Regular expressions are RE2, as in Alertmanager and Prometheus (no look-arounds or
back-references; linear time in the label value, so no pattern can stall the server), and are
anchored as Alertmanager anchors them: ``^(?:value)$`` must match the label value. A missing
label counts as the empty string. Error positions are 0-based character offsets into the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from receiver.errors import MatcherError
from receiver.regex import AnchoredRegex, RegexRefused, compile_anchored

__all__ = [
    "MatchOp",
    "Matcher",
    "format_matchers",
    "matches_all",
    "parse_matcher",
    "parse_matcher_args",
    "parse_matchers",
]

_IDENTIFIER = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OPERATORS = "=, !=, =~, !~"


class MatchOp(StrEnum):
    """A matcher's comparison operator, spelled as in Alertmanager."""

    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


# Two-character operators first, so "=~" is not read as "=" followed by a value starting "~".
_OPERATOR_TOKENS = (MatchOp.RE, MatchOp.NRE, MatchOp.NE, MatchOp.EQ)


def _quote(text: str) -> str:
    """Return ``text`` double-quoted with the escapes the parser understands."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _format_name(name: str) -> str:
    """Return a label name as it must be written: bare if an identifier, quoted otherwise."""
    return name if _IDENTIFIER.fullmatch(name) else _quote(name)


@dataclass(frozen=True, slots=True)
class Matcher:
    """One ``name op value`` condition on an alert's labels."""

    name: str
    op: MatchOp
    value: str
    # Compiled once here so that matching an alert never recompiles; None for = and !=.
    _regex: AnchoredRegex | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.op, MatchOp):
            # Callers building matchers from config may hand over the operator as plain text.
            try:
                object.__setattr__(self, "op", MatchOp(self.op))
            except ValueError:
                raise MatcherError(
                    "matcher",
                    f"unknown operator {_quote(str(self.op))}; expected one of {_OPERATORS}",
                ) from None
        if not self.name:
            raise MatcherError("matcher", "empty label name")
        if self.op in (MatchOp.RE, MatchOp.NRE):
            object.__setattr__(self, "_regex", self._compile())

    def _compile(self) -> AnchoredRegex:
        """Compile the value as an RE2 pattern that must match a whole label value."""
        try:
            return compile_anchored(self.value)
        except RegexRefused as exc:
            raise MatcherError(
                "matcher",
                f"invalid regular expression {_quote(self.value)} in {self}: {exc.reason}",
            ) from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` satisfy this matcher (a missing label counts as "")."""
        actual = labels.get(self.name, "")
        op = self.op
        if op is MatchOp.EQ:
            return actual == self.value
        if op is MatchOp.NE:
            return actual != self.value
        found = self._regex is not None and self._regex.matches(actual)
        return found if op is MatchOp.RE else not found

    def __str__(self) -> str:
        return f"{_format_name(self.name)}{self.op.value}{_quote(self.value)}"


class _Parser:
    """A single pass over one matcher list; ``pos`` is the index of the next unread character."""

    __slots__ = ("field", "pos", "text")

    def __init__(self, text: str, field: str) -> None:
        self.text = text
        self.field = field
        self.pos = 0

    def error(self, message: str) -> MatcherError:
        return MatcherError(self.field, message)

    def found(self) -> str:
        """Describe the character at ``pos`` for an error message."""
        if self.pos >= len(self.text):
            return "end of input"
        return _quote(self.text[self.pos])

    def skip_space(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos].isspace():
            pos += 1
        self.pos = pos

    def parse(self) -> tuple[Matcher, ...]:
        text = self.text
        self.skip_space()
        open_pos = self.pos
        braced = text.startswith("{", open_pos)
        if braced:
            self.pos += 1
        matchers: list[Matcher] = []
        while True:
            self.skip_space()
            if self.pos >= len(text):
                if braced:
                    raise self.error(f'missing closing "}}" for the "{{" at position {open_pos}')
                break
            if text[self.pos] == "}":
                if not braced:
                    raise self.error(
                        f'unexpected "}}" at position {self.pos} without an opening "{{"'
                    )
                self.pos += 1
                self.skip_space()
                if self.pos < len(text):
                    raise self.error(
                        f'unexpected {self.found()} after the closing "}}" at position {self.pos}'
                    )
                break
            matchers.append(self.matcher())
            self.skip_space()
            if text.startswith(",", self.pos):
                self.pos += 1
            elif self.pos < len(text) and text[self.pos] != "}":
                # Only a quoted value can stop short of ",", "}" or the end.
                closer = '"}"' if braced else "end of input"
                raise self.error(
                    f'expected "," or {closer} after {matchers[-1]} at position {self.pos}, '
                    f"found {self.found()}"
                )
        return tuple(matchers)

    def matcher(self) -> Matcher:
        name = self.label_name()
        self.skip_space()
        op = self.operator()
        if op is None:
            raise self.error(
                f"expected an operator ({_OPERATORS}) after {_quote(name)} at position {self.pos}"
            )
        self.skip_space()
        quoted = self.text.startswith('"', self.pos)
        value = self.quoted("value") if quoted else self.unquoted(name)
        try:
            return Matcher(name, op, value)
        except MatcherError as exc:
            raise self.error(exc.message) from None

    def label_name(self) -> str:
        start = self.pos
        if self.text.startswith('"', start):
            name = self.quoted("label name")
            if not name:
                raise self.error(f"empty label name at position {start}")
            return name
        match = _IDENTIFIER.match(self.text, start)
        if match is None:
            raise self.error(
                f"expected a label name (an identifier or a quoted string) at position {start}, "
                f"found {self.found()}"
            )
        self.pos = match.end()
        return match.group()

    def operator(self) -> MatchOp | None:
        for op in _OPERATOR_TOKENS:
            if self.text.startswith(op.value, self.pos):
                self.pos += len(op.value)
                return op
        return None

    def quoted(self, what: str) -> str:
        """Read a double-quoted string starting at ``pos`` and return it unescaped."""
        text, start = self.text, self.pos
        end = len(text)
        out: list[str] = []
        i = start + 1
        while i < end:
            char = text[i]
            if char == '"':
                self.pos = i + 1
                return "".join(out)
            if char == "\\" and i + 1 < end:
                out.append(_unescape(text[i + 1]))
                i += 2
                continue
            out.append(char)
            i += 1
        raise self.error(f"unterminated quoted {what} starting at position {start}")

    def unquoted(self, name: str) -> str:
        """Read Alertmanager's classic unquoted value: everything up to "," or "}" or the end."""
        text, start = self.text, self.pos
        end = start
        while end < len(text) and text[end] not in ",}":
            end += 1
        self.pos = end
        stop = start + len(text[start:end].rstrip())
        out: list[str] = []
        i = start
        while i < stop:
            char = text[i]
            if char == '"':
                raise self.error(
                    f"unexpected double quote at position {i} in the unquoted value of "
                    f"{_quote(name)}; quote the whole value instead"
                )
            # As in Alertmanager, escapes work in unquoted values too, but a backslash cannot
            # hide a "," or "}" from the scan above.
            if char == "\\" and i + 1 < stop:
                out.append(_unescape(text[i + 1]))
                i += 2
                continue
            out.append(char)
            i += 1
        return "".join(out)


def _unescape(char: str) -> str:
    """Return what a backslash followed by ``char`` stands for."""
    if char == "n":
        return "\n"
    if char in '"\\':
        return char
    # Alertmanager keeps unknown escapes verbatim, which is what makes "\d+" or "10\.0" work
    # as regexes without doubling every backslash.
    return "\\" + char


def parse_matchers(text: str, *, field: str = "matchers") -> tuple[Matcher, ...]:
    """Parse ``{a="b", c=~"d"}`` (braces optional) into matchers; blank text gives ``()``.

    Raises MatcherError naming ``field`` for anything malformed, including invalid regexes.
    """
    return _Parser(text, field).parse()


def parse_matcher(text: str, *, field: str = "matcher") -> Matcher:
    """Parse text that must hold exactly one matcher."""
    matchers = parse_matchers(text, field=field)
    if len(matchers) != 1:
        found = "none" if not matchers else str(len(matchers))
        raise MatcherError(field, f"expected exactly one matcher, found {found}")
    return matchers[0]


def parse_matcher_args(args: Sequence[str], *, field: str = "matchers") -> tuple[Matcher, ...]:
    """Parse command arguments the way amtool does: one matcher or one ``{...}`` group each.

    An argument may also be a comma-separated list, exactly as ``parse_matchers`` reads it.
    """
    matchers: list[Matcher] = []
    for number, arg in enumerate(args, start=1):
        if not arg.strip():
            # An empty shell or Slack argument is almost certainly a mistake, not "match all".
            raise MatcherError(field, f"argument {number} is empty; expected a matcher")
        try:
            matchers.extend(parse_matchers(arg, field=field))
        except MatcherError as exc:
            raise MatcherError(field, f"argument {number} ({_quote(arg)}): {exc.message}") from None
    return tuple(matchers)


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """Print matchers as ``{a="b", c=~"d"}``, which ``parse_matchers`` reads back unchanged."""
    return "{" + ", ".join(str(matcher) for matcher in matchers) + "}"


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Return whether ``labels`` satisfy every matcher (true when there are none)."""
    return all(matcher.matches(labels) for matcher in matchers)
