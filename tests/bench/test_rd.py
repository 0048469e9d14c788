"""The RD runner's JSON schema, skip records, caching, the CLI and the report files."""

from __future__ import annotations

import json
import math

import pytest

from sdpic.bench.metrics import PERCEPTUAL_COLUMNS, MetricSuite, psnr
from sdpic.bench.rd import add_bd_rates, list_images, run_rd
from sdpic.bench.report import markdown_table, write_report
from sdpic.cli import main
from sdpic.errors import ParameterError

from .conftest import smooth_image

POINT_KEYS = {"setting", "bpp", "psnr", "ms_ssim", "lpips_alex", "lpips_vgg", "dists", "psnr_salient", "encode_s",
              "decode_s"}
METRICS = {"psnr", "ms_ssim", "lpips_alex", "lpips_vgg", "dists", "psnr_salient"}


def check_schema(doc: dict) -> None:
    assert isinstance(doc["dataset"], str)
    assert isinstance(doc["images"], int) and doc["images"] > 0
    assert doc["reference"] == "avif"
    assert isinstance(doc["codecs"], dict) and doc["codecs"]
    for entry in doc["codecs"].values():
        assert isinstance(entry["version"], str) and entry["version"]
        assert isinstance(entry["points"], list)
        assert isinstance(entry.get("options", {}), dict)
        if not entry["points"]:
            assert entry["skipped"]  # never silently dropped
        for p in entry["points"]:
            assert set(p) >= POINT_KEYS
            for k in POINT_KEYS - {"setting"}:
                assert p[k] is None or (isinstance(p[k], float) and math.isfinite(p[k]))
            assert p["bpp"] > 0
    assert set(doc["bd_rate"]) == METRICS
    for row in doc["bd_rate"].values():
        assert set(row) <= set(doc["codecs"])
        assert all(v is None or isinstance(v, float) for v in row.values())
    json.dumps(doc, allow_nan=False)


@pytest.fixture
def settings() -> dict:
    return {"jpeg": [20, 50, 80], "avif": [30, 55, 80], "webp": [20, 50, 80]}


def test_run_rd_schema_and_cache(image_dir, tmp_path, settings) -> None:
    images = list_images(image_dir)
    kwargs = dict(workers=1, cache_dir=tmp_path / "cache", settings=settings, progress=False, want_perceptual=True)
    doc = run_rd(images, ["jpeg", "avif", "webp", "sdpic-doesnotexist"], **kwargs)
    check_schema(doc)
    assert doc["bd_rate"]["psnr"]["avif"] == pytest.approx(0.0, abs=1e-9)
    assert doc["bd_rate"]["psnr"]["jpeg"] is not None
    assert "sdpic-doesnotexist" in doc["skipped"]
    jpeg_pts = doc["codecs"]["jpeg"]["points"]
    assert [p["setting"] for p in jpeg_pts] == [20, 50, 80]
    assert jpeg_pts[0]["bpp"] < jpeg_pts[-1]["bpp"] and jpeg_pts[0]["psnr"] < jpeg_pts[-1]["psnr"]
    assert all(p["ms_ssim"] is not None for p in jpeg_pts)  # 176x192 is large enough for 5 scales
    assert set(doc["codecs"]["jpeg"]["per_image"]) == {"img0.png", "img1.png"}

    # rerun: everything comes from the cache, no codec is called
    from sdpic.bench.codecs import avif, jpeg, webp

    def boom(*a, **k):
        raise AssertionError("codec called despite the cache")

    mp = pytest.MonkeyPatch()
    for mod, cls in ((jpeg, "JpegCodec"), (avif, "AvifCodec"), (webp, "WebpCodec")):
        mp.setattr(getattr(mod, cls), "encode", boom)
        mp.setattr(getattr(mod, cls), "decode", boom)
    try:
        from sdpic.bench import rd

        rd._WORKER.clear()
        again = run_rd(images, ["jpeg", "avif", "webp"], **kwargs)
    finally:
        mp.undo()
    assert again["codecs"]["jpeg"]["points"] == jpeg_pts


def test_report_files(image_dir, tmp_path, settings) -> None:
    doc = run_rd(
        list_images(image_dir), ["jpeg", "avif"], workers=1, cache_dir=None, settings=settings, progress=False,
        want_perceptual=False,
    )  # fmt: skip
    files = write_report(doc, tmp_path / "out" / "rd", anchors_dir=None)
    names = {f.name for f in files}
    assert {"rd_psnr.png", "rd_ms_ssim.png", "rd_table.md"} <= names
    table = markdown_table(doc)
    assert "| jpeg |" in table and "BD-rate PSNR" in table


