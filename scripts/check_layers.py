#!/usr/bin/env python3
"""Dependencies flow one way: every `crate::` path in src/ names a module of the same layer or a
lower one, in the order src/lib.rs's `//! layers:` line gives. Prints each path that goes up
(file, line, the two modules) and exits 1; exits 0 when there is none.

    python3 scripts/check_layers.py [SRC]
"""

import pathlib
import re
import sys

src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src")
lib = (src / "lib.rs").read_text()
declared = re.search(r"^//! layers: (.+)$", lib, re.MULTILINE)
if not declared:
    sys.exit(f"{src}/lib.rs: no `//! layers: a, b, ...` line")
order = [name.strip() for name in declared.group(1).split(",")]
rank = {name: i for i, name in enumerate(order)}
modules = set(re.findall(r"^pub mod (\w+);", lib, re.MULTILINE))
if modules != set(order):
    sys.exit(
        f"{src}/lib.rs: the layers line names {sorted(set(order))}, "
        f"the modules are {sorted(modules)}"
    )

problems = []
for path in sorted(src.rglob("*.rs")):
    relative = path.relative_to(src)
    own = relative.parts[0].removesuffix(".rs")
    if own not in rank:
        continue  # lib.rs, main.rs: above every layer
    for number, line in enumerate(path.read_text().splitlines(), 1):
        code = line.split("//", 1)[0]
        used_modules = re.findall(r"\bcrate::(\w+)", code)
        for group in re.findall(r"\bcrate::\{([^}]*)", code):
            used_modules += re.findall(r"(?:^|,)\s*(\w+)", group)
        for used in used_modules:
            if used in rank and rank[used] > rank[own]:
                problems.append(f"{src}/{relative}:{number}: {own} uses {used}, a layer above it")

for problem in problems:
    print(problem)
if problems:
    print(f"layers: {len(problems)} uses go up; the order is {', '.join(order)}")
    sys.exit(1)
print(f"layers: every crate:: path goes down ({', '.join(order)})")
