"""Drives an eeops server's batch endpoint with google-api-python-client (googleapiclient).

Usage: discovery_batch.py HOST:PORT PROJECT

googleapiclient is the discovery-based client earthengine-api is built on: it builds the service
from the server's discovery document and sends a BatchHttpRequest to the document's `batchPath`
(`batch`) as ONE multipart/mixed POST (framed with bare LF line ends and a quoted boundary).
Checks that every part is answered under its own request id, that an unknown operation fails
only its own part, and that the cancelled operations end with error code 1. Prints "ok".
"""

import sys
import time

import httplib2
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError


def run_batch(service, requests):
    """Sends the requests as one batch; returns {request_id: (response, exception)}."""
    answers = {}

    def collect(request_id, response, exception):
        answers[request_id] = (response, exception)

    batch = service.new_batch_http_request(callback=collect)
    for request_id, request in requests:
        batch.add(request, request_id=request_id)
    batch.execute()
    assert sorted(answers) == sorted(r for r, _ in requests), answers
    return answers


def main(addr, project):
    base = f"http://{addr}/"
    service = build(
        "earthengine",
        "v1",
        http=httplib2.Http(),
        discoveryServiceUrl=base + "$discovery/rest?version={apiVersion}",
        static_discovery=False,
    )
    operations = service.projects().operations()
    listed = operations.list(name=f"projects/{project}", pageSize=500).execute()
    names = [op["name"] for op in listed["operations"] if not op.get("done")]
    assert len(names) >= 3, listed

    missing = f"projects/{project}/operations/NOSUCHOPERATION"
    requests = [(f"get-{i}", operations.get(name=n)) for i, n in enumerate(names)]
    requests.append(("missing", operations.get(name=missing)))
    requests += [(f"cancel-{i}", operations.cancel(name=n, body={})) for i, n in enumerate(names)]
    answers = run_batch(service, requests)
    for i, name in enumerate(names):
        op, error = answers[f"get-{i}"]
        assert error is None, error
        assert op["name"] == name, op
        assert op["metadata"]["state"] == "RUNNING", op
        response, error = answers[f"cancel-{i}"]
        assert error is None and response == {}, (response, error)
    response, error = answers["missing"]
    assert response is None and isinstance(error, HttpError), (response, error)
    assert error.resp.status == 404, error

    deadline = time.monotonic() + 10
    while True:
        answers = run_batch(
            service, [(f"get-{i}", operations.get(name=n)) for i, n in enumerate(names)]
        )
        ops = [answers[f"get-{i}"][0] for i in range(len(names))]
        if all(op.get("done") for op in ops) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for op in ops:
        assert op.get("done"), op
        assert op["error"]["code"] == 1, op
        assert op["metadata"]["state"] == "CANCELLED", op
    print(f"{len(names)} operations cancelled in one batch")
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
