"""Bounded decoder fuzzing: every mutated stream ends in a typed sdpic error or a valid image of the
declared size, within 2x the clean decode time of that size (plus scheduling slack). The long run
with atheris is benchmarks/fuzz_decoder.py (results/reliability/); both use the same mutators."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import fuzz_decoder as fz

# A loaded 2-core machine (training runs beside the tests) stretches single decodes; the long run
# reports the unslackened ratio.
SLACK_S = 0.25
# Derandomized: the suite runs the same examples every time (the long run explores).
FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture], "derandomize": True}


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    return fz.seed_streams()


@pytest.fixture(scope="module")
def oracle(seeds: list[bytes]) -> fz.Oracle:
    return fz.Oracle(seeds, slack_s=SLACK_S)


def _check(oracle: fz.Oracle, phase: str, name: str, data: bytes) -> str:
    """Run one case; untyped exceptions propagate (fz.UntypedError) and fail the test."""
    before = oracle.stats.over_budget
    outcome = oracle.run(phase, name, data)
    assert oracle.stats.over_budget == before, f"{phase}/{name} took more than 2x the clean decode time"
    return outcome


def test_seed_streams_decode(oracle: fz.Oracle, seeds: list[bytes]) -> None:
    assert [_check(oracle, "seed", str(k), s) for k, s in enumerate(seeds)] == ["image"] * len(seeds)


def test_truncation_at_every_byte_offset_is_a_typed_error(oracle: fz.Oracle, seeds: list[bytes]) -> None:
    for k, seed in enumerate(seeds):
        for name, data in fz.truncations(seed):
            assert _check(oracle, "truncation", f"seed{k}/{name}", data) != "image"


@pytest.mark.parametrize("seed_index", [0, 1, 2])
def test_every_header_field_mutated(oracle: fz.Oracle, seeds: list[bytes], seed_index: int) -> None:
    """Boundary and random values for each field, CRC kept (-> ChecksumError) and recomputed (-> the
    field's own check, or a valid image of the new size where the value is legal)."""
    outcomes = {}
    for name, data in fz.header_mutations(seeds[seed_index], random.Random(seed_index)):
        outcomes[name] = _check(oracle, "header", name, data)
    assert outcomes["width=16385+crc"] == outcomes["height=0+crc"] == "FormatError"
    assert outcomes["version=3+crc"] == "UnsupportedVersionError"
    assert outcomes["version=2+crc"] == "FormatError"  # version 2 only with a version-2 section
    assert outcomes["model_id=3+crc"] == outcomes["weights_hash=0+crc"] == "ModelMismatchError"
    assert outcomes["width=65"] == "ChecksumError"
    # Same padded size (64): a valid image of the new width. Bigger sizes need more symbols than the
    # stream holds, which the decoder sees before decoding (no full-size decode of a short stream).
    if seed_index in (0, 1):  # 64x48 and 37x29: padded to 64x64 like 1x48 and 37x63
        assert outcomes["width=1+crc"] == outcomes["height=63+crc"] == "image"
    assert outcomes["width=16384+crc"] != "image" and outcomes["height=16384+crc"] != "image"


@settings(max_examples=45, **FUZZ)
@given(seed_index=st.integers(0, 5), flips=st.sampled_from([1, 8, 64]), fix_crc=st.booleans(),
       rng_seed=st.integers(0, 2**32 - 1))
def test_random_bit_flips(oracle: fz.Oracle, seeds: list[bytes], seed_index: int, flips: int, fix_crc: bool,
                          rng_seed: int) -> None:
    data = fz.bit_flips(seeds[seed_index], flips, random.Random(rng_seed))
    outcome = _check(oracle, "bitflip", f"{flips}", fz.recrc(data) if fix_crc else data)
    if not fix_crc:
        assert outcome != "image"  # CRC-32 detects every burst of <= 32 bits, and these flips too


@settings(max_examples=60, **FUZZ)
@given(seed_index=st.integers(0, 5), rng_seed=st.integers(0, 2**32 - 1))
def test_mutations_inside_sections_reach_the_entropy_decoder(oracle: fz.Oracle, seeds: list[bytes],
                                                             seed_index: int, rng_seed: int) -> None:
    name, data = fz.section_mutation(seeds[seed_index], random.Random(rng_seed))
    _check(oracle, "section", name, data)


@pytest.mark.parametrize("seed_index", [4, 5])
def test_version_2_header_fields_mutated(oracle: fz.Oracle, seeds: list[bytes], seed_index: int) -> None:
    """The version-2 seeds: a version-1 byte makes tags 5..8 unknown; a greyscale colour code makes the RGBA
    cut-out's RGB profile wrong for its data; a size change no longer fits the alpha plane."""
    outcomes = {name: _check(oracle, "header", name, data)
                for name, data in fz.header_mutations(seeds[seed_index], random.Random(seed_index))}
    assert outcomes["version=1+crc"] == "FormatError" and outcomes["version=3+crc"] == "UnsupportedVersionError"
    assert outcomes["width=1+crc"] == outcomes["height=63+crc"] == "FormatError"  # alpha plane size
    if seed_index == 4:
        assert outcomes["colour=1+crc"] == "FormatError"  # an RGB profile on a greyscale image


@settings(max_examples=80, **FUZZ)
@given(seed_index=st.integers(4, 5), rng_seed=st.integers(0, 2**32 - 1))
def test_mutations_inside_version_2_sections(oracle: fz.Oracle, seeds: list[bytes], seed_index: int,
                                             rng_seed: int) -> None:
    """Edits inside the alpha plane, ICC profile, EXIF and XMP: an image (of the mode the sections say) or a
    typed error; the alpha plane's WebP decoder and the profile's description reader both run."""
    name, data = fz.section_mutation(seeds[seed_index], random.Random(rng_seed), fz.VERSION_2_TAGS)
    assert name.split(":")[0] in {f"section{t}" for t in fz.VERSION_2_TAGS}
    _check(oracle, "section", name, data)


@settings(max_examples=150, **FUZZ)
@given(blob=st.binary(max_size=600), prefix=st.sampled_from([b"", b"SDPC", b"SDPC\x01", "header"]),
       fix_crc=st.booleans())
def test_random_bytes(oracle: fz.Oracle, seeds: list[bytes], blob: bytes, prefix: bytes | str,
                      fix_crc: bool) -> None:
    data = (seeds[0][: fz.HEADER_SIZE] if prefix == "header" else prefix) + blob
    _check(oracle, "random", "", fz.recrc(data) if fix_crc else data)


def test_no_case_allocated_much(oracle: fz.Oracle) -> None:
    """Memory stays bounded: no case grew the process by more than the decode of a small image needs
    (runs last in this module; the long run reports the same figure)."""
    if oracle.stats.cases == 0 or not getattr(oracle, "peak_rss_per_case", False):
        pytest.skip("needs the cases above and a resettable peak RSS (Linux /proc/self/clear_refs)")
    assert oracle.stats.max_case_rss_growth_mb < 256
