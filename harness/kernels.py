"""How the harness starts Jupyter kernels for papermill: over IPC (Unix sockets), not TCP.

A kernel started over TCP logs "Kernel is running over TCP without encryption" to the terminal,
twice per notebook once it is nested in another kernel. Over IPC the kernel's sockets are files in
the user's private Jupyter runtime directory, so there is nothing to warn about. Pass
`**papermill_kernel_kwargs()` to `papermill.execute_notebook`.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

from jupyter_client import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import default

# jsonschema (imported by nbformat, so by papermill and nbconvert) builds rfc3987_syntax's IRI
# parsers when it is imported: 1.2 CPU-s in every process that runs a notebook (`harness report`
# on a finished sweep took 7.0 CPU-s, 5.0 without), for an `iri` format that no notebook schema uses
# (python-jsonschema/jsonschema#1428). Marked absent here, before any of them is imported,
# jsonschema leaves that one format unchecked.
sys.modules.setdefault("rfc3987_syntax", None)

# A Unix socket path holds at most 107 bytes; the kernel appends "-<port>" to the prefix.
_MAX_IPC_PREFIX = 96


def ipc_available() -> bool:
    """ZeroMQ's ipc:// transport needs Unix domain sockets."""
    return os.name == "posix"


def _ipc_prefix() -> str:
    """A fresh, absolute socket path prefix: jupyter_client's default is relative to the working
    directory, which papermill changes per notebook."""
    runtime = Path(jupyter_runtime_dir())
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    prefix = str(runtime / f"kernel-{uuid.uuid4().hex[:12]}-ipc")
    if len(prefix) > _MAX_IPC_PREFIX:
        raise RuntimeError(
            f"the Jupyter runtime directory {runtime} is too long a path for a kernel's IPC "
            "sockets; set JUPYTER_RUNTIME_DIR to a shorter one"
        )
    return prefix


# How long a kernel gets to stop after the shutdown that follows Ctrl-C: jupyter_client interrupts
# it first (SIGINT), and the cell it was running must get through its own clean-up, which stops the
# brokers, API and consumers it started (and, in a sweep, the kernel of the run in progress).
# jupyter_client's 5 s (SIGTERM at half, SIGKILL at the end) cut that short, and those processes
# outlived the command. An idle kernel exits at once on the shutdown request.
SHUTDOWN_WAIT_S = 60.0


class IpcKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels listen on IPC sockets under a unique absolute prefix, and
    get SHUTDOWN_WAIT_S to finish an interrupted cell's clean-up."""

    @default("shutdown_wait_time")
    def _shutdown_wait_time_default(self) -> float:
        return SHUTDOWN_WAIT_S

    @default("transport")
    def _transport_default(self) -> str:
        return "ipc"

    @default("ip")
    def _ip_default(self) -> str:
        return _ipc_prefix()


def papermill_kernel_kwargs() -> dict:
    """Keyword arguments for `papermill.execute_notebook` that start its kernel over IPC
    (none where IPC is unavailable: the kernel then uses TCP, as Jupyter does by default)."""
    return {"kernel_manager_class": IpcKernelManager} if ipc_available() else {}
