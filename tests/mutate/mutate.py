#!/usr/bin/env python3
"""tests/mutate/mutate.py — mutation testing of talentd's safety-critical code.

    make mutate                       every module below, every mutant
    make mutate MUTATE_MODULES=cleanup,daemon MUTATE_MAX=40
    tests/mutate/mutate.py --list     the mutants, nothing built

Why this tool and not a packaged one: the issue asked for a well-kept
mutation tool, e.g. universalmutator from PyPI.  PyPI is unreachable from
this workplace and from CI, and neither Debian 12 nor npm packages a C/C++
mutation tool (mull, dextool and universalmutator are all absent), so it
cannot be installed by `make deps`.  This is a small stand-in in Python 3's
standard library only, with universalmutator's C/C++ rules:

  ror   relational operators:  <  <=  >  >=  ==  !=  swapped
  lcr   &&  <->  ||
  bool  true <-> false (return values, flags)
  neg   if (c) / while (c)  ->  if (!(c))
  const integer literals: n -> n+1, n-1, 0
  aor   binary + <-> -, * <-> /
  del   a statement that is a call, an assignment, ++/--, break or continue
        is deleted

Comments, string and character literals, preprocessor lines and logging
calls (LOG_*) are never mutated.  A `<` or `>` counts as an operator only
with white space on both sides (templates and streams never have it in this
code base).

Each mutant's id is FILE:HASH:OPERATOR:N — HASH is made from the stripped
text of the mutated line, so the id survives lines moving up or down when
others edit the file; it changes (and the mutant is shown again) only when
the line itself changes.

For each module the tool copies the source tree into build/mutate/tree (the
working tree is never touched), builds it once into build/mutate/build, runs
the module's test programs on the unmutated code (they must pass), then for
each mutant: writes the mutated file into the copy, rebuilds incrementally
only the programs the module's tests need, runs those tests (stopping at the
first that fails) under a time budget, and restores the file.  A mutant that
does not compile is "stillborn" and not counted; one whose tests fail or run
out of time is "killed"; one whose tests all pass "survived", unless
tests/mutate/equivalent.txt lists it as equivalent.

equivalent.txt: one entry a line, `ID-OR-PATTERN  # reason`.  The pattern is
an fnmatch glob on the id, or on `FILE:OPERATOR:<stripped line text>`
(prefix `text:`), so an entry keeps matching when lines move.  An entry
without a reason is an error.

Environment (or the options of the same name, see --help):
  MUTATE_MODULES   comma-separated modules (default: all)
  MUTATE_MAX       at most this many mutants per module, a stable sample
                   (0: all)
  MUTATE_SEED      the sample's seed (default 1)
  MUTATE_TIMEOUT   seconds for one mutant's tests (default: 3 x the
                   unmutated run, at least 60)
  MUTATE_BUDGET    seconds for the whole run; mutants left are "not run"
                   (default 0: none)
  MUTATE_FILTER    regular expression on the id or FILE:LINE
  MUTATE_JOBS      make -j for the builds (default 2)
  MUTATE_NEW       1: skip the mutants the ledger already has a kill (or a
                   stillbirth) for; run the rest (survivors again, too)
  TALENTD_CORPUS   the picture corpus for the image tests
The ledger, tests/mutate/verdicts.tsv (kept in git): every verdict a run
reached, by id, with its date.  A run adds its verdicts to it (--ledger ''
to leave it alone); --record RUN.json adds a run's JSON after the fact;
--tally prints, from the ledger and today's mutants and equivalents, each
file's standing and what still has no verdict, without building anything.
A kill stays valid while the line is unchanged (the id says so) and the
test that made it is kept; a survival is only as good as the tests of its
day, so MUTATE_NEW runs survivors again.

Exit status: 0 when no unexplained survivor is left, 1 otherwise, 2 on a
setup error (the unmutated build or tests fail).
"""

import argparse
import fcntl
import fnmatch
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
interrupted = False
SOURCE = ROOT   # the tree mutated and tested (--source: another checkout, e.g. an older commit)

# --- what is mutated, and which tests guard it --------------------------------
#
# files: (path, scope[, first]).  scope: None (the whole file) or a regular
# expression on the name of the function whose body holds the line (the text
# before its opening brace).  first: the test programs that most often kill
# this file's mutants, run before the module's others (which still all run
# for a mutant that survives them); a program listed there and not in the
# module's tests runs for this file's mutants only (e.g. a PostgreSQL pass).
#
# tests: every mutant of the module that survives must pass all of them.
# Besides `first`, they run unit tests before integration tests (no stack to
# start), each class fastest first (by the unmutated run).
#
# A test name may end in @VARIANT: the same program with VARIANTS' extra
# environment (e.g. the stack on PostgreSQL, as `make check` runs it).
JOURNAL = r"journal|commit_update|due_entries|take_entry|claim_pending|is_referenced|referenced_keys"
UNIT = "tests/unit/"
INTEG = "tests/integration/"
VARIANTS = {
    "pg": {"STACK_DATABASE": "postgresql", "STACK_DB_LAYOUT": "django"},
}
MODULES = {
    "cleanup": {
        "files": [("src/cleanup/pictures.cc", None)],
        # test_hosts: the reaper on PostgreSQL, where take_entry/release_entry
        # hold a row lock (on SQLite release_entry does nothing).
        "tests": [UNIT + "test_cleanup", INTEG + "test_pictures", INTEG + "test_store_faults",
                  INTEG + "test_hosts"],
    },
    "storage": {
        "files": [("src/storage/store.cc", None, [INTEG + "test_storage"]),
                  ("src/storage/object_key.cc", None, [INTEG + "test_storage"]),
                  ("src/storage/store_gate.cc", None, [UNIT + "test_store_gate"])],
        "tests": [UNIT + "test_store_gate", INTEG + "test_storage", INTEG + "test_store_faults",
                  INTEG + "test_pictures"],
    },
    "auth": {
        "files": [("src/auth/jwt.cc", None), ("src/auth/credentials.cc", None), ("src/auth/base64url.cc", None)],
        "tests": [UNIT + "test_auth", INTEG + "test_api"],
    },
    "daemon": {
        "files": [("src/daemon/master.cc", None, [UNIT + "test_master"]),
                  ("src/daemon/supervisor.cc", None, [UNIT + "test_supervisor"]),
                  ("src/daemon/worker.cc", None, [UNIT + "test_worker", INTEG + "test_daemon"]),
                  ("src/daemon/listener.cc", None, [UNIT + "test_listener"])],
        "tests": [UNIT + "test_supervisor", UNIT + "test_listener", UNIT + "test_worker", UNIT + "test_master",
                  INTEG + "test_daemon"],
    },
    "image": {
        "files": [("src/image/validate.cc", None)],
        # test_image_cost: decode_cpu_limit and the decode memory cap
        # (CpuDeadline, DecodeMemoryCap), which no other unit test reaches.
        # test_sandbox: the same code in the sandboxed decoder, where seccomp
        # forbids what the in-process decode may do (open /proc).
        "tests": [UNIT + "test_image_limits", UNIT + "test_image", UNIT + "test_image_cost", UNIT + "test_sandbox"],
    },
    "db-journal": {
        "files": [("src/db/sqlite.cc", JOURNAL), ("src/db/database.cc", JOURNAL),
                  # test_db and test_cleanup use SQLite, test_pictures too by
                  # default: the PostgreSQL journal is run by test_hosts, by
                  # test_postgres and by test_pictures on PostgreSQL (as
                  # `make check` does).
                  ("src/db/postgres.cc", JOURNAL,
                   [INTEG + "test_postgres", INTEG + "test_hosts", INTEG + "test_pictures@pg"])],
        "tests": [UNIT + "test_db", UNIT + "test_cleanup", INTEG + "test_pictures", INTEG + "test_hosts"],
    },
}
# Programs the integration tests run besides themselves.
# talentd-decoder: the sandboxed decoder (src/image is linked into it), which
# the stack's talentd and the unit test_sandbox run.
PROGRAMS = ["talentd", "talentctl", "talentd-decoder"]

