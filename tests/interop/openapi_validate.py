"""Validates OpenAPI 3.1 documents with openapi-spec-validator.

Usage: openapi_validate.py FILE...  Prints every problem found and exits 1, or prints `ok`.
Exits 3 when openapi-spec-validator is not installed.
"""

import json
import sys

try:
    from openapi_spec_validator import OpenAPIV31SpecValidator
except ImportError:
    print("openapi-spec-validator is not installed", file=sys.stderr)
    sys.exit(3)


def main(paths):
    failed = False
    for path in paths:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
        errors = list(OpenAPIV31SpecValidator(spec).iter_errors())
        for error in errors:
            failed = True
            where = "/".join(str(p) for p in error.absolute_path)
            print(f"{path}: {where}: {error.message}")
    if failed:
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1:])
