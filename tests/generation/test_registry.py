"""The backend registry: self-describing backends found through one entry-point group,
clear errors, nothing heavy imported to list them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from generation import registry
from generation.base import Backend, BackendSpec, Capabilities, GenerationRequest, Layout, TextBlock
from generation.errors import BackendError, InvalidRequest
from generation.registry import available_backends, backend_info, create_backend

ROOT = Path(__file__).resolve().parents[2]
NAMES = {"typeset", "zai", "fal", "runware", "openai-images", "vllm-omni", "diffusers"}


def test_lists_every_backend_with_what_it_needs() -> None:
    specs = {b.name: b for b in available_backends()}
    assert set(specs) >= NAMES
    assert specs["typeset"].capabilities.follows_layout and not specs["typeset"].required_settings
    assert specs["zai"].required_settings == ["SIGNWRITER_ZAI_API_KEY"]
    assert specs["openai-images"].required_settings == ["SIGNWRITER_OPENAI_IMAGES_URLS"]
    assert specs["fal"].capabilities.paid and specs["diffusers"].extra == "local"
    assert all(b.summary and b.source == "built-in" for b in specs.values())
    for spec in specs.values():  # options models refuse what they do not know
        assert spec.options.model_config.get("extra") == "forbid", spec.name
        assert set(spec.settings) <= set(spec.options.model_fields), spec.name


def test_listing_imports_nothing_heavy() -> None:
    code = ("import sys, generation.registry as r; r.available_backends(); "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"


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


class _Opts(BaseModel):
    model_config = ConfigDict(extra="forbid")


def test_a_missing_requirement_fails_only_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = BackendSpec(name="heavy", summary="needs a missing package", factory=object,
                       options=_Opts, capabilities=Capabilities(),
                       requires=("signwriter_absent_dependency_xyz",), extra="local")
    monkeypatch.setattr(registry, "_specs", {**registry._discover(), "heavy": spec})
    assert "heavy" in {b.name for b in available_backends()}
    with pytest.raises(BackendError, match=r"pip install 'signwriter\[local\]'") as err:
        create_backend("heavy")
    assert "signwriter_absent_dependency_xyz" in str(err.value)


def test_a_broken_or_clashing_plugin_is_left_out_with_a_reason(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('plugin exploded')\n")
    (tmp_path / "clash_plugin.py").write_text(
        "from generation.typeset import BACKEND as TYPESET\n"
        "BACKEND = TYPESET.model_copy(update={'summary': 'an impostor'})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from importlib.metadata import EntryPoint
    fake = [EntryPoint("broken", "broken_plugin:BACKEND", registry.GROUP),
            EntryPoint("typeset", "clash_plugin:BACKEND", registry.GROUP)]
    registry.refresh()
    monkeypatch.setattr(registry, "entry_points", lambda group: fake)
    try:
        names = {b.name for b in available_backends()}
        problems = " | ".join(registry.load_problems())
        assert "broken" not in names and "plugin exploded" in problems
        assert backend_info("typeset").summary != "an impostor" and "name is taken" in problems
    finally:
        monkeypatch.undo()
        registry.refresh()
    assert registry.load_problems() == [] and "typeset" in {b.name for b in available_backends()}


def test_listed_capabilities_match_the_backends_themselves() -> None:
    """What `signwriter backends` shows is what each backend really does at its defaults."""
    options = {"zai": {"api_key": "k"}, "fal": {"api_key": "k"}, "runware": {"api_key": "k"},
               "openai-images": {"urls": ["http://127.0.0.1:9"]},
               "vllm-omni": {"urls": ["http://127.0.0.1:9"]}}
    for spec in available_backends():
        backend = create_backend(spec.name, **options.get(spec.name, {}))
        assert backend.capabilities == spec.capabilities, spec.name


def test_zai_takes_the_sizes_of_its_glm_image_guide() -> None:
    limits = backend_info("zai").capabilities.limits
    for size in ((1920, 768), (512, 512), (1280, 1280), (1568, 1056), (1056, 1568),
                 (1472, 1088), (1088, 1472), (1728, 960), (960, 1728)):
        assert limits.problem(*size) is None, size
    assert "multiple of 32" in limits.problem(1000, 1000)
    assert "outside 512–2048" in limits.problem(480, 1024)
