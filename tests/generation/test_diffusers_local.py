"""The in-process GLM-Image backend, run for real on CPU with a tiny random pipeline.

The pipeline is built the way diffusers' own GLM-Image test builds it (tiny DiT and VAE,
a small T5 glyph encoder, the byte-level ByT5 tokenizer), without the autoregressive
stage: ``prior_token_ids`` go in through ``pipeline_kwargs``, so it runs offline.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from generation.base import EditRequest, GenerationRequest
from generation.errors import BackendError, InvalidRequest

if os.environ.get("CI"):  # CI installs the [local] extra: these tests must run, not skip
    import diffusers
    import torch
    import transformers
else:  # a core-only install (`make test-fast` after `make setup`) skips them
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    transformers = pytest.importorskip("transformers")

from generation import diffusers_local  # noqa: E402
from generation.diffusers_local import DiffusersBackend  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CODEBOOK = 128
"""Size of the tiny DiT's prior-token codebook."""


def build_tiny_pipeline():
    """A randomly initialised GlmImagePipeline small enough to run 32x32 in milliseconds."""
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        GlmImagePipeline,
        GlmImageTransformer2DModel,
    )
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    torch.manual_seed(0)
    text_encoder = T5EncoderModel(T5Config(vocab_size=384, d_model=32, d_kv=8, d_ff=37,
                                           num_layers=2, num_heads=4)).eval()
    torch.manual_seed(0)
    transformer = GlmImageTransformer2DModel(
        patch_size=2, in_channels=4, out_channels=4, num_layers=2, attention_head_dim=8,
        num_attention_heads=2, text_embed_dim=32, time_embed_dim=16, condition_dim=8,
        prior_vq_quantizer_codebook_size=CODEBOOK).eval()
    torch.manual_seed(0)
    blocks = 4
    vae = AutoencoderKL(
        block_out_channels=(4, 8, 16, 16), in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * blocks,
        up_block_types=["UpDecoderBlock2D"] * blocks, latent_channels=4, norm_num_groups=4,
        sample_size=128, latents_mean=[0.0] * 4, latents_std=[1.0] * 4).eval()
    return GlmImagePipeline(tokenizer=ByT5Tokenizer(), processor=None,
                            text_encoder=text_encoder, vision_language_encoder=None, vae=vae,
                            transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler())


