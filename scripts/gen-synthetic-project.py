#!/usr/bin/env python3
"""Generate a large synthetic code-as-data project for benchmarks.

Usage: gen-synthetic-project.py <dir> [files=100000] [modules=50]
Writes <dir>/package.json depending on <modules> packages under <dir>/node_modules, each
shipping codeAsData patch files in the dumper's layout, plus a project snapshot. Every file is
a valid patch, so cadkit's validation runs for real."""
import json, os, sys

out = sys.argv[1]
total = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
modules = int(sys.argv[3]) if len(sys.argv) > 3 else 50
per_module = total // (modules + 1)

def patch(root, i):
    ops = []
    for k in range(3):
        t = "%08x%012x" % (root, i * 4 + k)
        ops.append('  {\n   "o": 1,\n   "p": {\n    "ff023000000000000011": "Item %d-%d",\n    "v": 1\n   },\n   "t": "%s"\n  }' % (i, k, t))
    return '{\n "operations": [\n' + ",\n".join(ops) + '\n ],\n "optionalOperations": [\n ],\n "rootTag": "%08x%012x"\n}\n' % (root, i * 4)

def write_tree(base, root, count):
    for i in range(count):
        folder = os.path.join(base, "Repo", "Project", "Folder_%03d" % (i // 200))
        if i % 200 == 0:
            os.makedirs(folder, exist_ok=True)
        kind = ("newInst", "newRel", "updateInst")[i % 3]
        with open(os.path.join(folder, "Item_%06d.%s.json" % (i, kind)), "w") as f:
            f.write(patch(root, i))

os.makedirs(out, exist_ok=True)
deps = {}
for m in range(modules):
    name = "@synthetic/lib-%03d" % m
    deps[name] = "1.0.0"
    d = os.path.join(out, "node_modules", "@synthetic", "lib-%03d" % m)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "package.json"), "w") as f:
        json.dump({"name": name, "version": "1.0.0", "codeAsData": "codeAsData"}, f)
    write_tree(os.path.join(d, "codeAsData", "synthetic.lib-%03d" % m), 0x1000 + m, per_module)
with open(os.path.join(out, "package.json"), "w") as f:
    json.dump({"name": "@synthetic/app", "version": "1.0.0", "dependencies": deps}, f, indent=2)
write_tree(os.path.join(out, "snapshot", "0190ffff000000000001", "Home"), 0x9999, total - per_module * modules)
print(out)
