"""Read and write one record the way Go's ``encoding/csv`` does.

Docker's client splits a ``--gpus`` value with Go's CSV reader (default
settings: comma separator, strict quotes). Python's ``csv`` module is laxer
(it accepts a bare quote inside a field), so it would call some values valid
that docker rejects. This module mirrors the Go rules that matter for one
line: quoted fields, doubled quotes, bare-quote and missing-quote errors.
"""

from __future__ import annotations


class CsvError(ValueError):
    """A value Go's CSV reader rejects; the message follows Go's wording."""


def read_record(text: str) -> list[str]:
    """Return the first record of ``text`` as Go's ``csv.Reader.Read`` would.

    Raises CsvError for an empty input ("EOF") or bad quoting. Columns in the
    messages are 1-based, as Go reports them.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    line_no = 1
    while lines and lines[0] == "":  # Go skips empty lines before a record
        lines.pop(0)
        line_no += 1
    if not lines:
        raise CsvError("EOF")
    line, rest = lines[0], lines[1:]
    fields: list[str] = []
    col = 1
    while True:
        if not line.startswith('"'):
            end = line.find(",")
            field = line if end < 0 else line[:end]
            quote = field.find('"')
            if quote >= 0:
                raise CsvError(f'parse error on line {line_no}, column {col + quote}: bare " in non-quoted-field')
            fields.append(field)
            if end < 0:
                return fields
            col += end + 1
            line = line[end + 1 :]
            continue
        # A quoted field: "" is a literal quote; a newline inside continues the field.
        col += 1
        line = line[1:]
        value = []
        while True:
            quote = line.find('"')
            if quote < 0:
                if not rest:
                    raise CsvError(
                        f"parse error on line {line_no}, column {col + len(line)}: "
                        'extraneous or missing " in quoted-field'
                    )
                value.append(line + "\n")
                line, rest = rest[0], rest[1:]
                line_no, col = line_no + 1, 1
                continue
            value.append(line[:quote])
            col += quote + 1
            after = line[quote + 1 :]
            if after.startswith('"'):
                value.append('"')
                line, col = after[1:], col + 1
            elif after.startswith(","):
                fields.append("".join(value))
                line, col = after[1:], col + 1
                break
            elif after == "":
                fields.append("".join(value))
                return fields
            else:
                raise CsvError(
                    f'parse error on line {line_no}, column {col - 1}: extraneous or missing " in quoted-field'
                )


def quote_field(field: str) -> str:
    """Quote ``field`` for Go's CSV reader when it needs it (comma, quote, newline)."""
    if not any(ch in field for ch in ',"\r\n'):
        return field
    return '"' + field.replace('"', '""') + '"'


def write_record(fields: list[str]) -> str:
    return ",".join(quote_field(f) for f in fields)
