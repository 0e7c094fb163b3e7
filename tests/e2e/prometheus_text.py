r"""Parser for the Prometheus text exposition format (version 0.0.4), for scraping in tests.

Handles `# HELP` / `# TYPE` lines, label sets with the escapes `\\`, `\"` and `\n`,
the special values NaN, +Inf and -Inf, and an optional timestamp after the value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class ParseError(ValueError):
    """A line that is not valid exposition text."""


@dataclass(frozen=True)
class Sample:
    """One sample line: metric name, labels, value and the line as scraped."""

    name: str
    labels: dict[str, str]
    value: float
    line: str


def parse(text: str) -> list[Sample]:
    """Parse exposition text into samples, skipping comments and blank lines.

    Raises ParseError that names the line number and the line.
    """
    samples = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            samples.append(parse_sample(stripped))
        except ParseError as error:
            raise ParseError(f"line {number}: {error}: {line!r}") from None
    return samples


def parse_sample(line: str) -> Sample:
    name_match = _NAME.match(line)
    if name_match is None:
        raise ParseError("missing metric name")
    position = _skip_spaces(line, name_match.end())
    labels: dict[str, str] = {}
    if position < len(line) and line[position] == "{":
        labels, position = _parse_labels(line, position + 1)
    fields = line[position:].split()
    if len(fields) not in (1, 2):
        raise ParseError(f"expected a value and an optional timestamp, got {fields}")
    return Sample(name_match.group(), labels, _parse_value(fields[0]), line)


def _parse_labels(line: str, position: int) -> tuple[dict[str, str], int]:
    """Parse `name="value",...}` from `position`. Return the labels and the index after `}`."""
    labels: dict[str, str] = {}
    while True:
        position = _skip_spaces(line, position)
        if position < len(line) and line[position] == "}":
            return labels, position + 1
        name_match = _LABEL_NAME.match(line, position)
        if name_match is None:
            raise ParseError(f"invalid label name at column {position + 1}")
        position = _skip_spaces(line, name_match.end())
        if line[position : position + 1] != "=":
            raise ParseError(f"expected '=' after label {name_match.group()}")
        position = _skip_spaces(line, position + 1)
        if line[position : position + 1] != '"':
            raise ParseError(f"expected a quoted value for label {name_match.group()}")
        value, position = _parse_label_value(line, position + 1)
        if name_match.group() in labels:
            raise ParseError(f"duplicate label {name_match.group()}")
        labels[name_match.group()] = value
        position = _skip_spaces(line, position)
        if position < len(line) and line[position] == ",":
            position += 1
        elif position >= len(line) or line[position] != "}":
            raise ParseError(f"expected ',' or '}}' at column {position + 1}")


def _parse_label_value(line: str, position: int) -> tuple[str, int]:
    """Parse an escaped label value up to its closing quote. Return it and the index after the quote."""
    characters = []
    while position < len(line):
        character = line[position]
        if character == '"':
            return "".join(characters), position + 1
        if character == "\\":
            escaped = line[position + 1 : position + 2]
            if escaped not in _ESCAPES:
                raise ParseError(f"invalid escape \\{escaped} in label value")
            characters.append(_ESCAPES[escaped])
            position += 2
            continue
        characters.append(character)
        position += 1
    raise ParseError("unterminated label value")


def _skip_spaces(line: str, position: int) -> int:
    while position < len(line) and line[position] in " \t":
        position += 1
    return position


def _parse_value(text: str) -> float:
    special = {"NaN": math.nan, "+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf}
    if text in special:
        return special[text]
    try:
        return float(text)
    except ValueError:
        raise ParseError(f"invalid sample value {text!r}") from None


def find(samples: list[Sample], name: str, labels: dict[str, str]) -> list[Sample]:
    """Return the samples named `name` whose labels include every pair in `labels`."""
    return [
        s
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
