"""The backend registry: lazy, listing without importing, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from generation.base import Backend, GenerationRequest, Layout, TextBlock
from generation.errors import BackendError, InvalidRequest
from generation.registry import (
    BackendInfo, _REGISTRY, available_backends, create_backend, register,
)
from generation.base import Capabilities

ROOT = Path(__file__).resolve().parents[2]
NAMES = {"typeset", "zai", "fal", "runware", "openai-images", "vllm-omni", "diffusers"}


def test_lists_every_backend_with_what_it_needs() -> None:
    infos = {b.name: b for b in available_backends()}
    assert set(infos) >= NAMES
    assert infos["typeset"].capabilities.follows_layout and not infos["typeset"].settings
    assert infos["zai"].settings == ["SIGNWRITER_ZAI_API_KEY"]
    assert infos["zai"].required_settings == infos["zai"].settings
    assert infos["fal"].capabilities.paid and infos["diffusers"].extra == "local"
    assert all(b.summary for b in infos.values())


def test_listing_imports_no_backend_module() -> None:
    code = ("import sys, generation.registry as r; r.available_backends(); "
            "print(sorted(m for m in sys.modules if m.startswith('generation.') "
            "and m not in ('generation.base', 'generation.errors', 'generation.registry')), "
            "'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[] False"


def test_creates_a_working_typeset_backend_with_options() -> None:
    backend = create_backend("typeset", fault_rate=1.0, fault_seed=2)
    assert isinstance(backend, Backend) and backend.name == "typeset"
    lay = Layout(texts=[TextBlock(id="h", text="Summer Sale", box=(0.1, 0.1, 0.8, 0.3))])
    result = backend.generate(GenerationRequest(prompt="x", width=256, height=256, layout=lay))
    assert len(result.metadata["injected"]) == 1


def test_unknown_names_and_bad_options_are_invalid_requests() -> None:
    with pytest.raises(InvalidRequest, match="typeset") as err:
        create_backend("midjourney")
    assert "zai" in str(err.value) and "midjourney" in str(err.value)
    with pytest.raises(InvalidRequest, match="fault_rat"):
        create_backend("typeset", fault_ratio=0.5)


def test_a_missing_optional_dependency_fails_only_when_used(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    pkg = tmp_path / "needs_dep_backend.py"
    pkg.write_text("import signwriter_absent_dependency_xyz\n\nclass Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(_REGISTRY, "heavy", BackendInfo(
        name="heavy", summary="needs a missing package", module="needs_dep_backend",
        class_name="Thing", capabilities=Capabilities(), extra="local"))
    assert "heavy" in {b.name for b in available_backends()}
    with pytest.raises(BackendError, match=r"pip install 'signwriter\[local\]'") as err:
        create_backend("heavy")
    assert "signwriter_absent_dependency_xyz" in str(err.value)


def test_register_adds_a_third_party_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("generation.registry._REGISTRY", dict(_REGISTRY))
    register(BackendInfo(name="typeset2", summary="again", module="generation.typeset",
                         class_name="TypesetBackend", capabilities=Capabilities()))
    assert create_backend("typeset2").name == "typeset"


def test_listed_capabilities_match_the_backends_themselves() -> None:
    """What `signwriter backends` shows is what each backend really declares."""
    from generation.registry import available_backends, create_backend
    options = {"zai": {"api_key": "k"}, "fal": {"api_key": "k"}, "runware": {"api_key": "k"},
               "openai-images": {"urls": ["http://127.0.0.1:9"]},
               "vllm-omni": {"urls": ["http://127.0.0.1:9"]}}
    for info in available_backends():
        backend = create_backend(info.name, **options.get(info.name, {}))
        assert backend.capabilities == info.capabilities, info.name
