"""Drives an eeops server with Google's unmodified earthengine-api (`ee.data`).

Usage: ee_data.py HOST:PORT PROJECT

`ee.data.initialize` is given the server as its Cloud API base URL and an API key instead of
credentials (the server ignores `key`), so no Google account is needed. earthengine-api first
fetches the discovery document from the server, then calls the methods it describes. Prints
"ok" at the end.
"""

import sys
import time

import ee


def main(addr, project):
    ee.data.initialize(
        cloud_api_base_url=f"http://{addr}",
        cloud_api_key="eeops-emulator",
        project=project,
    )

    ops = ee.data.listOperations()
    assert len(ops) >= 3, ops
    running = [op for op in ops if not op.get("done")]
    name = running[0]["name"]

    op = ee.data.getOperation(name)
    assert op["name"] == name

    # The task view parses timestamps with %Y-%m-%dT%H:%M:%S[.%f]Z.
    tasks = ee.data.getTaskList()
    assert tasks and all("creation_timestamp_ms" in t for t in tasks), tasks[:1]

    ee.data.cancelOperation(name)
    deadline = time.monotonic() + 10
    while True:
        op = ee.data.getOperation(name)
        if op.get("done") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert op.get("done"), op
    assert op["error"]["code"] == 1, op
    assert op["metadata"]["state"] == "CANCELLED", op

    status = ee.data.getTaskStatus([name.rsplit("/", 1)[1]])
    assert status[0]["state"] == "CANCELLED", status
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
