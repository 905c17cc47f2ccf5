#!/usr/bin/env python3
"""Builds an extension upgrade script.

usage: upgrade_script.py HAND_WRITTEN INSTALL_SCRIPT > recsys--FROM--TO.sql

HAND_WRITTEN holds what cannot be replayed (new and changed tables, columns, constraints,
policies, reference rows, dropped or re-signatured functions). Its line `-- @replay` is replaced
by every replayable statement of INSTALL_SCRIPT, the new version's install script: functions,
aggregates, views and triggers as CREATE OR REPLACE, and the GRANT, REVOKE, COMMENT and DO
statements, which the install script keeps idempotent. Whatever the hand-written part misses,
test/integration/upgrade.sh finds by comparing an upgraded database with a fresh install.
"""
import re
import sys

REPLAY_MARKER = "-- @replay"


def statements(sql):
    """Splits SQL text into top-level statements (comments kept with the statement they precede)."""
    out, start, i, n = [], 0, 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            i = sql.find("\n", i)
            i = n if i < 0 else i + 1
        elif sql.startswith("/*", i):
            i = sql.index("*/", i) + 2
        elif c == "'" or c == '"':
            j = i + 1
            while True:
                j = sql.index(c, j)
                if sql.startswith(c * 2, j):
                    j += 2
                    continue
                break
            i = j + 1
        elif c == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$", sql[i:])
            if m and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                tag = m.group(0)
                i = sql.index(tag, i + len(tag)) + len(tag)
            else:
                i += 1
        elif c == ";":
            out.append(sql[start:i + 1])
            start = i = i + 1
        else:
            i += 1
    return out


def code_of(statement):
    """The statement without its leading comments and blank lines."""
    lines = statement.splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines)


REPLACEABLE = re.compile(r"CREATE\s+(FUNCTION|AGGREGATE|VIEW|TRIGGER)\b", re.I)
AS_IS = re.compile(r"(GRANT|REVOKE|COMMENT\s+ON|DO)\b", re.I)


def replayable(install_sql):
    """The install script's replayable statements, in install order."""
    body = re.sub(r"^\\echo .*$", "", install_sql, flags=re.M)
    for statement in statements(body):
        code = code_of(statement)
        if REPLACEABLE.match(code):
            yield REPLACEABLE.sub(lambda m: "CREATE OR REPLACE " + m.group(1), code, count=1)
        elif AS_IS.match(code):
            yield code


def main():
    hand_written, install = sys.argv[1], sys.argv[2]
    with open(hand_written) as f:
        template = f.read()
    with open(install) as f:
        replay = "\n\n".join(replayable(f.read()))
    if template.count(REPLAY_MARKER) != 1:
        sys.exit(f"{hand_written}: needs exactly one line '{REPLAY_MARKER}'")
    sys.stdout.write(template.replace(REPLAY_MARKER, "-- Replayed from the install script:\n" + replay))


if __name__ == "__main__":
    main()
