#!/usr/bin/env python3
"""check_docs.py -- fails if the docs name a file or an ss_* identifier that the tree does not have, or quote C that is not in it.

    check_docs.py ROOT              check README.md and docs/*.md under ROOT
    check_docs.py ROOT FILE.md...   check just these files
    check_docs.py --excerpts ROOT   check that docs/*.md quote the code as it is
    check_docs.py --self-test ROOT  prove the checker catches misspellings and drifted quotes

Identifiers: every `ss_[a-z0-9_]+` must be defined in include/ or src/ (a
function definition or declaration, a typedef, a struct/enum/union tag, or a
macro); a name ending in `_` followed by `*` (as in `ss_tcp_*`) must prefix
one.  Paths: every `src/...`, `include/...`, `examples/...`, `tests/...` or
`docs/...` path must exist.

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


def doc_files(root):
    files = [os.path.join(root, "docs", "walkthrough.md")]  # required
    if os.path.exists(os.path.join(root, "README.md")):
        files.append(os.path.join(root, "README.md"))
    docs = os.path.join(root, "docs")
    if os.path.isdir(docs):
        files += [os.path.join(docs, f) for f in sorted(os.listdir(docs))
                  if f.endswith(".md") and f != "walkthrough.md"]
    return files


def self_test(root):
    """The checker must name each bad name and path, and pass good ones."""
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        # 1. Each definition form is recognised; calls and comments are not.
        os.makedirs(os.path.join(tmp, "src"))
        os.makedirs(os.path.join(tmp, "include"))
        with open(os.path.join(tmp, "include", "x.h"), "w") as fh:
            fh.write("#define SS_X 1\n# define ss_macro(a) (a)\n"
                     "typedef struct ss_thing ss_thing;\nstruct ss_tag {\n    int ss_member;\n};\n"
                     "typedef struct {\n    int a;\n} ss_anon;\ntypedef int (*ss_fnptr)(int);\n"
                     "const struct sockaddr *ss_decl(const ss_thing *t,\n    int n);\n"
                     "/* ss_in_comment() */\n")
        with open(os.path.join(tmp, "src", "x.c"), "w") as fh:
            fh.write("static int\nss_gnu_style(void)\n{\n    return ss_only_called(1);\n}\n"
                     "void *ss_def(void) { const char *s = \"ss_in_string(\"; return 0; }\n")
        names = defined_names(tmp)
        for want in ("ss_macro", "ss_thing", "ss_tag", "ss_anon", "ss_fnptr", "ss_decl",
                     "ss_gnu_style", "ss_def"):
            if want not in names:
                failures.append("definition of %s not recognised" % want)
        for bad in ("ss_only_called", "ss_in_comment", "ss_in_string", "ss_member"):
            if bad in names:
                failures.append("%s taken for a definition" % bad)

        # 2. Against the real tree: good names pass, misspelt ones are named.
        good = os.path.join(tmp, "good.md")
        with open(good, "w") as fh:
            fh.write("`ss_server_create()` in include/socketserver.h and src/server/; "
                     "the `ss_tcp_*` steps; conn->addr.ss_family.\n")
        bad = os.path.join(tmp, "bad.md")
        with open(bad, "w") as fh:
            fh.write("Call ss_server_serve_forevr() (see src/server/lop.c),\n"
                     "then `ss_tcp_get_requests`, the ss_nosuch_* family, "
                     "include/socketserver.hh and examples/echo_tcp_servr.c.\n")
        got = check_files(root, [good])
        if got:
            failures.append("good input was rejected: %s" % got)
        got = "\n".join(check_files(root, [bad]))
        for culprit in ("bad.md:1: not defined in include/ or src/: ss_server_serve_forevr",
                        "bad.md:1: no such file: src/server/lop.c",
                        "bad.md:2: not defined in include/ or src/: ss_tcp_get_requests",
                        "bad.md:2: no identifier starts with ss_nosuch_*",
                        "bad.md:2: no such file: include/socketserver.hh",
                        "bad.md:2: no such file: examples/echo_tcp_servr.c"):
            if culprit not in got:
                failures.append("bad input: %r not reported (got %r)" % (culprit, got))

        # 3. Excerpts: a quote passes however it is wrapped and with gaps; a
        # drifted one, a gap out of order and a quote of nothing are named;
        # a marked sketch is not checked.
        os.makedirs(os.path.join(tmp, "examples"))
        with open(os.path.join(tmp, "examples", "e.c"), "w") as fh:
            fh.write("static int handle(ss_request *r)\n{\n    ssize_t n =\n"
                     "        ss_stream_read(r, buf, sizeof buf); /* recv */\n"
                     "    if (n < 0)\n        return (int)n;\n    return 0;\n}\n")
        ex = os.path.join(tmp, "ex.md")
        with open(ex, "w") as fh:
            fh.write("```c\nstatic int handle(ss_request *r)\n{\n"
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
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    print("self-test: %s" % ("ok" if not failures else "%d failure(s)" % len(failures)))
    return 1 if failures else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--self-test":
        return self_test(argv[2])
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "--excerpts":
        if len(argv) < 3:
            print(__doc__, file=sys.stderr)
            return 2
        files = argv[3:] or excerpt_files(argv[2])
        problems = check_excerpts(argv[2], files)
        for p in problems:
            print(p, file=sys.stderr)
        print("%d file(s) checked for excerpts, %d problem(s)" % (len(files), len(problems)))
        return 1 if problems else 0
    root = argv[1]
    files = argv[2:] or doc_files(root)
    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        print("missing: %s" % ", ".join(missing), file=sys.stderr)
        return 1
    problems = check_files(root, files)
    for p in problems:
        print(p, file=sys.stderr)
    print("%d file(s) checked, %d problem(s)" % (len(files), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