# --- reading C++ ------------------------------------------------------------------


def code_mask(text):
    """For each character of text: True if it is code (not in a comment,
    a string or a character literal, not on a preprocessor line)."""
    mask = [True] * len(text)
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c in " \t":
            i += 1
            continue
        if line_start and c == "#":
            j = text.find("\n", i)
            j = n if j < 0 else j
            # continuation lines of a macro
            while j > 0 and text[j - 1] == "\\" and j < n:
                j = text.find("\n", j + 1)
                j = n if j < 0 else j
            for k in range(i, j):
                mask[k] = False
            i = j
            continue
        line_start = c == "\n"
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                mask[k] = False
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if text[k] != "\n":
                    mask[k] = False
            i = j
        elif text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if m:
                end = text.find(")" + m.group(1) + '"', i)
                j = n if end < 0 else end + len(m.group(1)) + 2
                for k in range(i, j):
                    mask[k] = False
                i = j
            else:
                i += 1
        elif c in "\"'":
            # a digit separator (1'000) is not a character literal
            if c == "'" and i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum():
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            for k in range(i, j):
                mask[k] = False
            i = j
        else:
            i += 1
    return mask


def mask_log_calls(text, mask):
    """Logging calls (LOG_ERROR(...) and its kin, over several lines too)
    are not code to mutate: a changed log line is no bug these tests hunt."""
    for m in re.finditer(r"\bLOG_[A-Z]+\s*\(", text):
        if not mask[m.start()]:
            continue
        depth, j = 0, m.end() - 1
        while j < len(text):
            if mask[j]:
                if text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
            j += 1
        end = j + 1
        if end < len(text) and text[end] == ";":
            end += 1
        for k in range(m.start(), min(end, len(text))):
            if text[k] != "\n":
                mask[k] = False


def function_scopes(lines, masks):
    """For each line, the header text of the top-level function whose body
    holds it ("" outside any function).  Namespaces do not count."""
    scopes = []
    depth = 0          # braces open, namespaces excluded
    header = ""        # code text since the last ; or } at depth 0
    current = ""
    for line, mask in zip(lines, masks):
        scopes.append(current if depth > 0 else "")
        for ch, is_code in zip(line, mask):
            if not is_code:
                continue
            if depth == 0:
                if ch == "{":
                    if re.search(r"\bnamespace\b[\w\s:]*$", header) or re.search(r'extern\s*$', header):
                        header = ""
                        continue
                    depth = 1
                    current = header.strip()
                    header = ""
                elif ch in ";}":
                    header = ""
                else:
                    header += ch
            else:
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        current = ""
        header += " "
    return scopes


# --- the operators ------------------------------------------------------------------

ROR = {"<": ["<=", ">"], "<=": ["<", ">"], ">": [">=", "<"], ">=": [">", "<"], "==": ["!="], "!=": ["=="]}
AOR = {"+": ["-"], "-": ["+"], "*": ["/"], "/": ["*"]}
SKIP_LINE = re.compile(r"^\s*(static_assert|using\b|namespace\b|template\b|case\b.*:\s*$)")
KEYWORD_START = re.compile(r"^\s*(if|else|for|while|switch|return|do|case|default)\b")
CALL_STMT = re.compile(r"^\s*(?:\(void\)\s*)?[A-Za-z_][\w:.\->\[\]]*\s*\(.*\)\s*;\s*$")
ASSIGN_STMT = re.compile(r"^\s*\*?[A-Za-z_][\w.\->\[\]]*(?:\s*\.\s*\w+)*\s*(?:[-+*/|&^]|<<|>>)?=[^=].*;\s*$")
INCDEC_STMT = re.compile(r"^\s*(?:\+\+|--)?[A-Za-z_][\w.\->\[\]]*(?:\+\+|--)?\s*;\s*$")
JUMP_STMT = re.compile(r"^\s*(?:break|continue)\s*;\s*$")


def is_code_span(mask, start, end):
    return all(mask[start:end])


