"""Validates JSON values against schemas of an OpenAPI 3.1 document (openapi-schema-validator,
which openapi-spec-validator brings).

Usage: openapi_instances.py DOC CASES. CASES is a JSON list of
{"name": ..., "schema": JSON pointer into DOC, "instance": value}. Every object schema with
`properties` and no `additionalProperties` is made closed first, so that a member the
document does not name fails too. Prints each problem and exits 1, or prints `ok`.
Exits 3 when the validator is not installed.
"""

import copy
import json
import sys

try:
    from openapi_schema_validator import OAS31Validator, oas31_format_checker
except ImportError:
    print("openapi-schema-validator is not installed", file=sys.stderr)
    sys.exit(3)


def closed(node):
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            closed(value)
    elif isinstance(node, list):
        for value in node:
            closed(value)


def main(doc_path, cases_path):
    with open(doc_path, encoding="utf-8") as f:
        doc = json.load(f)
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    closed(doc["components"])
    closed(doc["paths"])
    failed = False
    for case in cases:
        # The whole document is the root resource, so that its `$ref`s resolve.
        root = copy.copy(doc)
        root["$ref"] = "#" + case["schema"]
        validator = OAS31Validator(root, format_checker=oas31_format_checker)
        for error in validator.iter_errors(case["instance"]):
            failed = True
            where = "/".join(str(p) for p in error.absolute_path)
            print(f"{case['name']}: at /{where}: {error.message}")
    if failed:
        sys.exit(1)
    print(f"{len(cases)} values fit their schemas")
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
