"""Drives an eeops server with google-api-core's REST operations client, configured with the
Earth Engine `projects/*/operations/**` bindings and anonymous credentials.

Usage: api_core_rest.py HOST:PORT PROJECT DESCRIPTOR_SET

DESCRIPTOR_SET is eeops' encoded FileDescriptorSet: the Earth Engine OperationMetadata type is
registered from it, because the client parses `metadata` (an Any) strictly and cannot parse a
type it does not know. Prints "ok" at the end.
"""

import sys

from google.api_core import exceptions
from google.api_core.operations_v1 import AbstractOperationsClient
from google.api_core.operations_v1.transports.rest import OperationsRestTransport
from google.auth.credentials import AnonymousCredentials
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from interop_support import wait_done


def register_types(path):
    """Adds the files of the descriptor set that the default pool lacks."""
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.Default()
    for file in fds.file:
        try:
            pool.FindFileByName(file.name)
        except KeyError:
            pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("google.earthengine.v1.OperationMetadata")
    )


def ee_http_options(version="v1"):
    op = f"/{version}/{{name=projects/*/operations/**}}"
    return {
        "google.longrunning.Operations.ListOperations": [
            {"method": "get", "uri": f"/{version}/{{name=projects/*}}/operations"}
        ],
        "google.longrunning.Operations.GetOperation": [{"method": "get", "uri": op}],
        "google.longrunning.Operations.DeleteOperation": [{"method": "delete", "uri": op}],
        "google.longrunning.Operations.CancelOperation": [
            {"method": "post", "uri": op + ":cancel", "body": "*"}
        ],
    }


def main(addr, project, descriptor_set):
    metadata_class = register_types(descriptor_set)
    for version in ("v1", "v1beta", "v1alpha"):
        transport = OperationsRestTransport(
            # The scheme goes in the host: this transport does not pass `url_scheme` on to its
            # base class, which then defaults to https.
            host=f"http://{addr}",
            credentials=AnonymousCredentials(),
            http_options=ee_http_options(version),
        )
        client = AbstractOperationsClient(transport=transport)
        parent = f"projects/{project}"

        ops = list(client.list_operations(parent, page_size=2))
        assert len(ops) >= 3, "pages followed"
        meta = metadata_class()
        assert ops[0].metadata.Unpack(meta)
        assert meta.type, meta

        running = [op for op in client.list_operations(parent, "done = false") if not op.done]
        assert running, "a running operation to cancel"
        name = running[0].name

        op = client.get_operation(name)
        assert op.name == name

        client.cancel_operation(name)  # an empty body, as api-core sends
        op = wait_done(client, name)
        assert op.done, op
        assert op.error.code == 1, op.error
        meta = metadata_class()
        op.metadata.Unpack(meta)
        assert metadata_class.DESCRIPTOR.enum_types_by_name["State"].values_by_number[meta.state].name == "CANCELLED"

        client.delete_operation(name)
        try:
            client.get_operation(name)
            raise AssertionError("deleted operation still there")
        except exceptions.NotFound:
            pass

        # Delete does not cancel, and is not refused on a running operation: the record goes
        # (once, at the end: the earlier versions need the operations).
        still_running = [op.name for op in running[1:]]
        if version == "v1alpha" and still_running:
            client.delete_operation(still_running[0])
            try:
                client.get_operation(still_running[0])
                raise AssertionError("deleted running operation still there")
            except exceptions.NotFound:
                pass
            listed = [op.name for op in client.list_operations(parent, "")]
            assert still_running[0] not in listed, listed
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