def mutations_of_line(line, mask):
    """Yields (operator, new_line) for one line of code."""
    if SKIP_LINE.match(line) or not any(mask):
        return
    # relational, logical, arithmetic operators with white space around them
    for m in re.finditer(r"(?<=\s)(<=|>=|==|!=|<|>|&&|\|\||\+|-|\*|/)(?=\s)", line):
        op = m.group(1)
        if not is_code_span(mask, m.start(), m.end()):
            continue
        if op in ROR:
            kind, repl = "ror", ROR[op]
        elif op in ("&&", "||"):
            kind, repl = "lcr", ["||" if op == "&&" else "&&"]
        else:
            # a binary operator: something other than an operator or ( before it
            before = line[:m.start()].rstrip()
            if not before or before[-1] in "(=,<>!&|+-*/?:":
                continue
            kind, repl = "aor", AOR[op]
        for r in repl:
            yield kind, line[:m.start()] + r + line[m.end():]
    for m in re.finditer(r"\b(true|false)\b", line):
        if is_code_span(mask, m.start(), m.end()):
            yield "bool", line[:m.start()] + ("false" if m.group(1) == "true" else "true") + line[m.end():]
    for m in re.finditer(r"(?<![\w.])(\d+)([uUlL]*)(?![\w.'])", line):
        if not is_code_span(mask, m.start(), m.end()):
            continue
        digits = m.group(1)
        if len(digits) > 1 and digits.startswith("0"):
            continue   # octal: file modes and the like, a 0 -> 1 change is not meaningful
        value = int(digits)
        for new in sorted({value + 1, value - 1, 0} - {value}):
            if new < 0:
                continue
            yield "const", line[:m.start(1)] + str(new) + line[m.end(1):]
    for m in re.finditer(r"\b(if|while)\s*\(", line):
        if not is_code_span(mask, m.start(), m.end()):
            continue
        open_at = m.end() - 1
        depth, j = 0, open_at
        while j < len(line):
            if mask[j]:
                if line[j] == "(":
                    depth += 1
                elif line[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
            j += 1
        if j >= len(line):
            continue   # the condition goes on past this line
        cond = line[open_at + 1:j]
        yield "neg", line[:open_at + 1] + "!(" + cond + ")" + line[j:]
    code = "".join(c if k else " " for c, k in zip(line, mask)).rstrip()
    if not KEYWORD_START.match(code) and (CALL_STMT.match(code) or ASSIGN_STMT.match(code) or
                                                 INCDEC_STMT.match(code) or JUMP_STMT.match(code)):
        if code.count("(") == code.count(")") and "{" not in code and "}" not in code:
            indent = line[:len(line) - len(line.lstrip())]
            yield "del", indent + "/* mutant: deleted */ ;"


class Mutant:
    def __init__(self, module, path, lineno, operator, n, original, mutated):
        self.module = module
        self.path = path
        self.lineno = lineno
        self.operator = operator
        self.original = original
        self.mutated = mutated
        digest = hashlib.sha1(original.strip().encode()).hexdigest()[:8]
        self.id = "%s:%s:%s:%d" % (path, digest, operator, n)
        self.text_key = "%s:%s:%s" % (path, operator, original.strip())
        self.outcome = None
        self.detail = ""
        self.seconds = 0.0
        self.wall = 0.0


def mutants_of_file(module, path, scope):
    with open(os.path.join(SOURCE, path), encoding="utf-8") as f:
        text = f.read()
    mask = code_mask(text)
    mask_log_calls(text, mask)
    lines, masks, at = [], [], 0
    for line in text.split("\n"):
        lines.append(line)
        masks.append(mask[at:at + len(line)])
        at += len(line) + 1
    scopes = function_scopes(lines, masks)
    out = []
    seen_on_line = {}
    for i, (line, lmask) in enumerate(zip(lines, masks)):
        if scope is not None and not re.search(scope, scopes[i]):
            continue
        if scope is None and not scopes[i]:
            continue   # outside function bodies: declarations, tables of constants
        for operator, new_line in mutations_of_line(line, lmask):
            key = (line.strip(), operator)
            n = seen_on_line.get(key, 0)
            seen_on_line[key] = n + 1
            out.append(Mutant(module, path, i + 1, operator, n, line, new_line))
    # two identical lines in one file: number them in file order
    return out


# --- the equivalents file -------------------------------------------------------------


def read_equivalents(path):
    entries = []
    if not os.path.exists(path):
        return entries
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            pattern, _, reason = line.partition(" #")
            pattern, reason = pattern.strip(), reason.strip()
            if not reason:
                sys.exit("%s:%d: an equivalent mutant needs a reason after ' # '" % (path, number))
            entries.append({"pattern": pattern, "reason": reason, "line": number, "used": 0})
    return entries


def equivalent_reason(mutant, entries):
    for e in entries:
        p = e["pattern"]
        if p.startswith("text:"):
            hit = fnmatch.fnmatchcase(mutant.text_key, p[5:])
        else:
            hit = fnmatch.fnmatchcase(mutant.id, p)
        if hit:
            e["used"] += 1
            return e["reason"]
    return None


# --- building and running ---------------------------------------------------------------

COPY_TOP = ["Makefile", "src", "tests", "nginx", "man", "docs", "systemd"]


def say(*args):
    print(*args, flush=True)


def sync_tree(tree):
    """The source tree copied into `tree`; files whose content is unchanged
    keep their mtime so that make rebuilds only what changed."""
    for top in COPY_TOP:
        src = os.path.join(SOURCE, top)
        if os.path.isfile(src):
            copy_if_changed(src, os.path.join(tree, top))
            continue
        for dirpath, dirnames, filenames in os.walk(src):
            rel = os.path.relpath(dirpath, SOURCE)
            if rel.startswith(os.path.join("tests", "node")) or rel.startswith(os.path.join("tests", "mutate")):
                dirnames[:] = []
                continue
            os.makedirs(os.path.join(tree, rel), exist_ok=True)
            for name in filenames:
                copy_if_changed(os.path.join(dirpath, name), os.path.join(tree, rel, name))
    node = os.path.join(tree, "tests", "node")
    os.makedirs(node, exist_ok=True)
    link = os.path.join(node, "node_modules")
    if not os.path.lexists(link):
        os.symlink(os.path.join(ROOT, "tests", "node", "node_modules"), link)


def seed_build(build_dir):
    """A first build dir from the working tree's own build/ (objects keep
    their times, so make rebuilds nothing the copy did not change): saves a
    full build.  Only for the working tree itself, only once."""
    own = os.path.join(ROOT, "build")
    if os.path.exists(build_dir) or not os.path.exists(os.path.join(own, "libtalentd.a")):
        return
    # Another checkout (--source) shares only the library's objects, and only
    # if its src/ is this one's byte for byte.
    shared = ("src", "tests") if SOURCE == ROOT else ("src",)
    if SOURCE != ROOT and not same_tree(os.path.join(SOURCE, "src"), os.path.join(ROOT, "src")):
        return
    os.makedirs(build_dir)
    for name in shared:
        if os.path.isdir(os.path.join(own, name)):
            shutil.copytree(os.path.join(own, name), os.path.join(build_dir, name), symlinks=True,
                            ignore=shutil.ignore_patterns("test-output"))
    for name in ("libtalentd.a", "talentd", "talentctl"):
        if os.path.exists(os.path.join(own, name)):
            shutil.copy2(os.path.join(own, name), os.path.join(build_dir, name))


def same_tree(a, b):
    for dirpath, _, filenames in os.walk(a):
        for name in filenames:
            other = os.path.join(b, os.path.relpath(os.path.join(dirpath, name), a))
            try:
                with open(os.path.join(dirpath, name), "rb") as x, open(other, "rb") as y:
                    if x.read() != y.read():
                        return False
            except OSError:
                return False
    return True


def copy_if_changed(src, dst):
    """src copied over dst unless their contents are the same.  A first copy
    keeps src's mtime (the seeded objects stay up to date); a changed file
    gets the current time instead: its objects in the copy's build dir may
    be newer than src's mtime (built from a mutant of the old text after src
    was edited), and make would keep them."""
    existed = os.path.exists(dst)
    try:
        with open(src, "rb") as a, open(dst, "rb") as b:
            if a.read() == b.read():
                return
    except OSError:
        pass
    shutil.copy2(src, dst)
    if existed:
        os.utime(dst, None)


def build(tree, build_dir, targets, jobs, log_path, opt=None):
    """make the targets in the copy.  opt: the Makefile's OPT (the mutants
    are built with the project's -O2 but without -g: the same code, debug
    information costs compile and link time and is no use here)."""
    cmd = ["make", "-C", tree, "--no-print-directory", "-j%d" % jobs, "BUILD=" + build_dir]
    if opt:
        cmd.append("OPT=" + opt)
    with open(log_path, "a") as log:
        return subprocess.call(cmd + targets, stdout=log, stderr=subprocess.STDOUT) == 0


def program_of(test):
    """"tests/integration/test_pictures@pg" -> ("tests/integration/test_pictures", {extra environment})"""
    program, _, variant = test.partition("@")
    return program, (VARIANTS[variant] if variant else {})


def targets_of(test, build_dir):
    """What one test needs built: itself, and the daemon and talentctl for
    an integration test (its stack runs them) or a unit test that runs them
    (test_cleanup runs talentctl audit): a program left from an earlier
    mutant's build would carry that mutant."""
    program, _ = program_of(test)
    extra = PROGRAMS if program.startswith(INTEG) or runs_programs(program) else []
    return [os.path.join(build_dir, p) for p in extra + [program]]


def runs_programs(program):
    """Whether a test's source finds the built programs (the way every test
    does: t::stack_build_dir(), i.e. TALENTD_BUILD)."""
    try:
        with open(os.path.join(SOURCE, program + ".cc"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return True
    return "stack_build_dir" in text or "TALENTD_BUILD" in text


# A Check failure or error as Check's log file writes it when the test ends
# ("file:line:F:tcase:test:iteration: message"; P is a pass).
CHECK_FAILURE = re.compile(r"^[^\n]*?:\d+:[FE]:", re.M)


def run_program(tree, build_dir, test, timeout, log, fail_fast):
    """Runs one test program.  With fail_fast, Check's log (flushed after
    every test) is watched and the program stopped at its first failed
    test: it would exit non-zero anyway (every main here returns 1 when a
    test failed), so the outcome is the same, minus the tests after it.
    Returns "passed" | "failed" | "timeout"."""
    program, extra = program_of(test)
    env = dict(os.environ)
    env.update({"TALENTD_BUILD": build_dir, "TALENTD_SOURCE_DIR": tree,
                "TALENTD_CORPUS": os.environ.get("TALENTD_CORPUS", os.path.join(ROOT, "..", "shared", "corpus")),
                "TALENTD_DJANGO_SCHEMA": os.environ.get("TALENTD_DJANGO_SCHEMA",
                                                        os.path.join(ROOT, "..", "shared", "django", "schema.sql")),
                "CK_FORK": "yes"})
    env.update(extra)
    # A folder of its own for the program's temporary files (its stacks'
    # folders among them: talentd-stack.*, where Stack::start makes them),
    # and a marker every process it starts inherits: what it leaves behind
    # is found and stopped by these, after its process group (see
    # stop_leftovers).
    run_tmp = tempfile.mkdtemp(prefix="talentd-mutate.", dir=os.environ.get("TMPDIR") or "/tmp")
    # mkdtemp makes it 0700: a PostgreSQL stack runs its server as `nobody`
    # (when the tests run as root), which must reach its folder inside.
    os.chmod(run_tmp, 0o711)
    env["TMPDIR"] = run_tmp
    env[MARKER] = os.path.basename(run_tmp)
    ck_log = log.name + ".check"
    if os.path.exists(ck_log):
        os.remove(ck_log)
    env["CK_LOG_FILE_NAME"] = ck_log
    log.write("== %s\n" % test)
    log.flush()
    started = time.monotonic()
    proc = subprocess.Popen([os.path.join(build_dir, program)], cwd=tree, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    outcome = None
    while outcome is None:
        left = timeout - (time.monotonic() - started)
        if left <= 0:
            outcome = "timeout"
            break
        try:
            rc = proc.wait(timeout=min(left, 0.5))
            outcome = "passed" if rc == 0 else "failed"
        except subprocess.TimeoutExpired:
            if fail_fast and os.path.exists(ck_log):
                with open(ck_log, errors="replace") as f:
                    if CHECK_FAILURE.search(f.read()):
                        outcome = "failed"
                        log.write("mutate: stopped at its first failed test (fail fast)\n")
    stop_group(proc)   # anything it left in its process group
    stop_leftovers(tree, run_tmp, log)
    if os.path.exists(ck_log):
        with open(ck_log, errors="replace") as f:
            failures = [line for line in f.read().splitlines() if CHECK_FAILURE.match(line)]
        if failures:
            log.write("check failures:\n" + "\n".join(failures) + "\n")
        os.remove(ck_log)
    log.flush()
    return outcome


def run_tests(tree, build_dir, tests, timeout, jobs, log_path, opt=None, fail_fast=True):
    """Builds and runs the tests one after the other, each built just before
    it runs (a mutant killed by a unit test never links the daemon or the
    integration tests), stopping at the first failure.  Returns (outcome,
    the test, {test: seconds}) where outcome is "passed" | "failed" |
    "timeout" | "stillborn" (the first build failed: the mutant does not
    compile) | "error" (a later build failed)."""
    seconds = {}
    build_log = log_path[:-len(".log")] + ".build.log" if log_path.endswith(".log") else log_path + ".build"
    if os.path.exists(build_log):
        os.remove(build_log)
    outcome, which = "passed", ""
    with open(log_path, "w") as log:
        for k, test in enumerate(tests):
            if not build(tree, build_dir, targets_of(test, build_dir), jobs, build_log, opt):
                # the build log stays: why it does not compile
                return ("stillborn" if k == 0 else "error"), test, seconds
            left = timeout - sum(seconds.values())
            if left <= 0:
                outcome, which = "timeout", test
                break
            t0 = time.monotonic()
            result = run_program(tree, build_dir, test, left, log, fail_fast)
            seconds[test] = time.monotonic() - t0
            if result != "passed":
                outcome, which = result, test
                break
    if os.path.exists(build_log):
        os.remove(build_log)
    return outcome, which, seconds


def stop_group(proc):
    """SIGTERM then SIGKILL to the process group the tool made for one test
    program (its own id: nothing else is in it)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc.poll() is None:
        proc.wait()


MARKER = "TALENTD_MUTATE_RUN"


def marked_processes(run_tmp):
    """The live processes (not zombies) a test program started, whatever
    their process group (setsid'd or daemonized ones too): those whose
    environment holds MARKER=<its folder's name>, or whose command line
    names its folder (nginx writes its title over its environment, but the
    title keeps its -p path)."""
    needle = ("%s=%s" % (MARKER, os.path.basename(run_tmp))).encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            if run_tmp not in cmd:
                with open("/proc/%s/environ" % name, "rb") as f:
                    if needle not in f.read().split(b"\0"):
                        continue
            with open("/proc/%s/stat" % name) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except (OSError, IndexError):
            continue
        found.append((int(name), cmd))
    return found


def stop_leftovers(tree, run_tmp, log):
    """After a test program's process group is gone: stops what it left.
    A program stopped at its first failure (or at the time-out) never ran
    its Stack destructors, and the group's SIGTERM killed each stack's
    watcher (`tests/stack watch`, in the group) while the daemonized nginx
    (its own session) lived on.  So: `tests/stack stop DIR` for every stack
    folder in the program's TMPDIR (by the pids its stack.env records),
    then SIGTERM, and SIGKILL after 10 s, to any process still marked as
    the program's (marked_processes) -- by pid, never by name.  The folder is removed when
    nothing is left, else kept (its logs and pids) and said so."""
    script = os.path.join(tree, "tests", "stack")
    env = {k: v for k, v in os.environ.items() if k not in (MARKER, "STACK_OWNER_PID")}
    for name in sorted(os.listdir(run_tmp)):
        folder = os.path.join(run_tmp, name)
        if not os.path.exists(os.path.join(folder, "stack.env")):
            continue
        try:
            out = subprocess.run(["bash", script, "stop", folder], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=120).stdout.decode(errors="replace")
            log.write("mutate: tests/stack stop %s (left by the program)\n%s%s" % (
                folder, out, "" if not out or out.endswith("\n") else "\n"))
        except subprocess.TimeoutExpired:
            log.write("mutate: tests/stack stop %s did not end within 120 s\n" % folder)
    def signal_each(processes, sig, why):
        for pid, cmd in processes:
            log.write("mutate: %s, %s: %d %s\n" % (why, sig.name, pid, cmd))
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    left = marked_processes(run_tmp)
    signal_each(left, signal.SIGTERM, "left behind")
    deadline = time.monotonic() + 10
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = marked_processes(run_tmp)
    signal_each(left, signal.SIGKILL, "still there after 10 s")
    for _ in range(50):
        if not left:
            break
        time.sleep(0.1)
        left = marked_processes(run_tmp)
    if left:
        log.write("mutate: %d processes of this program would not die; %s is kept\n" % (len(left), run_tmp))
        say("mutate: left behind and unkillable: %s (see %s)" % (
            ", ".join("%d %s" % p for p in left), run_tmp))
    else:
        shutil.rmtree(run_tmp, ignore_errors=True)


def sample(mutants, limit, seed):
    if not limit or len(mutants) <= limit:
        return mutants
    ranked = sorted(mutants, key=lambda m: hashlib.sha1(("%d:%s" % (seed, m.id)).encode()).hexdigest())
    chosen = set(id(m) for m in ranked[:limit])
    return [m for m in mutants if id(m) in chosen]


# --- the ledger ----------------------------------------------------------------------------

# Verdicts that do not need running again while the line is unchanged.
SETTLED = ("killed", "timeout", "stillborn")
RECORDED = SETTLED + ("survived",)


def read_ledger(path):
    ledger = {}
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for raw in f:
                if raw.startswith("#") or not raw.strip():
                    continue
                ident, outcome, detail, day = (raw.rstrip("\n").split("\t") + ["", "", ""])[:4]
                ledger[ident] = {"outcome": outcome, "detail": detail, "date": day}
    return ledger


def add_verdicts(ledger, mutants, day):
    """The run's verdicts over the ledger's; `day` is when the run started
    (UTC, ISO 8601): a verdict of a run that started later, on newer tests,
    is kept against an older run that ended after it.  "not run",
    "equivalent" (the equivalents file says it) and "error" are not verdicts."""
    added = 0
    for m in mutants:
        if m["id"] in ledger and ledger[m["id"]]["date"] > day:
            continue
        if m["outcome"] in RECORDED:
            ledger[m["id"]] = {"outcome": m["outcome"], "detail": m.get("detail", ""), "date": day}
            added += 1
    return added


def write_ledger(path, ledger):
    if not path:
        return
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("# id\toutcome\tdetail\tdate: written by tests/mutate/mutate.py, see docs/MUTATION.md\n")
        for ident in sorted(ledger):
            v = ledger[ident]
            f.write("%s\t%s\t%s\t%s\n" % (ident, v["outcome"], v["detail"], v["date"]))
    os.replace(tmp, path)


def record_verdicts(path, mutants, day):
    """Adds the run's verdicts so far to the ledger, read again under a lock
    (parallel runs write it too).  Called after every mutant, so that a run
    stopped any way at all keeps what it found."""
    if not path:
        return
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ledger = read_ledger(path)
        add_verdicts(ledger, [{"id": m.id, "outcome": m.outcome, "detail": m.detail} for m in mutants], day)
        write_ledger(path, ledger)


def tally(plan, ledger, equivalents):
    """Per file: today's mutants and what the ledger and equivalents say of them."""
    say("| file | mutants | killed | equivalent | stillborn | survived | no verdict | score |")
    say("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    survivors, open_ = [], 0
    for name, (everything, chosen) in plan.items():
        files = {}
        for m in chosen:
            files.setdefault(m.path, []).append(m)
        for path, mutants in files.items():
            c = {"killed": 0, "equivalent": 0, "stillborn": 0, "survived": 0, "none": 0}
            for m in mutants:
                v = ledger.get(m.id, {}).get("outcome")
                if equivalent_reason(m, equivalents):
                    c["equivalent"] += 1
                elif v in ("killed", "timeout"):
                    c["killed"] += 1
                elif v == "stillborn":
                    c["stillborn"] += 1
                elif v == "survived":
                    c["survived"] += 1
                    survivors.append((m, ledger[m.id]["date"]))
                else:
                    c["none"] += 1
            open_ += c["none"]
            scored = c["killed"] + c["survived"]
            score = "%.1f%%" % (100.0 * c["killed"] / scored) if scored else "-"
            say("| `%s` | %d | %d | %d | %d | %d | %d | %s |" % (
                path, len(mutants), c["killed"], c["equivalent"], c["stillborn"], c["survived"], c["none"], score))
    say("(score: killed / (killed + survived); equivalents and stillborn aside)")
    if survivors:
        say("\nSurvivors in the ledger (kill them, list them as equivalent, or run them again: a newer test "
            "may kill them):")
        for m, day in survivors:
            say("  %s  (%s)\n      %s:%d\n      - %s\n      + %s" % (m.id, day, m.path, m.lineno,
                                                                    m.original.strip(), m.mutated.strip()))
    return 1 if survivors or open_ else 0


# --- the run -------------------------------------------------------------------------------


def main():
    env = os.environ.get
    parser = argparse.ArgumentParser(description="Mutation testing of talentd's safety-critical modules.",
                                     epilog="Modules: " + ", ".join(MODULES))
    parser.add_argument("--modules", default=env("MUTATE_MODULES", ""))
    parser.add_argument("--max", type=int, default=int(env("MUTATE_MAX", "0") or 0))
    parser.add_argument("--seed", type=int, default=int(env("MUTATE_SEED", "1") or 1))
    parser.add_argument("--timeout", type=float, default=float(env("MUTATE_TIMEOUT", "0") or 0))
    parser.add_argument("--budget", type=float, default=float(env("MUTATE_BUDGET", "0") or 0))
    parser.add_argument("--filter", default=env("MUTATE_FILTER", ""))
    parser.add_argument("--jobs", type=int, default=int(env("MUTATE_JOBS", "2") or 2))
    parser.add_argument("--opt", default=env("MUTATE_OPT", "-O2"),
                        help="the Makefile's OPT for the mutants' builds (default -O2: the project's, without -g)")
    parser.add_argument("--work", default=os.path.join(ROOT, "build", "mutate"))
    parser.add_argument("--equivalents", default=os.path.join(ROOT, "tests", "mutate", "equivalent.txt"))
    parser.add_argument("--source", default=ROOT,
                        help="the source tree to mutate and test (default: this one); e.g. an older commit "
                             "exported with git archive, for a score before new tests")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--prepare", metavar="WORK",
                        help="only copy the tree into WORK/tree and build it in WORK/build "
                             "(for tests/mutate/by-hand.py)")
    parser.add_argument("--json", help="write the results to this file as JSON")
    parser.add_argument("--ledger", default=os.path.join(ROOT, "tests", "mutate", "verdicts.tsv"),
                        help="the verdicts of every run, added to after each (default tests/mutate/verdicts.tsv; "
                             "'' for none)")
    parser.add_argument("--new", action="store_true", default=env("MUTATE_NEW", "") not in ("", "0"),
                        help="skip the mutants the ledger has killed or stillborn")
    parser.add_argument("--record", nargs="+", metavar="RUN.json",
                        help="add these runs' verdicts (--json files) to the ledger, and stop")
    parser.add_argument("--killed-by-hand", nargs=2, action="append", metavar=("ID", "TEST"),
                        help="record in the ledger that TEST kills the mutant ID, checked by hand (the mutant "
                             "built into a copy and that test run); the next tool run replaces it")
    parser.add_argument("--tally", action="store_true",
                        help="each file's standing from the ledger, nothing run; exit 0 when every mutant "
                             "has a verdict and none survived unexplained")
    args = parser.parse_args()
    global SOURCE
    SOURCE = os.path.abspath(args.source)

    names = [m for m in args.modules.replace(" ", ",").split(",") if m] or list(MODULES)
    for name in names:
        if name not in MODULES:
            sys.exit("unknown module %r (modules: %s)" % (name, ", ".join(MODULES)))
    equivalents = read_equivalents(args.equivalents)
    pattern = re.compile(args.filter) if args.filter else None

    plan = {}
    for name in names:
        mutants = []
        for entry in MODULES[name]["files"]:
            path, scope = entry[0], entry[1]
            if os.path.exists(os.path.join(SOURCE, path)):
                mutants += mutants_of_file(name, path, scope)
            else:
                say("mutate: %s: %s is gone (moved?): update MODULES in %s" % (name, path, __file__))
        if pattern:
            mutants = [m for m in mutants if pattern.search(m.id) or pattern.search("%s:%d" % (m.path, m.lineno))]
        plan[name] = (mutants, sample(mutants, args.max, args.seed))

    ledger = read_ledger(args.ledger)
    if args.record:
        for path in args.record:
            with open(path) as f:
                run = json.load(f)
            day = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(os.path.getmtime(path)))  # its end: close enough
            added = add_verdicts(ledger, run["mutants"], day)
            say("mutate: %s: %d verdicts" % (path, added))
        write_ledger(args.ledger, ledger)
        return 0
    if args.killed_by_hand:
        known = {m.id for everything, _ in plan.values() for m in everything}
        for ident, test in args.killed_by_hand:
            if ident not in known:
                sys.exit("mutate: no mutant %s in today's code" % ident)
        add_verdicts(ledger, [{"id": i, "outcome": "killed", "detail": "by hand: " + t}
                              for i, t in args.killed_by_hand], time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()))
        write_ledger(args.ledger, ledger)
        return 0
    if args.tally:
        return tally(plan, ledger, equivalents)
    if args.new:
        for name, (everything, chosen) in plan.items():
            left = [m for m in chosen if ledger.get(m.id, {}).get("outcome") not in SETTLED]
            say("mutate: %s: %d of %d chosen already have a verdict in the ledger" %
                (name, len(chosen) - len(left), len(chosen)))
            plan[name] = (everything, left)

    if args.prepare:
        work = os.path.abspath(args.prepare)
        tree, build_dir = os.path.join(work, "tree"), os.path.join(work, "build")
        os.makedirs(tree, exist_ok=True)
        sync_tree(tree)
        seed_build(build_dir)
        ok = build(tree, build_dir, ["tests"], args.jobs, os.path.join(work, "build.log"))
        say("mutate: %s %s" % (tree, "built" if ok else "does not build: see %s/build.log" % work))
        return 0 if ok else 2

    if args.list:
        for name, (everything, chosen) in plan.items():
            say("# %s: %d mutants, %d chosen" % (name, len(everything), len(chosen)))
            for m in chosen:
                reason = equivalent_reason(m, equivalents)
                say("%s  %s:%d  %s%s" % (m.id, m.path, m.lineno, m.mutated.strip(),
                                          "  [equivalent: %s]" % reason if reason else ""))
        return 0

    work = os.path.abspath(args.work)
    tree, build_dir = os.path.join(work, "tree"), os.path.join(work, "build")
    os.makedirs(tree, exist_ok=True)
    say("mutate: copying the source tree into %s" % tree)
    sync_tree(tree)
    seed_build(build_dir)
    started = time.monotonic()
    started_at = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())
    results = {}
    done = []  # the mutants run so far, all modules
    # SIGINT/SIGTERM: finish the mutant under way, then report what ran.
    def stop_soon(signum, frame):
        global interrupted
        interrupted = True
        say("mutate: stopping after this mutant (signal %d)" % signum)
    signal.signal(signal.SIGINT, stop_soon)
    signal.signal(signal.SIGTERM, stop_soon)
    for name in names:
        everything, chosen = plan[name]
        module = MODULES[name]
        firsts = {entry[0]: (entry[2] if len(entry) > 2 else []) for entry in module["files"]}
        wanted = list(module["tests"])
        for m in chosen:
            wanted += [t for t in firsts[m.path] if t not in wanted]
        tests = [t for t in wanted if os.path.exists(os.path.join(SOURCE, program_of(t)[0] + ".cc"))]
        say("\n=== %s: %d mutants (%d in all), tests: %s" % (name, len(chosen), len(everything),
                                                             " ".join(os.path.basename(t) for t in tests)))
        log_dir = os.path.join(work, "logs", name)
        os.makedirs(log_dir, exist_ok=True)
        if interrupted or (args.budget and time.monotonic() - started > args.budget):
            for m in chosen:
                reason = equivalent_reason(m, equivalents)
                m.outcome, m.detail = ("equivalent", reason) if reason else ("not run", "")
            results[name] = chosen
            continue
        baseline = unmutated_run(tree, build_dir, tests, args, work, log_dir)
        if baseline is None:
            return 2
        for k, m in enumerate(chosen, 1):
            reason = equivalent_reason(m, equivalents)
            if reason:
                m.outcome, m.detail = "equivalent", reason
                continue
            if interrupted or (args.budget and time.monotonic() - started > args.budget):
                m.outcome = "not run"
                continue
            order = test_order(m, module, firsts, tests, baseline)
            timeout = args.timeout or max(60.0, 3 * sum(baseline[t] for t in order))
            t0 = time.monotonic()
            m.outcome, m.detail, m.seconds = run_mutant(m, tree, build_dir, order, timeout, args, log_dir)
            m.wall = time.monotonic() - t0
            say("[%s %d/%d] %-9s %s:%d %s  (%s; %.0f s in all)" % (
                name, k, len(chosen), m.outcome, m.path, m.lineno, m.operator,
                m.detail or "tests %.0f s" % m.seconds, m.wall))
            if m.outcome == "survived":
                say("    %s\n    + %s" % (m.id, m.mutated.strip()))
            done.append(m)
            record_verdicts(args.ledger, done, started_at)
        results[name] = chosen
    # Leave the copy unmutated and built for the next run.
    sync_tree(tree)
    record_verdicts(args.ledger, [m for ms in results.values() for m in ms], started_at)
    return report(results, plan, equivalents, args)


def test_order(m, module, firsts, tests, baseline):
    """The file's `first` tests, then the module's unit tests, then its
    integration tests, each class fastest first."""
    first = [t for t in firsts[m.path] if t in tests]
    rest = [t for t in tests if t in module["tests"] and t not in first]
    rest.sort(key=lambda t: (program_of(t)[0].startswith(INTEG), baseline.get(t, 0.0)))
    return first + rest


def tree_digest(tree, tests, opt):
    """What the unmutated run's outcome depends on: every file of the copy
    (its content), the tests, the build flags."""
    h = hashlib.sha1(("%s|%s" % (",".join(tests), opt)).encode())
    for top in COPY_TOP:
        if top == "man":
            continue   # no test reads the man pages
        root = os.path.join(tree, top)
        if os.path.isfile(root):
            paths = [root]
        else:
            paths = []
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d != "node_modules")
                paths += [os.path.join(dirpath, f) for f in sorted(filenames)]
        for path in paths:
            if path.endswith(".md"):
                continue   # prose: no test reads it
            h.update(os.path.relpath(path, tree).encode() + b"\0")
            with open(path, "rb") as f:
                h.update(hashlib.sha1(f.read()).digest())
    return h.hexdigest()


def unmutated_run(tree, build_dir, tests, args, work, log_dir):
    """Builds and runs every test on the unmutated copy (they must pass);
    returns {test: seconds}, which orders the tests and sets the time
    allowed per mutant.  Remembered in WORK/unmutated.json by the digest of
    the copy: a second run on the same code (a MUTATE_FILTER re-run of the
    survivors) builds but does not run them again."""
    cache_path = os.path.join(work, "unmutated.json")
    try:
        with open(cache_path) as f:
            cache = json.load(f)
    except (OSError, ValueError):
        cache = {}
    digest = tree_digest(tree, tests, args.opt)
    log_path = os.path.join(log_dir, "unmutated.log")
    if digest in cache:
        ok = True
        for t in tests:
            ok = ok and build(tree, build_dir, targets_of(t, build_dir), args.jobs,
                              os.path.join(log_dir, "build-unmutated.log"), args.opt)
        if ok:
            say("unmutated: tests passed on this same code before (%s): %s" % (
                os.path.relpath(cache_path, ROOT),
                ", ".join("%s %.0f s" % (os.path.basename(t), s) for t, s in cache[digest].items())))
            return cache[digest]
    outcome, test, seconds = run_tests(tree, build_dir, tests, 3600, args.jobs, log_path, args.opt, fail_fast=False)
    if outcome != "passed":
        say("mutate: %s on the unmutated code (%s): see %s" % (outcome, test, log_path))
        return None
    say("unmutated: tests pass: %s" % ", ".join("%s %.0f s" % (os.path.basename(t), s) for t, s in seconds.items()))
    cache[digest] = seconds
    with open(cache_path, "w") as f:
        json.dump(cache, f, indent=1)
    return seconds


def run_mutant(m, tree, build_dir, order, timeout, args, log_dir):
    path = os.path.join(tree, m.path)
    with open(path, encoding="utf-8") as f:
        original = f.read()
    lines = original.split("\n")
    if lines[m.lineno - 1] != m.original:
        return "error", "line moved while running", 0.0
    lines[m.lineno - 1] = m.mutated
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        safe = re.sub(r"[^\w.-]", "_", m.id)
        log_path = os.path.join(log_dir, safe + ".log")
        outcome, test, seconds = run_tests(tree, build_dir, order, timeout, args.jobs, log_path, args.opt)
        spent = sum(seconds.values())
        if outcome == "stillborn":
            return "stillborn", "does not compile", 0.0
        if outcome == "error":
            return "error", "%s does not build" % os.path.basename(test), spent
        if outcome == "passed":
            return "survived", "", spent
        return ("killed" if outcome == "failed" else "timeout"), "by " + os.path.basename(test), spent
    finally:
        with open(path, "w", encoding="utf-8") as f:
            f.write(original)


def report(results, plan, equivalents, args):
    rows, survivors = [], []
    for name, mutants in results.items():
        count = {k: 0 for k in ("killed", "timeout", "equivalent", "survived", "stillborn", "not run", "error")}
        for m in mutants:
            count[m.outcome] = count.get(m.outcome, 0) + 1
            if m.outcome == "survived":
                survivors.append(m)
        viable = len(mutants) - count["stillborn"] - count["not run"] - count["error"]
        killed = count["killed"] + count["timeout"]
        scored = viable - count["equivalent"]
        score = "%.1f%%" % (100.0 * killed / scored) if scored else "-"
        rows.append((name, killed, count["equivalent"], count["survived"], viable, count["stillborn"],
                     count["not run"], len(plan[name][0]), score))
    say("\n| module | killed | equivalent | survived | total | stillborn | not run | all mutants | score |")
    say("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        say("| %s | %d | %d | %d | %d | %d | %d | %d | %s |" % r)
    say("(total: compiled mutants run; score: killed / (total - equivalent))")
    if survivors:
        say("\nSurvivors (kill them with a test, or list them in %s with a reason):" %
            os.path.relpath(args.equivalents, ROOT))
        for m in survivors:
            say("  %s\n      %s:%d\n      - %s\n      + %s" % (m.id, m.path, m.lineno, m.original.strip(),
                                                          m.mutated.strip()))
    unused = [e for e in equivalents if not e["used"]]
    if unused and not args.filter and not args.max and len(results) == len(MODULES):
        say("\nEquivalent entries that matched nothing (stale? lines changed):")
        for e in unused:
            say("  line %d: %s" % (e["line"], e["pattern"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "mutants": [
                {"id": m.id, "module": m.module, "line": m.lineno, "outcome": m.outcome, "detail": m.detail,
                 "test_seconds": round(m.seconds, 1), "seconds": round(m.wall, 1),
                 "mutated": m.mutated.strip()} for ms in results.values() for m in ms]}, f, indent=1)
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
