"""Drives an eeops server with google-api-core's gRPC operations client.

Usage: api_core_grpc.py HOST:PORT PROJECT

Expects at least three running operations in PROJECT (the Rust test creates them). Exits
non-zero on the first failed check; prints "ok" at the end.
"""

import sys

import grpc
from google.api_core import exceptions, operations_v1
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2

from interop_support import wait_done

METADATA_TYPE = "type.googleapis.com/google.earthengine.v1.OperationMetadata"


def main(addr, project):
    channel = grpc.insecure_channel(addr)
    client = operations_v1.OperationsClient(channel)
    parent = f"projects/{project}"

    ops = list(client.list_operations(parent, ""))
    assert len(ops) >= 3, ops
    assert all(op.name.startswith(parent + "/operations/") for op in ops)
    assert all(op.metadata.type_url == METADATA_TYPE for op in ops)

    running = list(client.list_operations(parent, "metadata.state = RUNNING AND done = false"))
    assert running, "the filter found the running operations"

    name = running[0].name
    op = client.get_operation(name)
    assert op.name == name and not op.done

    client.cancel_operation(name)
    op = wait_done(client, name)
    assert op.done, op
    assert op.error.code == 1, op.error  # CANCELLED, and still there

    # WaitOperation through the raw stub (api-core's client has no wait).
    stub = operations_pb2_grpc.OperationsStub(channel)
    waited = stub.WaitOperation(
        operations_pb2.WaitOperationRequest(name=name, timeout=duration_pb2.Duration(seconds=1))
    )
    assert waited.done and waited.error.code == 1

    client.delete_operation(name)
    try:
        client.get_operation(name)
        raise AssertionError("deleted operation still there")
    except exceptions.NotFound:
        pass

    # Delete does not cancel, and is not refused on a running operation: the record goes.
    other = running[1].name if len(running) > 1 else None
    if other:
        client.delete_operation(other)
        try:
            client.get_operation(other)
            raise AssertionError("deleted running operation still there")
        except exceptions.NotFound:
            pass
        assert other not in [op.name for op in client.list_operations(parent, "")]

    try:
        client.cancel_operation(f"{parent}/operations/NOSUCHOPERATION000000000")
        raise AssertionError("cancel of an unknown operation succeeded")
    except exceptions.NotFound:
        pass
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