def prior_tokens(width: int, height: int, seed: int = 1):
    """Stand-in AR output: one codebook id per 16x16 pixels (the upsampled d32 grid)."""
    count = (width // 16) * (height // 16)
    return torch.randint(0, CODEBOOK, (1, count), generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def tiny_pipeline():
    return build_tiny_pipeline()


def backend_for(pipe, width: int = 32, height: int = 32, **extra) -> DiffusersBackend:
    kwargs = {"prior_token_ids": prior_tokens(width, height), "max_sequence_length": 16}
    kwargs.update(extra.pop("pipeline_kwargs", {}))
    return DiffusersBackend(model="tiny-glm-image", pipeline=pipe, steps=2,
                            pipeline_kwargs=kwargs, **extra)


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_generate_returns_a_png_of_the_requested_size_reproducible_by_seed(tiny_pipeline):
    backend = backend_for(tiny_pipeline, width=64, height=32)
    request = GenerationRequest(prompt='A shop sign reading "SALE"', width=64, height=32,
                                seed=7, attempt_id="a1")

    first = backend.generate(request)
    again = backend.generate(request)
    other = backend.generate(request.model_copy(update={"seed": 8}))

    assert first.data.startswith(b"\x89PNG")
    assert decode(first.data).size == (64, 32)
    assert (first.width, first.height, first.seed) == (64, 32, 7)
    assert first.backend == "diffusers" and first.model == "tiny-glm-image"
    assert first.cost_usd == 0.0 and first.elapsed_s > 0
    assert first.metadata["steps"] == 2 and first.metadata["mode"] == "text_to_image"
    assert again.data == first.data
    assert other.data != first.data


def test_guidance_scale_and_steps_reach_the_pipeline(tiny_pipeline):
    request = GenerationRequest(prompt='"OPEN"', width=32, height=32, seed=3)
    guided = backend_for(tiny_pipeline, guidance_scale=4.0).generate(request)
    unguided = backend_for(tiny_pipeline, guidance_scale=1.0).generate(request)
    assert guided.data != unguided.data
    assert guided.metadata["guidance_scale"] == 4.0


def test_size_not_a_multiple_of_32_is_rejected_before_running(tiny_pipeline):
    calls = []
    backend = backend_for(tiny_pipeline, pipeline_kwargs={
        "callback_on_step_end": lambda *a: calls.append(a) or {}})
    with pytest.raises(InvalidRequest) as info:
        backend.generate(GenerationRequest(prompt="x", width=40, height=32, attempt_id="a9"))
    message = str(info.value)
    assert "multiple of 32" in message and "40x32" in message
    assert "[diffusers, attempt a9]" in message
    assert calls == []


def test_too_large_size_is_rejected():
    backend = DiffusersBackend(pipeline=object())
    with pytest.raises(InvalidRequest, match="outside 32–2048 px"):
        backend.generate(GenerationRequest(prompt="x", width=4096, height=512))


def test_edit_redraws_the_source_image(tiny_pipeline, tmp_path):
    source = tmp_path / "source.png"
    Image.new("RGB", (32, 32), (200, 20, 20)).save(source)
    grid = torch.tensor([[1, 2, 2]])
    backend = backend_for(tiny_pipeline, pipeline_kwargs={
        "prior_token_image_ids": [prior_tokens(32, 32, seed=5)[0]],
        "source_image_grid_thw": [grid]})

    edited = backend.edit(EditRequest(prompt='Change the word to "BLUE"',
                                      image_path=str(source), width=32, height=32, seed=2,
                                      region=(0.1, 0.1, 0.5, 0.5)))
    plain = backend_for(tiny_pipeline).generate(
        GenerationRequest(prompt='Change the word to "BLUE"', width=32, height=32, seed=2))

    assert decode(edited.data).size == (32, 32)
    assert edited.metadata["mode"] == "edit" and edited.metadata["region_ignored"] is True
    # the source image's latents condition the DiT: the result differs from plain t2i
    assert edited.data != plain.data


def test_reference_images_are_the_pipelines_condition_images(tiny_pipeline, tmp_path):
    """The brief's pictures go in as ``image=[...]``: two 32x32 references (a red product
    with a transparent margin, a blue logo) condition the DiT, in order, each brought to
    512x512 (:func:`condition_image`: the size both of the pipeline's paths agree on)."""
    from generation.base import ReferenceImage

    product = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    product.paste(Image.new("RGBA", (24, 24), (200, 20, 20, 255)), (4, 4))
    product.save(tmp_path / "product.png")
    Image.new("RGB", (32, 32), (20, 60, 200)).save(tmp_path / "logo.png")
    Image.new("RGB", (32, 32), (20, 200, 60)).save(tmp_path / "other.png")
    grid = torch.tensor([[1, 32, 32], [1, 32, 32]])  # 512 px / 16, per condition image
    tokens = torch.cat([prior_tokens(512, 512, seed=5)[0], prior_tokens(512, 512, seed=6)[0]])
    backend = backend_for(tiny_pipeline, pipeline_kwargs={
        "prior_token_image_ids": [tokens], "source_image_grid_thw": [grid]})
    seen = []
    original = tiny_pipeline.image_processor.preprocess

    def spy(img, *a, **kw):
        seen.append(img.copy())
        return original(img, *a, **kw)

    def request(*names: str) -> GenerationRequest:
        refs = [ReferenceImage(file=str(tmp_path / n), role=r)
                for n, r in zip(names, ("product", "logo"))]
        return GenerationRequest(prompt='A poster reading "SALE"', width=32, height=32,
                                 seed=2, references=refs)

    tiny_pipeline.image_processor.preprocess = spy
    try:
        first = backend.generate(request("product.png", "logo.png"))
        again = backend.generate(request("product.png", "logo.png"))
        other = backend.generate(request("product.png", "other.png"))
    finally:
        tiny_pipeline.image_processor.preprocess = original
    plain = backend_for(tiny_pipeline).generate(
        GenerationRequest(prompt='A poster reading "SALE"', width=32, height=32, seed=2))

    assert first.metadata["reference_images"] == 2 and first.metadata["mode"] == "text_to_image"
    assert [im.size for im in seen[:2]] == [(512, 512), (512, 512)]
    assert [im.getpixel((256, 256)) for im in seen[:2]] == [(200, 20, 20), (20, 60, 200)]
    assert seen[0].getpixel((8, 8)) == (255, 255, 255)  # transparency flattened on white
    assert first.data == again.data
    assert first.data != plain.data and first.data != other.data


@pytest.mark.parametrize("size,expected", [
    ((32, 32), (512, 512)), ((120, 80), (768, 512)), ((1020, 765), (992, 736)),
    ((1536, 768), (1536, 768)), ((3000, 500), (2048, 512)), ((600, 2048), (576, 2048))])
def test_condition_images_get_a_size_both_pipeline_paths_agree_on(size, expected):
    from generation.diffusers_local import condition_image
    from transformers.models.glm_image.image_processing_pil_glm_image import smart_resize

    out = condition_image(Image.new("RGB", size, (10, 20, 30)))
    assert out.size == expected
    w, h = out.size
    # the AR stage's processor keeps it (halved, on its 16 px grid), so its token grid,
    # upsampled x2, is the VAE's 16 px grid of the same picture
    assert smart_resize(h, w) == (h // 2, w // 2) and w % 32 == 0 and h % 32 == 0


def test_edit_of_a_missing_file_is_invalid(tiny_pipeline, tmp_path):
    with pytest.raises(InvalidRequest, match="source image not found"):
        backend_for(tiny_pipeline).edit(EditRequest(
            prompt="x", image_path=str(tmp_path / "nope.png"), width=32, height=32))


def test_pipeline_failures_are_wrapped_with_backend_and_attempt(tiny_pipeline):
    # prior tokens for 64x64 do not fit a 32x32 latent grid: torch raises inside the DiT
    wrong = backend_for(tiny_pipeline, pipeline_kwargs={"prior_token_ids": prior_tokens(64, 64)})
    with pytest.raises(BackendError) as info:
        wrong.generate(GenerationRequest(prompt="x", width=32, height=32, attempt_id="z7"))
    assert type(info.value) is BackendError
    assert "[diffusers, attempt z7] the pipeline failed" in str(info.value)

    bad_arg = backend_for(tiny_pipeline, pipeline_kwargs={
        "callback_on_step_end_tensor_inputs": ["not_a_tensor"]})
    with pytest.raises(InvalidRequest, match="the pipeline rejected the request"):
        bad_arg.generate(GenerationRequest(prompt="x", width=32, height=32))


def test_options_are_strict():
    with pytest.raises(ValueError, match="steps"):
        DiffusersBackend(steps=0)
    with pytest.raises(ValueError, match="extra"):
        DiffusersBackend(num_steps=10)
    with pytest.raises(ValueError, match="may not set height"):
        DiffusersBackend(pipeline_kwargs={"height": 64})


def test_pipeline_is_loaded_once_per_process_and_shared(tiny_pipeline, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "tiny-glm"
    tiny_pipeline.save_pretrained(folder)
    diffusers_local.clear_pipeline_cache()
    options = {"model": str(folder), "device": "cpu", "steps": 2,
               "load_kwargs": {"processor": None, "vision_language_encoder": None},
               "pipeline_kwargs": {"prior_token_ids": prior_tokens(32, 32),
                                   "max_sequence_length": 16}}
    backends = [DiffusersBackend(**options) for _ in range(3)]
    results: list = [None] * 3
    errors: list = []

    def run(i: int) -> None:
        try:
            results[i] = backends[i].generate(GenerationRequest(
                prompt='"HELLO"', width=32, height=32, seed=4))
        except BackendError as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert errors == []
        keys = diffusers_local.cached_pipeline_keys()
        assert len(keys) == 1 and keys[0][:4] == (str(folder), "cpu", "float32", False)
        assert results[0].data == results[1].data == results[2].data
        assert results[0].metadata["device"] == "cpu"
        assert results[0].metadata["dtype"] == "float32"
    finally:
        diffusers_local.clear_pipeline_cache()


def test_a_model_that_cannot_be_loaded_names_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = tmp_path / "no-such-model"
    backend = DiffusersBackend(model=str(missing), device="cpu")
    with pytest.raises(BackendError) as info:
        backend.generate(GenerationRequest(prompt="x", width=512, height=512, attempt_id="l1"))
    assert "could not load model" in str(info.value) and "no-such-model" in str(info.value)
    assert diffusers_local.cached_pipeline_keys() == []


def test_missing_torch_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    backend = DiffusersBackend(model="zai-org/GLM-Image")
    with pytest.raises(BackendError) as info:
        backend.generate(GenerationRequest(prompt="x", width=512, height=512, attempt_id="t1"))
    assert "pip install 'signwriter[local]'" in str(info.value)
    assert "[diffusers, attempt t1]" in str(info.value)


def test_importing_the_backend_does_not_import_torch():
    code = ("import sys, generation, generation.diffusers_local as d; "
            "d.DiffusersBackend(); "
            "print(json.dumps(sorted(m for m in ('torch', 'diffusers') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == []
