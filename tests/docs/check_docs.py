#!/usr/bin/env python3
"""check_docs.py -- fails if the docs name a file, an ss_* identifier or a function that the tree does not have, quote C that is not in it, or a translation drifts from its original.

    check_docs.py ROOT              check README.md and docs/*.md under ROOT
    check_docs.py ROOT FILE.md...   check just these files
    check_docs.py --excerpts ROOT   check that docs/*.md quote the code as it is
    check_docs.py --pairs ROOT      check that each docs/X.zh-CN.md keeps in step with docs/X.md
    check_docs.py --self-test ROOT  prove the checker catches misspellings, drifted quotes and drifted translations

Identifiers: every `ss_[a-z0-9_]+` must be defined in include/ or src/ (a
function definition or declaration, a typedef, a struct/enum/union tag, or a
macro); a name ending in `_` followed by `*` (as in `ss_tcp_*`) must prefix
one.  Paths: every `src/...`, `include/...`, `examples/...`, `tests/...` or
`docs/...` path must exist.  docs/walkthrough.md, docs/walkthrough.zh-CN.md,
docs/homework.md and docs/homework.zh-CN.md are required.

Functions next to a file: any function, ss_* or not, written in backticks
with empty parentheses and then the file it is in must be defined (as above)
in that file, or in a file under it if the path is a directory:

    `jail_open()` in `src/handler/jail.c`
    `jail_open()` (`src/handler/jail.c`)     `jail_open()`（`src/handler/jail.c`）
    `jail_open()`（在 `src/handler/jail.c`）   `jail_open()` 在 `src/handler/jail.c`
    (`jail_open()`, in `src/handler/jail.c`)  （`jail_open()`，在 `src/handler/jail.c`）
    `jail_open()`, `jail_cd()` and `jail_mkdir()` in `src/handler/jail.c`
    (a list: joined by ",", "and", "or", "、", "，", "和" or "或")

The list and the file may be on different lines of one paragraph; code
blocks are not looked at.

In a table row (a line that begins with `|`) that names one or more .c/.h
files or directories, every `name()` in the row must be defined in one of
them.  A `name()` that is followed by no file and is not in such a row (a
Python method such as `serve_forever()`) is not checked.

Translations: docs/X.zh-CN.md is kept in step with docs/X.md by the same
name check.  Both must name the same set of ss_* identifiers, the same set
of paths (each may name itself and its twin, and where the original names
docs/Y.md the translation may name docs/Y.zh-CN.md) and the same set of
function-and-file pairs; have the same
sequence of heading levels (the same sections in the same order); and hold
the same ```c blocks in the same order (comments inside them may not be
translated: they are quotes).

Excerpts: every ```c block in docs/*.md is a quote of a .c or .h file under
examples/, src/, include/ or tests/.  Whitespace is ignored (clang-format may
rewrap a line) and a line holding only `...` skips any amount of code; the
rest must be there, in order, in one file.  A sketch that quotes nothing says
so on the line before its fence: `<!-- sketch -->`.  README.md is not held to
this: its blocks are programs for the reader to write.  Stdlib only.
"""
import os
import re
import sys
import tempfile

# Not after "." or "->": a member such as sockaddr_storage's ss_family is not ours.
IDENT = re.compile(r"(?<![A-Za-z0-9_.>])ss_[a-z0-9_]+(\*)?")
PATH = re.compile(r"(?<![\w./-])((?:src|include|examples|tests|docs)/[\w./-]*[\w/])")

