"""What the interop scripts share: waiting for an operation through a Google client."""

import time


def wait_done(client, name, seconds=10.0):
    """Polls `client.get_operation(name)` until the operation is done or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        op = client.get_operation(name)
        if op.done or time.monotonic() > deadline:
            return op
        time.sleep(0.05)
