"""CLI behaviour: outputs, refusal to overwrite, atomic writes, batches with bad files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdpic.cli import main
from sdpic.zoo import DEFAULT_MODEL
from tests.conftest import smooth_image


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(smooth_image(48, 80)).save(path)
    return path


def test_compress_decompress_info(tmp_path: Path, image_file: Path, capsys) -> None:
    assert main(["compress", str(image_file), "--quality", "70"]) == 0
    stream = tmp_path / "photo.sdpic"
    assert stream.exists()
    assert main(["decompress", str(stream), "-o", str(tmp_path / "back.png")]) == 0
    assert Image.open(tmp_path / "back.png").size == (80, 48)
    capsys.readouterr()
    assert main(["info", str(stream), "--json"]) == 0
    fields = json.loads(capsys.readouterr().out)
    assert fields["width"] == 80 and fields["model"] == DEFAULT_MODEL and fields["bpp"] > 0


def test_refuses_existing_output_without_force(tmp_path: Path, image_file: Path) -> None:
    out = tmp_path / "photo.sdpic"
    out.write_bytes(b"keep me")
    assert main(["compress", str(image_file)]) == 1
    assert out.read_bytes() == b"keep me"
    assert main(["compress", str(image_file), "--force"]) == 0
    assert out.read_bytes()[:4] == b"SDPC"


def test_never_overwrites_an_input(tmp_path: Path, image_file: Path) -> None:
    before = image_file.read_bytes()
    assert main(["compress", str(image_file), "-o", str(image_file), "--force"]) == 1
    assert image_file.read_bytes() == before


def test_batch_continues_after_a_bad_file(tmp_path: Path, image_file: Path, capsys) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    out_dir = tmp_path / "out"
    assert main(["compress", str(bad), str(image_file), "--out-dir", str(out_dir)]) == 1
    assert (out_dir / "photo.sdpic").exists() and not (out_dir / "bad.sdpic").exists()
    assert "bad.png" in capsys.readouterr().err
    assert not list(out_dir.glob(".*part"))  # no temp files left behind


def test_decompress_of_a_corrupt_file_is_a_clean_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sdpic"
    junk.write_bytes(b"SDPC\x01" + b"\0" * 40)
    result = subprocess.run([sys.executable, "-m", "sdpic.cli", "decompress", str(junk)], capture_output=True,
                            text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "error" in result.stderr


def test_saliency_mask_option(tmp_path: Path, image_file: Path) -> None:
    mask = tmp_path / "mask.png"
    Image.new("L", (80, 48), 255).save(mask)
    assert main(["compress", str(image_file), "--saliency", str(mask), "-o", str(tmp_path / "m.sdpic")]) == 0


def test_output_with_several_inputs_is_refused(tmp_path: Path, image_file: Path) -> None:
    assert main(["compress", str(image_file), str(image_file), "-o", str(tmp_path / "x.sdpic")]) == 1


def test_missing_input_is_one_failure_among_others(tmp_path: Path, image_file: Path, capsys) -> None:
    out_dir = tmp_path / "out"
    assert main(["compress", str(tmp_path / "gone.png"), str(image_file), "--out-dir", str(out_dir),
                 "--jobs", "1"]) == 1
    assert (out_dir / "photo.sdpic").exists()
    err = capsys.readouterr().err
    assert "gone.png" in err and "no such file" in err and "1 failed" in err


def test_single_missing_input_is_a_clean_error(tmp_path: Path, capsys) -> None:
    assert main(["decompress", str(tmp_path / "nothing.sdpic")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_folder_of_streams_decompresses_next_to_them(tmp_path: Path, image_file: Path) -> None:
    streams = tmp_path / "streams" / "deep"
    assert main(["compress", str(image_file), "-o", str(streams / "a.sdpic"), "--quality", "10"]) == 0
    assert main(["decompress", str(tmp_path / "streams"), "--recursive", "--jobs", "1"]) == 0
    assert Image.open(streams / "a.png").size == (80, 48)
    # -o with a folder input is refused with a clear message
    assert main(["decompress", str(tmp_path / "streams"), "-o", str(tmp_path / "x.png")]) == 1


def test_script_status_turns_a_parameter_error_into_one_line_and_status_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    from sdpic.cli import script_status
    from sdpic.errors import ParameterError

    def bad() -> int:
        raise ParameterError("no such level")

    assert script_status(bad) == 2
    assert capsys.readouterr().err == "error: no such level\n"
    assert script_status(lambda: 0) == 0


@pytest.mark.parametrize("fmt", ["pnm", "tiff", "webp"])
def test_decompress_formats_are_lossless(tmp_path: Path, image_file: Path, fmt: str) -> None:
    """--format writes the same pixels as the PNG, under the format's suffix ."""
    assert main(["compress", str(image_file)]) == 0
    stream = tmp_path / "photo.sdpic"
    assert main(["decompress", str(stream), "--out-dir", str(tmp_path / "png")]) == 0
    assert main(["decompress", str(stream), "--out-dir", str(tmp_path / fmt), "--format", fmt]) == 0
    suffix = {"pnm": ".pnm", "tiff": ".tiff", "webp": ".webp"}[fmt]
    reference = Image.open(tmp_path / "png" / "photo.png")
    assert reference.format == "PNG"
    decoded = Image.open(tmp_path / fmt / f"photo{suffix}")
    assert decoded.tobytes() == reference.tobytes() and decoded.mode == reference.mode