_KEYWORDS = r"(?:return|if|else|while|for|switch|case|do|goto|sizeof)\b"
DEFINITIONS = [
    # macro (object- or function-like)
    re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)", re.M),
    # struct/enum/union tag with a body
    re.compile(r"\b(?:struct|enum|union)\s+([A-Za-z_]\w*)\s*\{"),
    # typedef ... NAME;   and   } NAME;  closing a typedef'd body
    re.compile(r"\btypedef\b[^;{}]*?\b([A-Za-z_]\w*)\s*;"),
    re.compile(r"\}\s*([A-Za-z_]\w*)\s*;"),
    # typedef int (*NAME)(...);
    re.compile(r"\btypedef\b[^;{}]*?\(\s*\*\s*([A-Za-z_]\w*)\s*\)\s*\("),
    # function declaration or definition: starts in column 0, only type words
    # before the name ("static int\nss_x(" and "const char *ss_x(" both count)
    re.compile(r"^(?!" + _KEYWORDS + r")(?:[A-Za-z_][\w \t*]*?[ \t*])?([A-Za-z_]\w*)[ \t]*\(", re.M),
    # the same with the name in parentheses, so a same-named macro does not
    # expand: "int(ss_server_create)(...)"
    re.compile(r"^(?!" + _KEYWORDS + r")[A-Za-z_][\w \t*]*?\([ \t]*([A-Za-z_]\w*)[ \t]*\)[ \t]*\(", re.M),
]


def strip_c(text):
    """Removes comments and string/char literals, keeping line breaks."""
    out = []
    pattern = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
    pos = 0
    for m in pattern.finditer(text):
        out.append(text[pos:m.start()])
        kept = m.group(0)
        out.append("\n" * kept.count("\n") if kept.startswith("/") else '""')
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def c_sources(root, tops):
    """Yields (path relative to root, text) for each .c and .h under tops."""
    for top in tops:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    path = os.path.join(dirpath, f)
                    with open(path, encoding="utf-8", errors="replace") as fh:
                        yield os.path.relpath(path, root), fh.read()


def md_lines(root, md):
    """(md's path relative to root, its lines)."""
    with open(md, encoding="utf-8") as fh:
        return os.path.relpath(md, root), fh.read().split("\n")


def defined_names(root):
    names = set()
    for _, text in c_sources(root, ("include", "src")):
        text = strip_c(text)
        for rx in DEFINITIONS:
            names.update(rx.findall(text))
    return names


def check_files(root, md_files, names=None):
    """Returns a list of 'file:line: problem' strings (empty if all is well)."""
    if names is None:
        names = defined_names(root)
    problems = []
    for md in md_files:
        rel, lines = md_lines(root, md)
        for no, line in enumerate(lines, 1):
            for m in IDENT.finditer(line):
                name, star = m.group(0).rstrip("*"), m.group(1)
                if star and name.endswith("_"):
                    ok = any(n.startswith(name) for n in names)
                    what = "no identifier starts with"
                else:
                    ok = name in names
                    what = "not defined in include/ or src/:"
                if not ok:
                    problems.append("%s:%d: %s %s" % (rel, no, what, name + ("*" if star else "")))
            for m in PATH.finditer(line):
                if not os.path.exists(os.path.join(root, m.group(1))):
                    problems.append("%s:%d: no such file: %s" % (rel, no, m.group(1)))
    return problems


# `name()` items joined into a list, then the file they are in.
_FN = r"`([A-Za-z_]\w*)\(\)`"
_JOIN = r"(?:\s*(?:,|，|、|\band\b|\bor\b|和|或)\s*)+"
_FILE = r"`((?:src|include|examples|tests)/[\w./-]*[\w/])`"
FN_IN_FILE = re.compile(_FN + r"((?:" + _JOIN + r"`[A-Za-z_]\w*\(\)`)*)"
                        + r"\s*(?:\(|（)?\s*(?:[,，]\s*(?:in\b|在)|in\b|在)?\s*" + _FILE)
FN_ANY = re.compile(_FN)
FILE_ANY = re.compile(_FILE)


def _c_files_under(root, rel):
    path = os.path.join(root, rel)
    if os.path.isdir(path):
        return [p for p, _ in c_sources(root, (rel,))]
    return [rel] if rel.endswith((".c", ".h")) and os.path.isfile(path) else []


