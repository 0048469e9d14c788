"""Golden bitstreams: an accidental change to the coding path (format, coder, exact networks, g_a, h_a,
quality map) changes a pinned SHA-256 and fails here. How they are made: tests/golden/regenerate.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdpic import api
from sdpic.zoo import entry_by_name, weights_hash
from tests.golden import regenerate as golden

MANIFEST = json.loads(golden.MANIFEST.read_text())
CASES = {case.name: case for case in golden.CASES}
REGENERATE = f"run `{golden.REGENERATE_COMMAND}` and commit tests/golden/"


@pytest.fixture(scope="module")
def fixture_model(tmp_path_factory: pytest.TempPathFactory):
    path = golden.build_fixture_model(tmp_path_factory.mktemp("golden") / "fixture.safetensors")
    digest = golden.sha256(path.read_bytes())
    if digest != MANIFEST["fixture"]["model_sha256"]:
        pytest.fail(f"the seeded fixture model's bytes changed ({digest}); the fixture builder or a library "
                    f"(numpy, torch, safetensors) changed, not the coding path: {REGENERATE}")
    golden.register_fixture(path)
    yield golden.FIXTURE_NAME
    golden.unregister_fixture()


@pytest.fixture(scope="module")
def shipped_model() -> str:
    name = MANIFEST["shipped"]["model"]
    installed = weights_hash(entry_by_name(name).path).hex()
    if installed != MANIFEST["shipped"]["weights_hash"]:
        pytest.fail(f"weights changed: {name} is now {installed}, the goldens are for "
                    f"{MANIFEST['shipped']['weights_hash']}; regenerate with `{golden.REGENERATE_COMMAND}` "
                    f"(deliberately, once per new weights) and commit tests/golden/")
    return name


def _model(request: pytest.FixtureRequest, group: str) -> str:
    return request.getfixturevalue("fixture_model" if group == "fixture" else "shipped_model")


def _expected(group: str, case: str) -> dict:
    return MANIFEST[group]["cases"][case]


@pytest.mark.parametrize("group", ["fixture", "shipped"])
@pytest.mark.parametrize("case", list(CASES))
def test_encoder_reproduces_the_golden_stream(request: pytest.FixtureRequest, group: str, case: str) -> None:
    model = _model(request, group)
    c = CASES[case]
    data = api.encode(c.image(), quality=c.quality, saliency=c.saliency(), model=model, threads=1).data
    committed = (golden.GOLDEN_DIR / group / f"{case}.sdpic").read_bytes()
    assert golden.sha256(committed) == _expected(group, case)["stream_sha256"], "committed stream file edited"
    assert golden.sha256(data) == _expected(group, case)["stream_sha256"], (
        f"{group}/{case}: the encoder's bytes changed ({len(data)} bytes, golden {len(committed)}). If the change "
        f"is intended (a format or coding-path change), bump what must be bumped and {REGENERATE}")


@pytest.mark.parametrize("group", ["fixture", "shipped"])
@pytest.mark.parametrize("case", list(CASES))
def test_decoder_reproduces_golden_latents_and_pixels(request: pytest.FixtureRequest, group: str, case: str) -> None:
    _model(request, group)
    data = (golden.GOLDEN_DIR / group / f"{case}.sdpic").read_bytes()
    latents = golden.decode_latents(data)
    assert golden.sha256(latents.numpy().tobytes()) == _expected(group, case)["latents_sha256"], (
        f"{group}/{case}: the entropy decoder's output changed; this must be bit-exact on every machine")
    decoded = np.asarray(api.decompress(data, threads=1, realism=0))
    reference = np.asarray(Image.open(golden.GOLDEN_DIR / group / f"{case}.png"))
    assert decoded.shape == reference.shape
    # g_s is float32: another CPU may round a rare pixel the other way (docs/determinism.md); a real
    # change to g_s moves far more than one level. On the machine that wrote the goldens it is exact.
    assert np.abs(decoded.astype(np.int16) - reference).max() <= 1
    if golden.sha256(decoded.tobytes()) != _expected(group, case)["pixels_sha256"]:
        pytest.xfail("pixels differ by one level from the goldens' machine (float g_s); latents are exact")


def test_goldens_cover_a_quality_map_and_greyscale() -> None:
    """The cases exercise every section (version 1 and 2) and both colour codes (so a change to any is caught)."""
    from sdpic import format as fmt

    sections, colours = set(), set()
    for case in CASES:
        c = fmt.unpack((golden.GOLDEN_DIR / "fixture" / f"{case}.sdpic").read_bytes())
        sections |= set(c.sections)
        colours.add(c.colour)
    assert sections == set(fmt.Section) and colours == set(fmt.Colour)


def test_manifest_lists_exactly_the_committed_streams() -> None:
    for group in ("fixture", "shipped"):
        on_disk = {p.stem for p in Path(golden.GOLDEN_DIR / group).glob("*.sdpic")}
        assert on_disk == set(MANIFEST[group]["cases"]) == set(CASES)


@pytest.mark.parametrize("group", ["fixture", "shipped"])
def test_version_2_goldens_give_back_alpha_and_metadata_exactly(request: pytest.FixtureRequest, group: str) -> None:
    """The alpha plane is lossless and ICC / EXIF / XMP are byte-identical to the case's input; the goldens
    without those sections are version-1 files, as older builds wrote them."""
    _model(request, group)
    for case in CASES.values():
        data = (golden.GOLDEN_DIR / group / f"{case.name}.sdpic").read_bytes()
        assert data[4] == (2 if case.alpha or case.metadata else 1)
        if not (case.alpha or case.metadata):
            continue
        decoded = api.decompress(data, threads=1)
        source = case.image()
        if case.metadata:
            assert {k: decoded.info[k] for k in ("icc_profile", "exif", "xmp")} == {
                k: source.info[k] for k in ("icc_profile", "exif", "xmp")}
        plane = np.asarray(source)[..., -1]
        np.testing.assert_array_equal(np.asarray(decoded)[..., -1], plane)