def test_decompress_format_follows_the_output_suffix(tmp_path: Path, image_file: Path) -> None:
    assert main(["compress", str(image_file)]) == 0
    stream = tmp_path / "photo.sdpic"
    assert main(["decompress", str(stream), "-o", str(tmp_path / "back.ppm")]) == 0
    assert Image.open(tmp_path / "back.ppm").format == "PPM"
    assert main(["decompress", str(stream), "-o", str(tmp_path / "back.img")]) == 0
    assert Image.open(tmp_path / "back.img").format == "PNG"  # an unknown suffix keeps PNG


def test_resume_checks_outputs_of_the_chosen_format(tmp_path: Path, image_file: Path) -> None:
    assert main(["compress", str(image_file)]) == 0
    stream = tmp_path / "photo.sdpic"
    out = tmp_path / "photo.pnm"
    assert main(["decompress", str(stream), "--format", "pnm"]) == 0
    done = out.read_bytes()
    assert main(["decompress", str(stream), "--format", "pnm", "--resume"]) == 0  # valid: skipped
    out.write_bytes(done[: len(done) // 2])  # truncated: not trusted
    assert main(["decompress", str(stream), "--format", "pnm", "--resume"]) == 1
    assert main(["decompress", str(stream), "--format", "pnm", "--force"]) == 0
    assert out.read_bytes() == done


# ------------------------------------------------------------------ transparency and metadata
@pytest.fixture
def tagged_cutout(tmp_path: Path) -> Path:
    """An RGBA PNG with a Display P3 profile, EXIF with GPS and XMP."""
    from PIL.PngImagePlugin import PngInfo

    from tests.metadata_helpers import cutout, display_p3, exif_bytes, xmp_bytes

    text = PngInfo()
    text.add_itxt("XML:com.adobe.xmp", xmp_bytes().decode())
    path = tmp_path / "cut.png"
    Image.fromarray(cutout(40, 56)).save(path, icc_profile=display_p3(), exif=exif_bytes(), pnginfo=text)
    return path


@pytest.mark.parametrize("fmt", ["png", "tiff", "webp"])
def test_alpha_and_metadata_reach_the_decompressed_file(tmp_path: Path, tagged_cutout: Path, fmt: str) -> None:
    import sdpic
    from tests.metadata_helpers import display_p3, xmp_bytes

    source = Image.open(tagged_cutout)
    assert main(["compress", str(tagged_cutout)]) == 0
    stream = tmp_path / "cut.sdpic"
    assert main(["decompress", str(stream), "--format", fmt, "--out-dir", str(tmp_path / "out")]) == 0
    decoded = sdpic.decompress(stream.read_bytes())
    out = Image.open(tmp_path / "out" / f"cut.{fmt}")
    assert out.mode == "RGBA" and out.tobytes() == decoded.tobytes()  # lossless, alpha bit-exact
    assert np.array_equal(np.asarray(out)[..., 3], np.asarray(source)[..., 3])
    assert out.info["icc_profile"] == display_p3() and out.info["xmp"] == xmp_bytes()
    exif = out.getexif()
    assert exif[0x010F] == "Canon" and exif.get_ifd(0x8825)[2] == (52.0, 31.0, 12.5)
    if fmt == "png":
        assert out.info["exif"] == source.info["exif"]  # byte-identical end to end


def test_pnm_refuses_what_it_cannot_hold(tmp_path: Path, tagged_cutout: Path, capsys) -> None:
    from tests.metadata_helpers import display_p3

    assert main(["compress", str(tagged_cutout)]) == 0
    capsys.readouterr()
    assert main(["decompress", str(tmp_path / "cut.sdpic"), "--format", "pnm"]) == 1
    assert "cannot hold the alpha channel" in capsys.readouterr().err
    opaque = tmp_path / "opaque.png"
    Image.fromarray(smooth_image(16, 16)).save(opaque, icc_profile=display_p3())
    assert main(["compress", str(opaque)]) == 0
    assert main(["decompress", str(tmp_path / "opaque.sdpic"), "--format", "pnm"]) == 1
    assert "PPM cannot hold an ICC profile" in capsys.readouterr().err
    assert main(["decompress", str(tmp_path / "opaque.sdpic"), "--format", "pnm", "--strip-icc"]) == 0
    assert not (tmp_path / "cut.pnm").exists()


def test_strip_flags_and_info_show_what_a_file_carries(tmp_path: Path, tagged_cutout: Path, capsys) -> None:
    assert main(["compress", str(tagged_cutout), "-o", str(tmp_path / "all.sdpic")]) == 0
    assert main(["compress", str(tagged_cutout), "-o", str(tmp_path / "bare.sdpic"), "--strip-metadata"]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "all.sdpic")]) == 0
    text = capsys.readouterr().out
    assert "mode            RGBA" in text and "icc_description Display P3" in text
    assert "exif            " in text and "none" not in text
    assert main(["info", str(tmp_path / "bare.sdpic"), "--json"]) == 0
    fields = json.loads(capsys.readouterr().out)
    assert fields["exif"] is None and fields["xmp"] is None and fields["icc_profile"] == 580 and fields["alpha"] > 0
    assert main(["decompress", str(tmp_path / "all.sdpic"), "-o", str(tmp_path / "s.png"), "--strip-metadata",
                 "--strip-icc"]) == 0
    plain = Image.open(tmp_path / "s.png")
    assert plain.mode == "RGBA" and not {"icc_profile", "exif", "xmp"} & set(plain.info)


def test_decompress_at_a_realism(tmp_path: Path, image_file: Path, realism_decoder: Path, capsys) -> None:
    import sdpic

    assert main(["compress", str(image_file), "--quality", "30"]) == 0
    stream = tmp_path / "photo.sdpic"
    for realism in ("0", "1"):
        out = tmp_path / f"r{realism}.png"
        assert main(["decompress", str(stream), "-o", str(out), "--realism", realism, "-j", "1"]) == 0
        expected = sdpic.decompress(stream.read_bytes(), realism=float(realism))
        assert np.array_equal(np.asarray(Image.open(out)), np.asarray(expected))
    capsys.readouterr()
    assert main(["decompress", str(stream), "-o", str(tmp_path / "bad.png"), "--realism", "1.5"]) != 0
    assert "realism" in capsys.readouterr().err and not (tmp_path / "bad.png").exists()