def function_pairs(lines):
    """Yields (line number, function name, [paths]) for each function the
    text places in a file: `f()` in `path` (within a paragraph, across its
    line breaks), or `f()` in a table row that names paths.  Code blocks
    are skipped."""
    para, start, fenced = [], 0, False

    def flush():
        text = "\n".join(para)
        for m in FN_IN_FILE.finditer(text):
            no = start + text.count("\n", 0, m.start())
            for n in [m.group(1)] + FN_ANY.findall(m.group(2) or ""):
                yield no, n, [m.group(3)]

    for no, line in enumerate(lines + [""], 1):
        table = line.lstrip().startswith("|")
        if line.startswith("```") or fenced or not line.strip() or table:
            yield from flush()
            para = []
            if line.startswith("```"):
                fenced = not fenced
            elif table and not fenced:
                bound = set()
                for m in FN_IN_FILE.finditer(line):
                    for n in [m.group(1)] + FN_ANY.findall(m.group(2) or ""):
                        bound.add(n)
                        yield no, n, [m.group(3)]
                paths = FILE_ANY.findall(line)
                if paths:
                    for n in FN_ANY.findall(line):
                        if n not in bound:
                            yield no, n, paths
            continue
        if not para:
            start = no
        para.append(line)


def check_functions(root, md_files):
    """Returns 'file:line: problem' strings for a function named next to a
    file (or in a table row with files) that the file does not define."""
    cache = {}

    def names_in(rel):
        if rel not in cache:
            found = set()
            for f in _c_files_under(root, rel):
                with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
                    text = strip_c(fh.read())
                for rx in DEFINITIONS:
                    found.update(rx.findall(text))
            cache[rel] = found
        return cache[rel]

    problems = []
    for md in md_files:
        rel, lines = md_lines(root, md)
        for no, name, paths in function_pairs(lines):
            if not any(name in names_in(p) for p in paths):
                problems.append("%s:%d: %s() is not defined in %s"
                                % (rel, no, name, " or ".join(paths)))
    return problems


def headings(lines):
    """The level of each markdown heading, outside code fences."""
    levels, fenced = [], False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            m = re.match(r"(#+)\s", line)
            if m:
                levels.append(len(m.group(1)))
    return levels


def step_facts(root, md):
    """What a translation must share with its original."""
    rel, lines = md_lines(root, md)
    text = "\n".join(lines)
    return rel, {
        "ss_* identifiers": {m.group(0) for m in IDENT.finditer(text)},
        "paths": set(PATH.findall(text)),
        "functions in files": {(n, tuple(p)) for _, n, p in function_pairs(lines)},
        "heading levels": headings(lines),
        "c blocks": [squeeze("\n".join(b)) for _, b in c_blocks(lines)],
    }


def translation_pairs(md_files):
    """(original, translation) for each X.zh-CN.md whose X.md is given or exists."""
    for md in md_files:
        if md.endswith(".zh-CN.md"):
            yield md[:-len(".zh-CN.md")] + ".md", md


def check_pairs(root, md_files):
    """Returns problems for translations that drifted from their original."""
    problems = []
    for orig, tr in translation_pairs(md_files):
        if not os.path.exists(orig):
            problems.append("%s: no original %s" % (os.path.relpath(tr, root), os.path.relpath(orig, root)))
            continue
        orel, ofacts = step_facts(root, orig)
        trel, tfacts = step_facts(root, tr)
        # Each may name itself and its twin, and a translation names the
        # translations of other pages where its original names them.
        tfacts["paths"] = {p[:-len(".zh-CN.md")] + ".md" if p.endswith(".zh-CN.md") else p
                           for p in tfacts["paths"]}
        for facts in (ofacts, tfacts):
            facts["paths"] -= {orel, trel}
        for what in ("ss_* identifiers", "paths", "functions in files"):
            only_o = sorted(ofacts[what] - tfacts[what])
            only_t = sorted(tfacts[what] - ofacts[what])
            if only_o:
                problems.append("%s: %s named in %s but not here: %s"
                                % (trel, what, orel, ", ".join(map(str, only_o))))
            if only_t:
                problems.append("%s: %s named here but not in %s: %s"
                                % (trel, what, orel, ", ".join(map(str, only_t))))
        if ofacts["heading levels"] != tfacts["heading levels"]:
            problems.append("%s: headings %s differ from %s's %s"
                            % (trel, tfacts["heading levels"], orel, ofacts["heading levels"]))
        if ofacts["c blocks"] != tfacts["c blocks"]:
            problems.append("%s: its ```c blocks are not %s's, in the same order" % (trel, orel))
    return problems


SKETCH = "<!-- sketch -->"


def c_blocks(lines):
    """Yields (line number of the fence, code lines) for each ```c block not
    marked as a sketch."""
    start, body = None, []
    for no, line in enumerate(lines, 1):
        if start is None and line.strip() == "```c":
            sketch = no > 1 and lines[no - 2].strip() == SKETCH
            start, body = no, []
        elif start is not None and line.strip() == "```":
            if not sketch:
                yield start, body
            start = None
        elif start is not None:
            body.append(line)


def squeeze(text):
    return re.sub(r"\s+", "", text)


def source_texts(root):
    """The C the docs may quote, whitespace squeezed out, one string a file."""
    return [squeeze(text)
            for _, text in c_sources(root, ("examples", "src", "include", "tests"))]


def quoted_in(segments, text):
    pos = 0
    for seg in segments:
        pos = text.find(seg, pos)
        if pos < 0:
            return False
        pos += len(seg)
    return True


def check_excerpts(root, md_files):
    """Returns 'file:line: problem' strings for ```c blocks found in no file."""
    texts = source_texts(root)
    problems = []
    for md in md_files:
        rel, lines = md_lines(root, md)
        for no, body in c_blocks(lines):
            segments, cur = [], []
            for line in body + ["..."]:
                if line.strip() == "...":
                    if squeeze("".join(cur)):
                        segments.append(squeeze("".join(cur)))
                    cur = []
                else:
                    cur.append(line)
            if segments and not any(quoted_in(segments, t) for t in texts):
                first = next((l.strip() for l in body if l.strip()), "")
                problems.append("%s:%d: C excerpt quotes no file (it begins %r)" % (rel, no, first))
    return problems


def excerpt_files(root):
    docs = os.path.join(root, "docs")
    return [os.path.join(docs, f) for f in sorted(os.listdir(docs)) if f.endswith(".md")]


REQUIRED = ("walkthrough.md", "walkthrough.zh-CN.md", "homework.md", "homework.zh-CN.md")


def doc_files(root):
    files = [os.path.join(root, "docs", f) for f in REQUIRED]
    if os.path.exists(os.path.join(root, "README.md")):
        files.append(os.path.join(root, "README.md"))
    docs = os.path.join(root, "docs")
    if os.path.isdir(docs):
        files += [os.path.join(docs, f) for f in sorted(os.listdir(docs))
                  if f.endswith(".md") and f not in REQUIRED]
    return files


def write_file(path, text):
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def missing_culprits(failures, what, got, culprits):
    """Adds a failure for each culprit the report got does not name."""
    for culprit in culprits:
        if culprit not in got:
            failures.append("%s: %r not reported (got %r)" % (what, culprit, got))


