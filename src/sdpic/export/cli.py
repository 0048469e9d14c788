"""`sdpic export onnx | reference | fixtures`: the web decoder's model bundles, and what it is checked against.

::

    sdpic export onnx [--model NAME]... [--synthesis LABEL=WEIGHTS]... [--realism WEIGHTS [--default-realism R]]
                      --out-dir DIR [--no-fp16] [--force]
    sdpic export reference IN.sdpic... [--json OUT.json]      # the Python decoder's hashes of each stream
    sdpic export fixtures OUT_DIR [--golden DIR] [--no-realism] [--force]   # streams + references for web/'s tests
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputImageError, ParameterError


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="model bundles for the web decoder, and its reference records")
    sub = p.add_subparsers(dest="export_command", metavar="WHAT", required=True)

    o = sub.add_parser("onnx", help="a model's web bundle: manifest, integer tables, synthesis decoder as ONNX")
    o.add_argument("--model", action="append", default=None, metavar="NAME",
                   help="zoo model to export (repeatable; default: every shipped model)")
    o.add_argument("--synthesis", action="append", default=[], metavar="LABEL=WEIGHTS",
                   help="also export the g_s of a weights file made for the same latents, as synthesis decoder "
                        "LABEL (only with one --model)")
    o.add_argument("--realism", type=Path, default=None, metavar="WEIGHTS",
                   help="the realism decoder to export (a sdpic.zoo.save_realism_file file for the model's weights; "
                        "only with one --model); default: the model's shipped one, where this installation has it")
    o.add_argument("--default-realism", type=float, default=None, metavar="R",
                   help="the realism (0..1) the web decoder uses unless asked (default: the model's)")
    o.add_argument("--out-dir", type=Path, required=True, help="bundle folder (the web package reads web/models)")
    o.add_argument("--no-fp16", action="store_true", help="skip the fp16-weight ONNX files")
    o.add_argument("--force", action="store_true", help="overwrite existing bundle files")
    o.set_defaults(func=run_onnx)

    r = sub.add_parser("reference", help="the Python decoder's symbol, latent and pixel hashes of streams")
    r.add_argument("inputs", nargs="+", type=Path, metavar="IN")
    r.add_argument("--json", type=Path, default=None, help="write the records here (default: print)")
    r.set_defaults(func=run_reference)

    f = sub.add_parser("fixtures", help="small streams, corrupt variants and their references for web/'s tests")
    f.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    f.add_argument("--golden", type=Path, default=None, metavar="DIR",
                   help="also the golden files in DIR (tests/golden/shipped), with mutations of the version-2 ones")
    f.add_argument("--no-realism", action="store_true",
                   help="skip the realism fixtures (a test realism decoder's bundle and pixels)")
    f.add_argument("--force", action="store_true", help="replace an existing fixture folder's files")
    f.set_defaults(func=run_fixtures)


def _parse_synthesis(items: list[str]) -> dict[str, Path]:
    out = {}
    for item in items:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise ParameterError(f"--synthesis takes LABEL=WEIGHTS, got {item!r}")
        if not Path(path).is_file():
            raise InputImageError(f"{path}: no such weights file")
        out[label] = Path(path)
    return out


def run_onnx(args: argparse.Namespace) -> int:
    from ..outputs import atomic_write_bytes, check_output_path
    from ..zoo import list_models
    from .web import INDEX_FILE, index_json, read_manifests, zoo_bundle

    names = args.model or list_models()
    synthesis = _parse_synthesis(args.synthesis)
    if synthesis and len(names) != 1:
        raise ParameterError("--synthesis needs exactly one --model (the model whose latents it decodes)")
    if args.realism is not None:
        if len(names) != 1:
            raise ParameterError("--realism needs exactly one --model (the model whose latents it decodes)")
        if not args.realism.is_file():
            raise InputImageError(f"{args.realism}: no such weights file")
    if args.default_realism is not None:
        from ..codec.realism import check_realism
        from ..zoo import entry_by_name

        check_realism(args.default_realism)
        if args.realism is None and any(entry_by_name(n).realism_path is None for n in names):
            raise ParameterError("--default-realism needs a realism decoder (--realism WEIGHTS, or a model that "
                                 "ships one)")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    bundles = [zoo_bundle(name, synthesis, fp16=not args.no_fp16, realism_weights=args.realism,
                          default_realism=args.default_realism) for name in names]
    for bundle in bundles:
        for file in bundle.files:
            check_output_path(args.out_dir / file, force=args.force)
    manifests = {m["name"]: m for m in read_manifests(args.out_dir)}
    for bundle in bundles:
        for file, data in bundle.files.items():
            atomic_write_bytes(args.out_dir / file, data)
        manifests[bundle.name] = bundle.manifest
        sizes = ", ".join(f"{file} {len(data) / 1e6:.2f} MB" for file, data in bundle.files.items())
        print(f"{bundle.name}: {sizes}")
    atomic_write_bytes(args.out_dir / INDEX_FILE, index_json(list(manifests.values())))
    return 0


def run_reference(args: argparse.Namespace) -> int:
    from ..outputs import atomic_write_bytes
    from .reference import decode_record

    records = []
    for path in args.inputs:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputImageError(f"{path}: cannot read ({exc.strerror})") from None
        records.append({"file": str(path), **decode_record(data)})
    text = json.dumps(records, indent=1) + "\n"
    if args.json is None:
        print(text, end="")
    else:
        atomic_write_bytes(args.json, text.encode())
    return 0


def run_fixtures(args: argparse.Namespace) -> int:
    from .reference import write_fixtures

    if args.golden is not None and not args.golden.is_dir():
        raise InputImageError(f"{args.golden}: no such folder")
    index = write_fixtures(args.out_dir, force=args.force, golden_dir=args.golden, realism=not args.no_realism)
    realism = f", {len(index['realism']['cases'])} realism cases" if "realism" in index else ""
    print(f"{len(index['streams'])} streams, {len(index['corrupt'])} corrupt variants{realism} in {args.out_dir}")
    return 0
