#!/usr/bin/env python3
"""check_doc_names.py -- every src/proto name docs/protocol.md cites exists.

Usage: check_doc_names.py DOC SRCDIR. Looks at `backticked` words with a
protocol-module prefix (proto_, digest_, auth_, PROTO_, AUTH_, DIGEST_) and
at `src/proto/...` file names; a `*` in a name matches any identifier part.
Exits 1 listing whatever the headers do not declare, so the spec cannot keep
naming a function or constant after it was renamed.
"""
import pathlib
import re
import sys

doc, src = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
text = doc.read_text()
headers = "\n".join(p.read_text() for p in sorted(src.glob("*.h")))
missing = []
for word in sorted(set(re.findall(r"`([^`\s]+)`", text))):
    name = word.removesuffix("()")
    if re.fullmatch(r"(proto|digest|auth|PROTO|AUTH|DIGEST)_[\w*]+", name):
        pattern = r"\b" + name.replace("*", r"\w+") + r"\b"
        if not re.search(pattern, headers):
            missing.append(name)
for path in set(re.findall(r"`src/proto/([\w.]+)`", text)):
    if not (src / path).exists():
        missing.append("src/proto/" + path)
for name in missing:
    print(f"{doc}: names {name}, which src/proto does not have")
sys.exit(1 if missing else 0)