def self_test(root):
    """The checker must name each bad name and path, and pass good ones."""
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        # 1. Each definition form is recognised; calls and comments are not.
        os.makedirs(os.path.join(tmp, "src"))
        os.makedirs(os.path.join(tmp, "include"))
        write_file(os.path.join(tmp, "include", "x.h"),
            "#define SS_X 1\n# define ss_macro(a) (a)\n"
                     "typedef struct ss_thing ss_thing;\nstruct ss_tag {\n    int ss_member;\n};\n"
                     "typedef struct {\n    int a;\n} ss_anon;\ntypedef int (*ss_fnptr)(int);\n"
                     "const struct sockaddr *ss_decl(const ss_thing *t,\n    int n);\n"
                     "/* ss_in_comment() */\n")
        write_file(os.path.join(tmp, "src", "x.c"),
            "static int\nss_gnu_style(void)\n{\n    return ss_only_called(1);\n}\n"
                     "void *ss_def(void) { const char *s = \"ss_in_string(\"; return 0; }\n"
                     "int(ss_paren_def)(int a)\n{\n    return a;\n}\n")
        names = defined_names(tmp)
        for want in ("ss_macro", "ss_thing", "ss_tag", "ss_anon", "ss_fnptr", "ss_decl",
                     "ss_gnu_style", "ss_def", "ss_paren_def"):
            if want not in names:
                failures.append("definition of %s not recognised" % want)
        for bad in ("ss_only_called", "ss_in_comment", "ss_in_string", "ss_member"):
            if bad in names:
                failures.append("%s taken for a definition" % bad)

        # 2. Against the real tree: good names pass, misspelt ones are named.
        good = os.path.join(tmp, "good.md")
        write_file(good,
            "`ss_server_create()` in include/socketserver.h and src/server/; "
                     "the `ss_tcp_*` steps; conn->addr.ss_family.\n")
        bad = os.path.join(tmp, "bad.md")
        write_file(bad,
            "Call ss_server_serve_forevr() (see src/server/lop.c),\n"
                     "then `ss_tcp_get_requests`, the ss_nosuch_* family, "
                     "include/socketserver.hh and examples/echo_tcp_servr.c.\n")
        got = check_files(root, [good])
        if got:
            failures.append("good input was rejected: %s" % got)
        missing_culprits(failures, "bad input", "\n".join(check_files(root, [bad])), ("bad.md:1: not defined in include/ or src/: ss_server_serve_forevr",
                        "bad.md:1: no such file: src/server/lop.c",
                        "bad.md:2: not defined in include/ or src/: ss_tcp_get_requests",
                        "bad.md:2: no identifier starts with ss_nosuch_*",
                        "bad.md:2: no such file: include/socketserver.hh",
                        "bad.md:2: no such file: examples/echo_tcp_servr.c"))

        # 3. Excerpts: a quote passes however it is wrapped and with gaps; a
        # drifted one, a gap out of order and a quote of nothing are named;
        # a marked sketch is not checked.
        os.makedirs(os.path.join(tmp, "examples"))
        write_file(os.path.join(tmp, "examples", "e.c"),
            "static int handle(ss_request *r)\n{\n    ssize_t n =\n"
                     "        ss_stream_read(r, buf, sizeof buf); /* recv */\n"
                     "    if (n < 0)\n        return (int)n;\n    return 0;\n}\n")
        ex = os.path.join(tmp, "ex.md")
        write_file(ex,
            "```c\nstatic int handle(ss_request *r)\n{\n"
                     "    ssize_t n = ss_stream_read(r, buf, sizeof buf); /* recv */\n"
                     "    ...\n    return 0;\n}\n```\n"
                     "```c\n    ssize_t n = ss_stream_read(r, buf, 1024);\n```\n"
                     "```c\n    return 0;\n    ...\n    if (n < 0)\n```\n"
                     "```c\nnothing_like_it();\n```\n"
                     "<!-- sketch -->\n```c\nan_illustration();\n```\n")
        got = check_excerpts(tmp, [ex])
        want = ["ex.md:9: C excerpt quotes no file (it begins 'ssize_t n = ss_stream_read(r, buf, 1024);')",
                "ex.md:12: C excerpt quotes no file (it begins 'return 0;')",
                "ex.md:17: C excerpt quotes no file (it begins 'nothing_like_it();')"]
        if got != want:
            failures.append("excerpts: got %r, want %r" % (got, want))

        # 4. Functions next to a file: defined there passes; misspelt, or
        # defined in another file, is named; a bare Python `serve_forever()`
        # is not checked.
        fn = os.path.join(tmp, "fn.md")
        write_file(fn,
            "`jail_open()` in `src/handler/jail.c`, and `serve_forever()`.\n"
                     "`jail_opn()` (`src/handler/jail.c`)\n"
                     "`jail_open()`（在 `src/handler/quota.c`）\n"
                     "`jail_cd()`, `jail_mkdir()` and `jail_rmdr()` in `src/handler/jail.c`\n"
                     "| ssftp put | `src/client/transfer.c` | `transfer_put()`, `transfer_putt()` |\n"
                     "`request_new()` (`src/server/`) and `ss_server_create()` in `src/server/server.c`\n"
                     "\n`jail_cd()`, `jail_mkdr()`\nand `jail_rmdir()` in `src/handler/jail.c`\n"
                     "```c\n`not_checked()` in `src/handler/jail.c`\n```\n"
                     "（`jail_opne()`，在 `src/handler/jail.c`）\n")
        got = [p.split("fn.md:", 1)[-1] for p in check_functions(root, [fn])]
        want = ["2: jail_opn() is not defined in src/handler/jail.c",
                "3: jail_open() is not defined in src/handler/quota.c",
                "4: jail_rmdr() is not defined in src/handler/jail.c",
                "5: transfer_putt() is not defined in src/client/transfer.c",
                "8: jail_mkdr() is not defined in src/handler/jail.c",
                "13: jail_opne() is not defined in src/handler/jail.c"]
        if got != want:
            failures.append("functions: got %r, want %r" % (got, want))

        # 5. Translations: a twin that names the same things passes; one
        # that drops or adds a name, a path or a function, moves a section
        # or changes a quote is named.
        os.makedirs(os.path.join(tmp, "docs"))
        en = os.path.join(tmp, "docs", "t.md")
        zh = os.path.join(tmp, "docs", "t.zh-CN.md")
        bad_zh = os.path.join(tmp, "docs", "u.zh-CN.md")
        write_file(en,
            "# Walk\nIn Chinese: `docs/t.zh-CN.md`; see `docs/w.md`.\n## Loop\n`ss_server_serve_forever` in `src/server/loop.c`; "
                     "`jail_open()` in `src/handler/jail.c`.\n```c\nreturn 0;\n```\n## UDP\n")
        write_file(zh,
            "# 走读\n英文版：`docs/t.md`；见 `docs/w.zh-CN.md`。\n## 链接循环\n`src/server/loop.c` 里的 `ss_server_serve_forever`；"
                     "`jail_open()`（`src/handler/jail.c`）。\n```c\nreturn 0;\n```\n## UDP\n")
        write_file(bad_zh,
            "# 走读\n### 链接循环\n`ss_server_serve_forevr`，`src/server/loop.c`，"
                     "`jail_open()`（`src/handler/quota.c`）。\n```c\nreturn 1;\n```\n")
        got = check_pairs(tmp, [en, zh])
        if got:
            failures.append("pairs: a twin in step was rejected: %r" % got)
        import shutil
        shutil.copy(en, os.path.join(tmp, "docs", "u.md"))
        missing_culprits(failures, "pairs", "\n".join(check_pairs(tmp, [bad_zh])), ("ss_* identifiers named in docs/u.md but not here: ss_server_serve_forever",
                        "ss_* identifiers named here but not in docs/u.md: ss_server_serve_forevr",
                        "paths named in docs/u.md but not here: docs/t.zh-CN.md, docs/w.md, src/handler/jail.c",
                        "paths named here but not in docs/u.md: src/handler/quota.c",
                        "functions in files named in docs/u.md but not here: ('jail_open', ('src/handler/jail.c',))",
                        "docs/u.zh-CN.md: headings [1, 3] differ from docs/u.md's [1, 2, 2]",
                        "docs/u.zh-CN.md: its ```c blocks are not docs/u.md's, in the same order"))

    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    print("self-test: %s" % ("ok" if not failures else "%d failure(s)" % len(failures)))
    return 1 if failures else 0


def report(problems, summary):
    """Prints the problems and the summary line; the exit status."""
    for p in problems:
        print(p, file=sys.stderr)
    print(summary)
    return 1 if problems else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--self-test":
        return self_test(argv[2])
    if len(argv) < 2 or (argv[1] in ("--pairs", "--excerpts") and len(argv) < 3):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "--pairs":
        files = argv[3:] or excerpt_files(argv[2])
        pairs = len(list(translation_pairs(files)))
        problems = check_pairs(argv[2], files) or ([] if pairs else ["no translation to check"])
        return report(problems, "%d translation(s) checked, %d problem(s)" % (pairs, len(problems)))
    if argv[1] == "--excerpts":
        files = argv[3:] or excerpt_files(argv[2])
        problems = check_excerpts(argv[2], files)
        return report(problems, "%d file(s) checked for excerpts, %d problem(s)"
                      % (len(files), len(problems)))
    root = argv[1]
    files = argv[2:] or doc_files(root)
    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        print("missing: %s" % ", ".join(missing), file=sys.stderr)
        return 1
    problems = check_files(root, files) + check_functions(root, files)
    return report(problems, "%d file(s) checked, %d problem(s)" % (len(files), len(problems)))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
