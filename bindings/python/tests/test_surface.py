"""The public surface of amplitude-experiment 1.13.0 and eppo-server-sdk 4.4.1 against
allot's: every public class, method and function of every user-facing vendor module has
its counterpart under ``allot.amplitude…`` / ``allot.eppo…`` with the same parameter
names, kinds and defaults. Every difference must be listed in ``DOCUMENTED`` with the row
of docs/python.md's deviations table that explains it."""

from __future__ import annotations

import enum
import importlib
import inspect
import re
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from conftest import REPO

amplitude_experiment = pytest.importorskip("amplitude_experiment")
eppo_client = pytest.importorskip("eppo_client")

#: Every user-facing vendor module. The vendors' internals are not mirrored (docs/python.md,
#: row "internals"): amplitude_experiment.evaluation.* (the SDK's own engine; allot's is the
#: library), connection_pool, deployment.*, flag.*, local.poller, cohort.cohort_*
#: (download, loader, storage), assignment/exposure services and filters, util.*.
MODULES = (
    "amplitude_experiment",
    "amplitude_experiment.user",
    "amplitude_experiment.variant",
    "amplitude_experiment.factory",
    "amplitude_experiment.cookie",
    "amplitude_experiment.server_zone",
    "amplitude_experiment.exception",
    "amplitude_experiment.version",
    "amplitude_experiment.local.client",
    "amplitude_experiment.local.config",
    "amplitude_experiment.local.evaluate_options",
    "amplitude_experiment.remote.client",
    "amplitude_experiment.remote.config",
    "amplitude_experiment.remote.fetch_options",
    "amplitude_experiment.assignment",
    "amplitude_experiment.assignment.assignment_config",
    "amplitude_experiment.exposure",
    "amplitude_experiment.exposure.exposure_config",
    "amplitude_experiment.cohort.cohort_sync_config",
    "eppo_client",
    "eppo_client.config",
    "eppo_client.assignment_logger",
    "eppo_client.bandit",
    "eppo_client.version",
)

#: Differences and the row of docs/python.md's table that explains each.
DOCUMENTED: Dict[str, str] = {
    # allot additions: Eppo's older calling convention (the seed documentation's SDK) is
    # accepted as well.
    "eppo_client.EppoClient.get_string_assignment: signature": "allot additions",
    "eppo_client.EppoClient.get_boolean_assignment: signature": "allot additions",
    "eppo_client.EppoClient.get_numeric_assignment: signature": "allot additions",
    "eppo_client.ClientConfig: signature": "allot additions",
    "eppo_client.config.Config: signature": "allot additions",
    # allot additions: keyword-only or trailing defaulted parameters no vendor call uses.
    "amplitude_experiment.LocalEvaluationConfig: signature": "allot additions",
    "amplitude_experiment.factory.LocalEvaluationConfig: signature": "allot additions",
    "amplitude_experiment.local.client.LocalEvaluationConfig: signature": "allot additions",
    "amplitude_experiment.local.config.LocalEvaluationConfig: signature": "allot additions",
    "eppo_client.EppoClient.wait_for_initialization: signature": "allot additions",
    "amplitude_experiment.CohortSyncConfig: signature": "allot additions",
    "amplitude_experiment.cohort.cohort_sync_config.CohortSyncConfig: signature": "allot additions",
    "amplitude_experiment.local.config.CohortSyncConfig: signature": "allot additions",
}


def _counterpart(module: str) -> str:
    if module.startswith("amplitude_experiment"):
        return "allot.amplitude" + module[len("amplitude_experiment") :]
    return "allot.eppo" + module[len("eppo_client") :]


def _vendor_owned(obj: Any) -> bool:
    """Defined in a user-facing module (a name imported from the internals is not public)."""
    return getattr(obj, "__module__", None) in MODULES


def _public_names(module: Any) -> List[str]:
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    found = []
    for name in list(names) + (["__version__"] if hasattr(module, "__version__") else []):
        obj = getattr(module, name, None)
        if inspect.ismodule(obj):
            continue
        if inspect.isclass(obj) or inspect.isroutine(obj):
            if _vendor_owned(obj):
                found.append(name)
        elif name.isupper() and isinstance(obj, (str, int, float)) or name == "__version__":
            found.append(name)
        elif name in ("Attribute", "Attributes"):
            found.append(name)
    return sorted(set(found))


