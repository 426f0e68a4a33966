"""A minimal PEP 517 build backend (standard library only).

``build_wheel`` writes ``allot-<version>-py3-none-<platform>.whl`` holding the ``allot``
package and the native library, taken from ``$ALLOT_BUILD_LIBRARY`` or the repository's
``target/release``; ``$ALLOT_WHEEL_PLATFORM`` overrides the platform tag (``make wheels``
builds every platform's wheel from ``dist/``). ``build_sdist`` is not offered: the library is built by cargo.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import sys
import sysconfig
import zipfile
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
NAME = "allot"


def _version() -> str:
    with open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8") as f:
        match = re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.M)
    if not match:
        raise RuntimeError("no version in pyproject.toml")
    return match.group(1)


def _library() -> str:
    name = {"darwin": "liballot.dylib", "win32": "allot.dll"}.get(sys.platform, "liballot.so")
    path = os.environ.get("ALLOT_BUILD_LIBRARY") or os.path.join(REPO, "target", "release", name)
    if not os.path.isfile(path):
        raise RuntimeError(f"{path} not found: run 'cargo build --release --lib' (or 'make wheel') first")
    return path


def _platform_tag() -> str:
    return os.environ.get("ALLOT_WHEEL_PLATFORM") or re.sub(r"[^A-Za-z0-9]+", "_", sysconfig.get_platform())


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings: Optional[Dict[str, Any]] = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Any = None) -> str:
    dist_info = f"{NAME}-{_version()}.dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    return dist_info


def _metadata() -> str:
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\n"
        f"Version: {_version()}\n"
        "Summary: Feature flags and experiments (Amplitude Experiment and Eppo compatible) on one native engine\n"
        "License: MIT\n"
        "Requires-Python: >=3.8\n"
        "Description-Content-Type: text/markdown\n\n" + readme
    )


def build_wheel(
    wheel_directory: str, config_settings: Optional[Dict[str, Any]] = None, metadata_directory: Optional[str] = None
) -> str:
    version = _version()
    tag = f"py3-none-{_platform_tag()}"
    filename = f"{NAME}-{version}-{tag}.whl"
    dist_info = f"{NAME}-{version}.dist-info"
    library = _library()
    files: List[tuple] = []
    package_dir = os.path.join(HERE, NAME)
    for root, dirs, names in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "_lib"))
        for name in sorted(names):
            if name.endswith((".py", ".typed", ".pyi")):
                path = os.path.join(root, name)
                arcname = os.path.relpath(path, HERE).replace(os.sep, "/")
                with open(path, "rb") as f:
                    files.append((arcname, f.read()))
    with open(library, "rb") as f:
        files.append((f"{NAME}/_lib/{os.path.basename(library)}", f.read()))
    wheel_meta = f"Wheel-Version: 1.0\nGenerator: allot build_backend\nRoot-Is-Purelib: false\nTag: {tag}\n"
    files.append((f"{dist_info}/METADATA", _metadata().encode()))
    files.append((f"{dist_info}/WHEEL", wheel_meta.encode()))
    record = [_record_line(a, d) for a, d in files] + [f"{dist_info}/RECORD,,"]
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    os.makedirs(wheel_directory, exist_ok=True)
    out = os.path.join(wheel_directory, filename)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname, data in files:
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if arcname.endswith((".so", ".dylib", ".dll")) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, data)
    return filename


if __name__ == "__main__":
    print(build_wheel(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "target", "python", "dist")))
