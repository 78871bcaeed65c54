"""``python tests/s3_server.py -- COMMAND...``: run COMMAND with an S3-compatible
server on 127.0.0.1 (``HF3FS_TEST_S3_ENDPOINT`` names it), as the test command
runs the Rust tests and pytest. The server code lives in the package
(``hf3fs.bench.s3server``, standard library only) and is loaded from the source
tree, so this works before any wheel is built.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_SOURCE = Path(__file__).resolve().parent.parent / "python" / "hf3fs" / "bench" / "s3server.py"
_spec = importlib.util.spec_from_file_location("_hf3fs_s3server", _SOURCE)
assert _spec is not None and _spec.loader is not None
s3server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s3server)

ENDPOINT_VAR = s3server.ENDPOINT_VAR
running = s3server.running
start_process = s3server.start_process
stop = s3server.stop

if __name__ == "__main__":
    sys.exit(s3server.main(sys.argv[1:]))
