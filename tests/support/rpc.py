"""The Functions language-worker protocol (``FunctionRpc.proto``) as Python classes.

The ``.proto`` files in ``tests/worker_host/protocol`` are Microsoft's published
protocol between the Functions host and a language worker (MIT; the README there names
the commit). They are compiled here with ``grpcio-tools`` (offline, it bundles
``protoc``), the way Microsoft's Python worker compiles them at build time, into a
package of their own: the generated code imports ``shared.NullableTypes_pb2``, and
``shared`` is dtq's core, so the imports are rewritten to the package name, as the
worker's own build does.
"""

from __future__ import annotations

import importlib
import re
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

PROTOCOL_DIR = Path(__file__).resolve().parents[1] / "worker_host" / "protocol"
PACKAGE = "functions_rpc"
SOURCES = ("FunctionRpc.proto", "identity/ClaimsIdentityRpc.proto", "shared/NullableTypes.proto")


def compile_protocol(out_dir: Path) -> None:
    """Generate ``PACKAGE`` (``FunctionRpc_pb2`` and the two it imports) in ``out_dir``."""
    from grpc_tools import protoc

    package = out_dir / PACKAGE
    shutil.rmtree(package, ignore_errors=True)
    for sub in ("", "identity", "shared"):
        (package / sub).mkdir(parents=True, exist_ok=True)
        (package / sub / "__init__.py").write_text("")
    include = Path(protoc.__file__).parent / "_proto"  # google/protobuf/duration.proto
    code = protoc.main(
        [
            "protoc",
            f"-I{PROTOCOL_DIR}",
            f"-I{include}",
            f"--python_out={package}",
            *(str(PROTOCOL_DIR / s) for s in SOURCES),
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed ({code}) on {PROTOCOL_DIR}")
    for generated in package.rglob("*_pb2.py"):
        text = generated.read_text()
        text = re.sub(
            r"^from (identity|shared) import", rf"from {PACKAGE}.\1 import", text, flags=re.M
        )
        generated.write_text(text)


def load_protocol() -> ModuleType:
    """The compiled ``FunctionRpc_pb2`` module (compiled once per process)."""
    name = f"{PACKAGE}.FunctionRpc_pb2"
    if name in sys.modules:
        return sys.modules[name]
    out_dir = Path(tempfile.mkdtemp(prefix="dtq-rpc-"))
    compile_protocol(out_dir)
    sys.path.insert(0, str(out_dir))
    return importlib.import_module(name)
