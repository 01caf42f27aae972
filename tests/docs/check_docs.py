#!/usr/bin/env python3
"""check_docs.py -- fails if the docs name a file or an ss_* identifier that the tree does not have.

    check_docs.py ROOT              check README.md and docs/*.md under ROOT
    check_docs.py ROOT FILE.md...   check just these files
    check_docs.py --self-test ROOT  prove the checker catches misspellings

Identifiers: every `ss_[a-z0-9_]+` must be defined in include/ or src/ (a
function definition or declaration, a typedef, a struct/enum/union tag, or a
macro); a name ending in `_` followed by `*` (as in `ss_tcp_*`) must prefix
one.  Paths: every `src/...`, `include/...`, `examples/...`, `tests/...` or
`docs/...` path must exist.  Stdlib only.
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


def defined_names(root):
    names = set()
    for top in ("include", "src"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    with open(os.path.join(dirpath, f), encoding="utf-8", errors="replace") as fh:
                        text = strip_c(fh.read())
                    for rx in DEFINITIONS:
                        names.update(rx.findall(text))
    return names


def check_files(root, md_files, names=None):
    """Returns a list of 'file:line: problem' strings (empty if all is well)."""
    if names is None:
        names = defined_names(root)
    problems = []
    for md in md_files:
        rel = os.path.relpath(md, root)
        with open(md, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
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
