"""Google's generic client-side transcoder, google-api-core's path_template.transcode(), on the
Library requests of a case table; run by tests/interop_transcode.rs, which compares the results
with eeops' REST encoding of the same requests.

Usage: api_core_transcode.py CASES.json DESCRIPTORS.bin [SERVER_URL]

DESCRIPTORS.bin is the Library's encoded FileDescriptorSet (library.proto and its imports). The
HTTP rules come from its google.api.http annotations, read here with googleapis-common-protos
(not from eeops' binding table), and the request messages are built from the same descriptors
with protobuf's message factory.

Each request goes through what a generated REST transport of a Google client library does with
the result of transcode(): MessageToJson of `body` and of `query_params` (camelCase names,
default values left out), then rest_helpers.flatten_query_params(strict=True) for the query
pairs. The transports also add `$alt=json;enum-encoding=int` to the query; that is the
transport's, not transcode()'s, and is left out here. Query pairs are compared decoded: on the
wire, requests encodes a space in a query value as `+`, eeops as `%20` (both mean a space).

With SERVER_URL, each request is also sent there, in order, the way a generated REST
transport sends it (requests, `$alt=json;enum-encoding=int` added to the query, the body as
JSON), and its answer is recorded as "served": {"status": HTTP status, "json": the body}.

Prints one JSON object: {"results": {case id: {"method", "uri", "query": [[k, v], ...],
"body": object or null[, "served"]} or {"error": text}}}.
"""

import json
import sys

import requests

from google.api import annotations_pb2  # registers the google.api.http extension
from google.api_core import path_template, rest_helpers
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

SERVICE = "google.example.library.v1.LibraryService"


def http_options(rule):
    """A google.api.HttpRule as the list of dicts transcode() takes (additional bindings after)."""
    out = []
    pattern = rule.WhichOneof("pattern")
    if pattern == "custom":
        option = {"method": rule.custom.kind.lower(), "uri": rule.custom.path}
    else:
        option = {"method": pattern, "uri": getattr(rule, pattern)}
    if rule.body:
        option["body"] = rule.body
    out.append(option)
    for more in rule.additional_bindings:
        out.extend(http_options(more))
    return out


def main():
    cases_path, descriptors_path = sys.argv[1], sys.argv[2]
    server = sys.argv[3] if len(sys.argv) > 3 else None
    session = requests.Session()
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    with open(descriptors_path, "rb") as f:
        fds = descriptor_pb2.FileDescriptorSet.FromString(f.read())

    pool = descriptor_pool.DescriptorPool()
    rules = {}
    for file in fds.file:
        pool.Add(file)
        for service in file.service:
            for method in service.method:
                if method.options.HasExtension(annotations_pb2.http):
                    full = "{}.{}".format(file.package, service.name)
                    rules[(full, method.name)] = http_options(method.options.Extensions[annotations_pb2.http])
    service = pool.FindServiceByName(SERVICE)

    results = {}
    for case in cases:
        method = service.methods_by_name[case["method"]]
        cls = message_factory.GetMessageClass(method.input_type)
        message = json_format.Parse(json.dumps(case["request"]), cls())
        try:
            transcoded = path_template.transcode(rules[(SERVICE, method.name)], message)
        except ValueError as e:
            results[case["id"]] = {"error": str(e).splitlines()[0]}
            continue
        body = None
        if "body" in transcoded:
            body = json.loads(json_format.MessageToJson(transcoded["body"], use_integers_for_enums=True))
        query = json.loads(json_format.MessageToJson(transcoded["query_params"], use_integers_for_enums=True))
        pairs = rest_helpers.flatten_query_params(query, strict=True)
        result = {
            "method": transcoded["method"].upper(),
            "uri": transcoded["uri"],
            "query": [[k, v] for k, v in pairs],
            "body": body,
        }
        if server:
            response = session.request(
                result["method"],
                server + result["uri"],
                params=pairs + [("$alt", "json;enum-encoding=int")],
                data=None if body is None else json.dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            result["served"] = {"status": response.status_code, "json": response.json()}
        results[case["id"]] = result
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
