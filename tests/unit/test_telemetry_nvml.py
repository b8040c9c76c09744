"""telemetry/nvml.py: the one module that imports pynvml, and what it offers the rest of the course."""

import ast
import builtins
import importlib.metadata
from pathlib import Path

import pytest
from support.fake_nvml import ERR

from course_utils.telemetry import nvml
from course_utils.telemetry.errors import NoGpuError, error_code

ROOT = Path(__file__).resolve().parents[2]


def _imports_pynvml(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "pynvml" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pynvml":
            return True
    return False


def test_pynvml_is_imported_only_by_telemetry_nvml():
    importers = sorted(
        str(p.relative_to(ROOT))
        for folder in ("course_utils", "benchmarks", "course_grading")
        for p in (ROOT / folder).rglob("*.py")
        if _imports_pynvml(p)
    )
    assert importers == ["course_utils/telemetry/nvml.py"]


def test_nvml_error_is_the_bindings_own_class_with_the_code():
    exc = nvml.nvml_error(ERR.NOT_SUPPORTED)
    assert isinstance(exc, nvml.error_class()) and error_code(exc) == ERR.NOT_SUPPORTED
    assert type(exc).__name__ == "NVMLError_NotSupported"  # the subclass a real driver raises
    assert error_code(ValueError("not NVML")) is None


def test_a_missing_binding_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def no_pynvml(name, *args, **kwargs):
        if name == "pynvml":
            raise ImportError("No module named 'pynvml'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pynvml)
    with pytest.raises(NoGpuError) as info:
        nvml.load_nvml()
    assert info.value.reason.code == "nvml_not_installed" and "pip install nvidia-ml-py" in info.value.reason.fix


def test_binding_versions_reads_package_metadata(monkeypatch):
    versions = nvml.binding_versions()
    assert versions.official == importlib.metadata.version("nvidia-ml-py") and versions.deprecated_shim is False

    def only_the_shim(name):
        if name == "pynvml":
            return object()
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", only_the_shim)
    assert nvml.binding_versions() == nvml.BindingVersions(official=None, deprecated_shim=True)


def test_every_start_up_failure_has_a_known_reason_code_and_a_fix():
    from typing import get_args

    from course_utils.telemetry.errors import reason_from_nvml_error
    from course_utils.telemetry.samples import NoGpuCode

    for code in (
        ERR.LIBRARY_NOT_FOUND,
        ERR.DRIVER_NOT_LOADED,
        ERR.NO_PERMISSION,
        ERR.LIB_RM_VERSION_MISMATCH,
        ERR.UNKNOWN,
        ERR.TIMEOUT,
    ):
        reason = reason_from_nvml_error(nvml.nvml_error(code))
        assert reason.code in get_args(NoGpuCode) and reason.fix
    assert reason.code == "error"  # TIMEOUT has no specific advice: the generic reason
