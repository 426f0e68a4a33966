"""Hatchling build hook: bundles liballot into the wheel and tags it ``py3-none-<platform>``
(the package loads the library with ctypes, so it needs no CPython ABI).

The library comes from ``$ALLOT_BUILD_LIBRARY`` or the repository's ``target/release``;
``$ALLOT_WHEEL_PLATFORM`` overrides the platform tag (``make wheels`` builds every
platform's wheel from ``dist/``). Editable installs bundle nothing: they load the library
from ``$ALLOT_LIBRARY_PATH`` or the system library path.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from typing import Any, Dict

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

LIBRARY_FILE = {"darwin": "liballot.dylib", "win32": "allot.dll"}.get(sys.platform, "liballot.so")


class BundleLibraryHook(BuildHookInterface):
    """Adds the native library to ``allot/_lib/`` and sets the wheel's platform tag."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: Dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        platform = os.environ.get("ALLOT_WHEEL_PLATFORM") or re.sub(r"[^A-Za-z0-9]+", "_", sysconfig.get_platform())
        build_data["pure_python"] = False
        build_data["tag"] = f"py3-none-{platform}"
        if version == "editable":
            return
        library = os.environ.get("ALLOT_BUILD_LIBRARY") or os.path.join(
            self.root, "..", "..", "target", "release", LIBRARY_FILE
        )
        if not os.path.isfile(library):
            raise RuntimeError(f"{library} not found: run 'cargo build --release --lib' (or 'make wheel') first")
        build_data["force_include"][library] = f"allot/_lib/{os.path.basename(library)}"