def _params(obj: Any, drop_first: bool) -> Tuple[Tuple[str, str, Any], ...] | None:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if drop_first and params and params[0].name in ("self", "cls"):
        params = params[1:]
    out = []
    for p in params:
        kind = p.kind
        if kind == p.POSITIONAL_ONLY:
            kind = p.POSITIONAL_OR_KEYWORD  # PyO3 marks every argument positional-only
        if p.default is p.empty:
            default: Any = "<required>"
        elif p.default is Ellipsis:
            default = "<some default>"
        else:
            default = p.default
        out.append((p.name, kind.name, default))
    return tuple(out)


def _same_params(vendor: Any, ours: Any) -> bool:
    if vendor is None or ours is None:
        return vendor is None and ours is None
    if len(vendor) != len(ours):
        return False
    for (vn, vk, vd), (on, ok, od) in zip(vendor, ours):
        if vn != on or vk != ok:
            return False
        if vd == "<some default>":
            if od == "<required>":
                return False
        elif isinstance(vd, enum.Enum):  # the vendor's enum against allot's of the same name
            if not isinstance(od, enum.Enum) or (type(vd).__name__, vd.value) != (type(od).__name__, od.value):
                return False
        elif type(vd) is not type(od) or vd != od:
            return False
    return True


def _methods(cls: type) -> Dict[str, Any]:
    names = {}
    for name in dir(cls):
        if name.startswith("_") and name not in ("__enter__", "__exit__"):
            continue
        attr = inspect.getattr_static(cls, name)
        if isinstance(attr, (staticmethod, classmethod)) or inspect.isroutine(attr):
            names[name] = getattr(cls, name)
    return names


def _class_signature(cls: type) -> Any:
    try:
        cls()
    except TypeError as e:
        if "cannot create" in str(e):  # PyO3 class without a constructor
            return "<not constructible>"
    except Exception:  # noqa: BLE001 - only the signature matters here
        pass
    return _params(cls, drop_first=False)


def differences() -> Iterator[str]:
    for module_name in MODULES:
        vendor = importlib.import_module(module_name)
        try:
            ours = importlib.import_module(_counterpart(module_name))
        except ImportError:
            yield f"{module_name}: module missing"
            continue
        for name in _public_names(vendor):
            where = f"{module_name}.{name}"
            v = getattr(vendor, name)
            if not hasattr(ours, name):
                yield f"{where}: missing"
                continue
            o = getattr(ours, name)
            if name == "__version__" or name in ("Attribute", "Attributes"):
                continue
            if not callable(v):
                if v != o:
                    yield f"{where}: value {o!r} != {v!r}"
                continue
            if inspect.isclass(v):
                if not inspect.isclass(o):
                    yield f"{where}: not a class"
                    continue
                vs = _class_signature(v)
                if vs != "<not constructible>" and not _same_params(vs, _params(o, drop_first=False)):
                    yield f"{where}: signature"
                ours_methods = _methods(o)
                for method, vm in _methods(v).items():
                    if method not in ours_methods:
                        yield f"{where}.{method}: missing"
                    elif not _same_params(
                        _params(vm, drop_first=not isinstance(inspect.getattr_static(v, method), staticmethod)),
                        _params(
                            ours_methods[method],
                            drop_first=not isinstance(inspect.getattr_static(o, method), staticmethod),
                        ),
                    ):
                        yield f"{where}.{method}: signature"
            elif not _same_params(_params(v, False), _params(o, False)):
                yield f"{where}: signature"


def test_vendor_surfaces_match_but_for_the_documented_table():
    found = set(differences())
    undocumented = sorted(found - set(DOCUMENTED))
    assert not undocumented, "differences not in docs/python.md's table:\n" + "\n".join(undocumented)
    stale = sorted(set(DOCUMENTED) - found)
    assert not stale, "listed differences that no longer differ (remove them):\n" + "\n".join(stale)


def test_every_documented_difference_has_a_row_in_the_table():
    text = (REPO / "docs" / "python.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| \*\*(.+?)\*\* \|", text, flags=re.M))
    assert set(DOCUMENTED.values()) <= rows, set(DOCUMENTED.values()) - rows
    assert len(rows) <= 5, f"the table of deliberate differences has {len(rows)} rows (at most five)"