def test_cli_rd_and_report(image_dir, tmp_path, capsys) -> None:
    out = tmp_path / "rd.json"
    rc = main(["bench", "rd", "--images", str(image_dir), "--codecs", "jpeg,avif", "--workers", "2", "--out", str(out),
               "--cache-dir", str(tmp_path / "c"), "--quiet", "--no-perceptual"])  # fmt: skip
    assert rc == 0
    doc = json.loads(out.read_text())
    check_schema(doc)
    assert main(["bench", "rd", "--images", str(image_dir), "--codecs", "jpeg", "--out", str(out), "--quiet"]) == 1
    assert main(["bench", "report", str(out), "--plot", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p_psnr.png").is_file()
    capsys.readouterr()
    assert main(["bench", "report", str(out), "--reference", "jpeg"]) == 0
    table = capsys.readouterr().out
    assert "BD-rate vs **jpeg**" in table and "| jpeg | +0.0% |" in table and "| avif | -" in table
    assert main(["bench", "report", str(out), "--reference", "webp"]) != 0  # not in this run


def test_cli_rd_refuses_bad_sdpic_options_before_running(image_dir, tmp_path, capsys) -> None:
    for bad in (["--sdpic-roi-strength", "1.5"], ["--sdpic-saliency", "center"]):
        rc = main(["bench", "rd", "--images", str(image_dir), "--codecs", "jpeg", "--quiet", "--no-perceptual",
                   "--out", str(tmp_path / "rd.json"), *bad])  # fmt: skip
        assert rc != 0 and "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "rd.json").exists()


def test_batched_metrics_match_single_pairs() -> None:
    from sdpic.bench.metrics import MetricSuite

    suite = MetricSuite(want_perceptual=False)
    a = smooth_image(180, 184)
    b = (a // 8) * 8
    c = (a // 32) * 32
    batch = suite.compute_batch(a, [b, c], None)
    assert batch[0]["psnr"] > batch[1]["psnr"]
    for one, img in zip(batch, [b, c], strict=True):
        single = suite.compute(a, img, None)
        assert single["psnr"] == pytest.approx(one["psnr"])
        assert single["ms_ssim"] == pytest.approx(one["ms_ssim"], abs=1e-6)


def test_metric_basics() -> None:
    suite = MetricSuite(want_perceptual=False)
    a = smooth_image(200, 200)
    assert psnr(a, a) == 100.0
    assert suite.compute(a, a, None)["ms_ssim"] == pytest.approx(1.0, abs=1e-6)
    b = a.copy()
    b[::2] = 255 - b[::2]
    assert suite.compute(a, b, None)["ms_ssim"] < 0.5
    assert suite.compute(a[:100, :100], a[:100, :100], None)["ms_ssim"] is None  # too small for 5 scales


def test_deep_columns_reuse_reference_features_and_match_the_metric() -> None:
    """lpips_alex / lpips_vgg / dists from cached reference features equal sdpic.metric.distance on each pair."""
    import sdpic.metric as metric

    suite = MetricSuite(want_perceptual=True, threads=1)
    a = smooth_image(64, 96)
    imgs = [(a // 8) * 8, (a // 32) * 32, a]
    first = suite.compute_batch(a, imgs[:2], None, ref_key="a")
    again = suite.compute_batch(a, imgs[2:], None, ref_key="a")  # features of `a` come from the cache
    assert list(suite._ref_features) == ["lpips-alex", "lpips-vgg", "dists"]
    for out, img in zip(first + again, imgs, strict=True):
        for col, name in PERCEPTUAL_COLUMNS.items():
            # abs: DISTS compares feature variances, whose float32 rounding depends on the batch it runs in
            assert out[col] == pytest.approx(metric.distance(a, img, metric=name), rel=1e-5, abs=1e-6)
    for col in PERCEPTUAL_COLUMNS:
        assert again[0][col] == pytest.approx(0.0, abs=1e-6)
        assert first[0][col] < first[1][col]  # coarser quantisation, larger distance
    other = smooth_image(64, 96, seed=1)[::-1].copy()  # a new key: the cache must not serve the old reference
    fresh = suite.compute_batch(other, [imgs[0]], None, ref_key="b")[0]["lpips_alex"]
    assert fresh == pytest.approx(metric.distance(other, imgs[0]), rel=1e-5)


def test_without_perceptual_the_distance_columns_are_null_and_say_why() -> None:
    suite = MetricSuite(want_perceptual=False)
    a = smooth_image(64, 96)
    out = suite.compute(a, (a // 8) * 8, None)
    assert all(out[col] is None for col in PERCEPTUAL_COLUMNS) and out["psnr"] > 20
    assert all(suite.sources[col] == "not requested" for col in PERCEPTUAL_COLUMNS)


def test_update_replaces_only_the_rerun_codecs(image_dir, tmp_path, settings) -> None:
    """``--update``: rerun one codec, keep the other rows as they were, recompute the BD-rates."""
    from sdpic.bench.rd import merge_results

    kwargs = dict(workers=1, cache_dir=tmp_path / "c", settings=settings, progress=False, want_perceptual=False)
    images = list_images(image_dir)
    base = run_rd(images, ["jpeg", "avif"], **kwargs)
    update = run_rd(images, ["webp", "jpeg"], **{**kwargs, "settings": {**settings, "jpeg": [30, 60, 90]}})
    merged = merge_results(base, update)
    check_schema(merged)
    assert merged["codecs"]["avif"] == base["codecs"]["avif"]
    assert merged["codecs"]["jpeg"] == update["codecs"]["jpeg"] != base["codecs"]["jpeg"]
    assert merged["bd_rate"]["psnr"]["webp"] is not None  # webp is now measured against base's avif
    assert merged["bd_rate"]["psnr"]["jpeg"] != base["bd_rate"]["psnr"]["jpeg"]
    assert [u["codecs"] for u in merged["updates"]] == [["jpeg", "webp"]]

    out = tmp_path / "rd.json"
    out.write_text(json.dumps(base))
    rc = main(["bench", "rd", "--images", str(image_dir), "--codecs", "webp", "--update", str(out), "--force",
               "--cache-dir", str(tmp_path / "c"), "--quiet", "--no-perceptual", "--workers", "1"])  # fmt: skip
    assert rc == 0
    written = json.loads(out.read_text())
    assert set(written["codecs"]) == {"jpeg", "avif", "webp"} and written["codecs"]["avif"] == base["codecs"]["avif"]
    other = dict(base, images=base["images"] + 1)
    with pytest.raises(Exception, match="images differs"):
        merge_results(other, update)


def _points(**extra: float | None) -> list[dict]:
    return [{"setting": q, "bpp": b, "psnr": 28.0 + q / 10, "ms_ssim": 0.9, "psnr_salient": 27.0, "encode_s": 0.1,
             "decode_s": 0.1, **extra} for q, b in ((20, 0.2), (50, 0.5))]


def test_results_from_before_the_metric_change_are_named_and_not_merged() -> None:
    """An RD JSON with the old uncalibrated percep / percep_eval columns cannot take new rows."""
    from sdpic.bench.rd import merge_results, outdated_columns

    new = {"dataset": "k", "images": 1, "reference": "avif",
           "codecs": {"avif": {"points": _points(lpips_alex=0.2, lpips_vgg=0.3, dists=0.1)}}}
    old = {**new, "codecs": {"avif": {"points": _points(percep=1.0, percep_eval=2.0)}}}
    assert outdated_columns(new) is None
    assert outdated_columns({"codecs": {"x": {"points": []}}}) is None  # nothing measured, nothing outdated
    why = outdated_columns(old)
    assert "lpips_alex, lpips_vgg, dists" in why and "percep, percep_eval" in why
    with pytest.raises(ParameterError, match="rerun every codec"):
        merge_results(old, new)


def test_report_of_old_results_says_they_are_outdated(tmp_path, capsys) -> None:
    old = {"dataset": "k", "images": 1, "reference": "avif",
           "codecs": {"avif": {"version": "v", "points": _points(percep=1.0, percep_eval=2.0)}}, "bd_rate": {}}
    add_bd_rates(old)  # PSNR and MS-SSIM are still comparable: their BD-rates are drawn
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    assert main(["bench", "report", str(path)]) == 0
    captured = capsys.readouterr()
    assert "older bench" in captured.err and "BD-rate PSNR" in captured.out


def test_update_of_old_results_is_refused_before_the_run(image_dir, tmp_path, capsys, monkeypatch) -> None:
    from sdpic.bench import rd

    old = {"dataset": "imgs", "images": 2, "reference": "avif",
           "codecs": {"avif": {"version": "v", "points": _points(percep=1.0, percep_eval=2.0)}}, "bd_rate": {}}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))

    def boom(*a, **k):
        raise AssertionError("the bench ran although its rows could not be merged")

    monkeypatch.setattr(rd, "run_rd", boom)
    rc = main(["bench", "rd", "--images", str(image_dir), "--codecs", "jpeg", "--update", str(path),
               "--out", str(tmp_path / "new.json"), "--quiet"])  # fmt: skip
    assert rc != 0 and "rerun every codec" in capsys.readouterr().err
    assert not (tmp_path / "new.json").exists()
