#!/usr/bin/env python3
"""check_server_dag.py -- prints the cross-file call graph of src/server/ and fails on a cycle.

    check_server_dag.py LIBSOCKETSERVER.a SOCKETSERVER.H [NM]

Reads `nm` of each object in the static library: an edge a.c -> b.c means a
symbol undefined in a.c.o is defined in b.c.o (a call, or a function's
address taken for a vtable).  "Dependencies point one way" (STYLE.md): the
library's files must form a DAG, so a reader can learn them bottom-up, the
way Redis's anet.c stands below networking.c.

It also holds internal.h's naming rule: every global symbol is either public
(declared in SOCKETSERVER.H) or carries ss__, and an ss__ symbol is used by
some other file (one used by its own file only should be static).
Stdlib only.
"""
import re
import subprocess
import sys


def graph(archive, nm="nm"):
    out = subprocess.run([nm, "-A", archive], check=True, capture_output=True,
                         text=True).stdout
    defined, undefined = {}, {}
    for line in out.splitlines():
        # libsocketserver.a:base.c.o:0000000000000000 T ss_config_init
        # libsocketserver.a:base.c.o:                 U ss__admit
        parts = line.rsplit(":", 1)
        if len(parts) != 2:
            continue
        obj = parts[0].rsplit(":", 1)[-1]
        fields = parts[1].split()
        if len(fields) < 2:
            continue
        kind, name = fields[-2], fields[-1]
        src = obj[:-2] if obj.endswith(".o") else obj
        defined.setdefault(src, set())
        undefined.setdefault(src, set())
        if kind == "U":
            undefined[src].add(name)
        elif kind.isupper():
            defined[src].add(name)
    owner = {name: src for src, names in defined.items() for name in names}
    edges = {src: {} for src in defined}
    for src, names in undefined.items():
        for name in names:
            dst = owner.get(name)
            if dst and dst != src:
                edges[src].setdefault(dst, []).append(name)
    return edges, owner


def naming_problems(edges, owner, header):
    with open(header, encoding="utf-8") as fh:
        public = set(re.findall(r"\b(ss_[a-z0-9_]+)\s*\(", fh.read()))
    used_elsewhere = {n for dsts in edges.values() for names in dsts.values()
                      for n in names}
    problems = []
    for name, src in sorted(owner.items()):
        if name.startswith("ss__"):
            if name not in used_elsewhere:
                problems.append(f"{src}: {name} is used in its own file only: make it static")
        elif name not in public:
            problems.append(f"{src}: {name} is global but neither public nor ss__")
    return problems


def find_cycle(edges):
    """Returns one cycle as a list of files, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {n: WHITE for n in edges}
    stack = []

    def visit(n):
        colour[n] = GREY
        stack.append(n)
        for m in sorted(edges[n]):
            if colour[m] == GREY:
                return stack[stack.index(m):] + [m]
            if colour[m] == WHITE:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        colour[n] = BLACK
        return None

    for n in sorted(edges):
        if colour[n] == WHITE:
            c = visit(n)
            if c:
                return c
    return None


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    edges, owner = graph(argv[1], argv[3] if len(argv) > 3 else "nm")
    for src in sorted(edges):
        for dst in sorted(edges[src]):
            print(f"{src} -> {dst}: {' '.join(sorted(edges[src][dst]))}")
    bad = naming_problems(edges, owner, argv[2])
    for p in bad:
        print(p)
    cycle = find_cycle(edges)
    if cycle:
        print("cycle: " + " -> ".join(cycle))
        return 1
    print("no cycle")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
