#!/usr/bin/python3
"""Validates certfleet's --json outputs against schema/certfleet.schema.json
with Debian's python3-jsonschema.

  json_valid.py KIND [FILE...]   each FILE (or stdin) against $defs/KIND
                                 (report, check, show, approve; any: all)
  json_valid.py --captured DIR   every output certfleet_json_check saved in
                                 DIR (empty ones: nothing was printed)

Exit 0: valid (--captured prints how many it checked, and how many it could
not: their file was rewritten before the copy); 1: a document is not, each
problem on stderr; 2: usage; 3: python3-jsonschema is missing.
"""
import glob
import json
import os
import sys

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "..", "..", "schema", "certfleet.schema.json")
KINDS = ("report", "check", "show", "approve", "any")


def validators():
    """One validator per kind, all sharing the schema's $defs."""
    try:
        from jsonschema import Draft202012Validator
    except ImportError:
        print("json_valid.py: python3-jsonschema is not installed "
              "(scripts/deps.sh)", file=sys.stderr)
        sys.exit(3)
    with open(SCHEMA, encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    out = {"any": Draft202012Validator(schema)}
    for kind in KINDS[:-1]:
        sub = {k: schema[k] for k in ("$schema", "$id", "$defs")}
        sub["$ref"] = "#/$defs/" + kind
        out[kind] = Draft202012Validator(sub)
    return out


def problems(validator, text):
    """What is wrong with text as one document of the validator's kind."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        return ["not JSON: %s" % e]
    errs = [l for e in validator.iter_errors(doc) for l in leaves(e)]
    errs.sort(key=lambda e: [str(p) for p in e.absolute_path])
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(top)",
                        e.message[:200]) for e in errs[:5]]


def leaves(error):
    """The reasons under a oneOf: those of the branch that came closest
    (its errors deepest in the document, then fewest), not "is not valid
    under any of the given schemas"."""
    if not error.context:
        return [error]
    branches = {}
    for e in error.context:
        branches.setdefault(e.relative_schema_path[0], []).append(e)
    best = max(branches.values(), key=lambda b: (
        min(len(e.absolute_path) for e in b), -len(b)))
    return [l for e in best for l in leaves(e)]


def captured(vals, directory):
    """Every copy certfleet_json_check made, against its kind; N.done holds
    the length the output had (a shorter copy: the test rewrote its file
    before the copy was made, so there is nothing to check)."""
    checked, rewritten, bad = 0, 0, []
    for cmd in sorted(glob.glob(os.path.join(directory, "*.cmd"))):
        base = cmd[:-len(".cmd")]
        line = read(cmd).strip()
        copies = glob.glob(base + ".*.json")
        if not copies or not os.path.exists(base + ".done"):
            bad.append((line, "?", ["its copy was never completed"]))
            continue
        with open(copies[0], "rb") as f:
            data = f.read()
        done = read(base + ".done").strip()
        if done.isdigit() and len(data) < int(done):
            rewritten += 1
            continue
        if not data.strip():
            continue
        text = data.decode("utf-8", errors="replace")
        kind = copies[0].rsplit(".", 2)[-2]
        checked += 1
        found = problems(vals[kind], text)
        if found:
            bad.append((line, kind, found))
    for line, kind, found in bad:
        print("%s (against $defs/%s):" % (line, kind), file=sys.stderr)
        for p in found:
            print("  " + p, file=sys.stderr)
    print(checked, rewritten)
    return 1 if bad else 0


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def main(argv):
    if len(argv) == 3 and argv[1] == "--captured":
        return captured(validators(), argv[2])
    if len(argv) < 2 or argv[1] not in KINDS:
        print(__doc__, file=sys.stderr)
        return 2
    val = validators()[argv[1]]
    rc = 0
    for name in argv[2:] or ["-"]:
        if name == "-":
            text = sys.stdin.read()
        else:
            with open(name, encoding="utf-8") as f:
                text = f.read()
        for p in problems(val, text):
            print("%s: %s" % (name, p), file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
