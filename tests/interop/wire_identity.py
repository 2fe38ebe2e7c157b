"""Wire-identity fixtures built with Google's own Python protos (googleapis-common-protos).

Modes (the Rust test `tests/wire_identity.rs` drives them):
  emit         print {"message": name, "hex": bytes} lines, one per fixture
  check        read the same lines from stdin (eeops' encodings); for each, parse with the
               Python type, compare with the Python fixture, re-serialize and compare bytes;
               print one {"message", "equal", "same_bytes"} line per input
  descriptors  print {"file": path, "hex": FileDescriptorProto bytes} for every proto file eeops
               keeps a copy of

The fixture values must match `fixtures()` in tests/wire_identity.rs field for field.
"""

import json
import sys

from google.api import annotations_pb2, client_pb2, field_behavior_pb2, http_pb2
from google.longrunning import operations_proto_pb2 as ops
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2 as ed, status_pb2


def pack(msg):
    a = any_pb2.Any()
    a.Pack(msg)  # type.googleapis.com/<full name>
    return a


def every_detail():
    return [
        ed.ErrorInfo(reason="RATE_LIMIT", domain="earthengine.googleapis.com", metadata={"quota": "tasks"}),
        ed.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2, nanos=500000000)),
        ed.DebugInfo(stack_entries=["a.rs:1", "b.rs:2"], detail="stack"),
        ed.QuotaFailure(violations=[ed.QuotaFailure.Violation(
            subject="project:p", description="too many", api_service="earthengine.googleapis.com",
            quota_metric="tasks", quota_id="TasksPerDay", quota_dimensions={"region": "us"},
            quota_value=3000, future_quota_value=4000)]),
        ed.PreconditionFailure(violations=[ed.PreconditionFailure.Violation(type="TOS", subject="p", description="accept")]),
        ed.BadRequest(field_violations=[ed.BadRequest.FieldViolation(
            field="name", description="bad", reason="BAD_NAME",
            localized_message=ed.LocalizedMessage(locale="en-US", message="Bad name"))]),
        ed.RequestInfo(request_id="req-1", serving_data="sd"),
        ed.ResourceInfo(resource_type="operation", resource_name="projects/p/operations/X", owner="me", description="d"),
        ed.Help(links=[ed.Help.Link(description="docs", url="https://example.com/help")]),
        ed.LocalizedMessage(locale="fr-FR", message="Mauvais nom"),
    ]


def fixtures():
    info = ops.OperationInfo(response_type="google.protobuf.Empty", metadata_type="google.earthengine.v1.OperationMetadata")
    failed = ops.Operation(
        name="projects/p/operations/ABCDEFGHIJKLMNOPQRSTUVWX",
        metadata=pack(info),
        done=True,
        error=status_pb2.Status(code=code_pb2.CANCELLED, message="Cancelled.", details=[pack(d) for d in every_detail()]),
    )
    succeeded = ops.Operation(
        name="projects/p/operations/X/Y",
        metadata=pack(info),
        done=True,
        response=pack(ed.RequestInfo(request_id="r", serving_data="s")),
    )
    out = [
        ("google.longrunning.Operation#error", failed),
        ("google.longrunning.Operation#response", succeeded),
        ("google.longrunning.ListOperationsResponse", ops.ListOperationsResponse(
            operations=[failed, succeeded], next_page_token="tok-2", unreachable=["projects/q", "projects/r"])),
        ("google.longrunning.ListOperationsRequest", ops.ListOperationsRequest(
            name="projects/p", filter="done = false", page_size=500, page_token="tok-1", return_partial_success=True)),
        ("google.longrunning.GetOperationRequest", ops.GetOperationRequest(name="projects/p/operations/A")),
        ("google.longrunning.CancelOperationRequest", ops.CancelOperationRequest(name="projects/p/operations/B")),
        ("google.longrunning.DeleteOperationRequest", ops.DeleteOperationRequest(name="projects/p/operations/C")),
        ("google.longrunning.WaitOperationRequest", ops.WaitOperationRequest(
            name="projects/p/operations/D", timeout=duration_pb2.Duration(seconds=3, nanos=500000000))),
        ("google.longrunning.OperationInfo", info),
    ]
    for d in every_detail():
        out.append((d.DESCRIPTOR.full_name, d))
    return out


def main():
    mode = sys.argv[1]
    if mode == "emit":
        for name, msg in fixtures():
            print(json.dumps({"message": name, "hex": msg.SerializeToString(deterministic=True).hex()}))
    elif mode == "check":
        mine = dict(fixtures())
        for line in sys.stdin:
            if not line.strip():
                continue
            item = json.loads(line)
            expected = mine[item["message"]]
            data = bytes.fromhex(item["hex"])
            parsed = type(expected)()
            parsed.ParseFromString(data)
            print(json.dumps({
                "message": item["message"],
                "equal": parsed == expected,
                "same_bytes": parsed.SerializeToString(deterministic=True) == data,
            }))
    elif mode == "descriptors":
        from google.protobuf import descriptor_pb2
        for mod in (ops, status_pb2, code_pb2, ed, http_pb2, annotations_pb2, client_pb2, field_behavior_pb2):
            fdp = descriptor_pb2.FileDescriptorProto()
            mod.DESCRIPTOR.CopyToProto(fdp)
            print(json.dumps({"file": fdp.name, "hex": fdp.SerializeToString().hex()}))
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
