"""Python grpcio against the Library example server: a sequence of calls, answers printed as JSON;
run by tests/interop_grpc_library.rs, which makes the same calls with eeops' tonic client.

Usage: library_grpc.py HOST:PORT DESCRIPTORS.bin CALLS.json

The stubs are built from the Library's descriptors (protobuf's message factory over the encoded
FileDescriptorSet, and grpcio's generic unary-unary calls on `/SERVICE/METHOD`), the way
grpcio-tools' generated stubs call, without compiling the proto.

Prints {"answers": [{"response": proto3 JSON} or {"code": "NOT_FOUND", "message": ...}, ...]}.
"""

import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

SERVICE = "google.example.library.v1.LibraryService"


def main():
    addr, descriptors_path, calls_path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(descriptors_path, "rb") as f:
        fds = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in fds.file:
        pool.Add(file)
    service = pool.FindServiceByName(SERVICE)
    with open(calls_path, encoding="utf-8") as f:
        calls = json.load(f)["calls"]

    answers = []
    next_page_token = ""
    with grpc.insecure_channel(addr) as channel:
        for name, request in calls:
            method = service.methods_by_name[name]
            request_cls = message_factory.GetMessageClass(method.input_type)
            response_cls = message_factory.GetMessageClass(method.output_type)
            request = {k: (next_page_token if v == "$next_page_token" else v) for k, v in request.items()}
            message = json_format.Parse(json.dumps(request), request_cls())
            stub = channel.unary_unary(
                "/{}/{}".format(SERVICE, name),
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response_cls.FromString,
            )
            try:
                response = stub(message, timeout=30)
            except grpc.RpcError as e:
                answers.append({"code": e.code().name, "message": e.details()})
                continue
            answer = json_format.MessageToDict(response)
            next_page_token = answer.get("nextPageToken", "")
            answers.append({"response": answer})
    print(json.dumps({"answers": answers}))


if __name__ == "__main__":
    main()
