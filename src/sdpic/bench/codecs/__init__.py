"""Codec registry: names on the command line -> wrapper instances, unavailable ones kept as skip records.

Baselines are listed statically; the sdpic codecs are one per shipped model, discovered from the zoo at
run time, so a new model shows up in the bench without touching this file.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...errors import ParameterError
from .avif import AvifCodec
from .base import DEFAULT_THREADS, Availability, Codec
from .heic import HeicCodec
from .jpeg import JpegCodec
from .jpeg2000 import Jpeg2000Codec
from .jxl import JxlCodec
from .mozjpeg import MozjpegCodec
from .sdpic_codec import (
    BASE_NAME,
    SdpicCodec,
    SdpicOptions,
    UnavailableCodec,
    codec_name_for_model,
    list_model_names,
)
from .vvc import VvcCodec
from .webp import WebpCodec

__all__ = [
    "BASELINES",
    "Availability",
    "Codec",
    "SdpicOptions",
    "available_names",
    "get_codec",
    "resolve_codecs",
]

#: Baseline codecs in the order the reports list them.
BASELINES: dict[str, type[Codec]] = {
    "jpeg": JpegCodec,
    "mozjpeg": MozjpegCodec,
    "webp": WebpCodec,
    "avif": AvifCodec,
    "jxl": JxlCodec,
    "jpeg2000": Jpeg2000Codec,
    "heic": HeicCodec,
    "vvc": VvcCodec,
}


#: Suffix of the bench codec that decodes a model's files at realism 0 when its default realism is not 0.
REALISM_ZERO_SUFFIX = "-r0"


def _sdpic_codecs(threads: int, options: SdpicOptions) -> list[Codec]:
    """One codec per shipped model, decoding as users get it (the model's default realism), and for a model
    whose default realism is not 0 a second one (``<name>-r0``) decoding the same files faithfully."""
    from sdpic import zoo

    models, reason = list_model_names()
    if not models:
        return [UnavailableCodec(BASE_NAME, reason)]
    codecs: list[Codec] = []
    for m in models:
        codecs.append(SdpicCodec(model=m, options=options, threads=threads))
        entry = zoo.REGISTRY.get(m)
        if entry is not None and entry.realism_path is not None and entry.default_realism > 0.0:
            codecs.append(SdpicCodec(model=m, name=codec_name_for_model(m) + REALISM_ZERO_SUFFIX, options=options,
                                     threads=threads, realism=0.0))
    return codecs


def available_names() -> list[str]:
    """Every codec name the bench knows (baselines, then the sdpic models or plain ``sdpic``)."""
    models, _ = list_model_names()
    return [*BASELINES, *([codec_name_for_model(m) for m in models] or [BASE_NAME])]


def get_codec(name: str, threads: int = DEFAULT_THREADS, sdpic: SdpicOptions = SdpicOptions()) -> Codec:
    """One codec by name; unknown names raise :class:`ParameterError`, unavailable ones are placeholders."""
    return resolve_codecs([name], threads, sdpic)[0]


def resolve_codecs(
    names: Iterable[str] | None = None, threads: int = DEFAULT_THREADS, sdpic: SdpicOptions = SdpicOptions(),
) -> list[Codec]:
    """Codec instances for ``names`` (all when None, every shipped sdpic model included).

    A shipped model is named by its zoo name (``sdpic``, ``sdpic-mse``); ``sdpic`` expands to every shipped
    model only when no model has that name.

    Unavailable codecs are returned too (as :class:`UnavailableCodec` or with ``is_available()`` false) so the
    report can say they were skipped and why. ``sdpic`` says how every sdpic codec runs.
    """
    sdpic_all = _sdpic_codecs(threads, sdpic)
    by_name = {c.name: c for c in sdpic_all}
    if names is None:
        names = [*BASELINES, *by_name]
    out: list[Codec] = []
    seen: set[str] = set()
    for raw in names:
        name = raw.strip().lower()
        if not name or name in seen:
            continue
        if name in BASELINES:
            out.append(BASELINES[name](threads=threads))
        elif name in by_name:
            out.append(by_name[name])
        elif name == BASE_NAME:  # "sdpic" asked, but the zoo names its models differently: take them all
            out.extend(c for c in sdpic_all if c.name not in seen)
        elif name.startswith(BASE_NAME + "-"):
            models, reason = list_model_names()
            out.append(UnavailableCodec(name, reason or f"no shipped model for {name} (have: {', '.join(models)})"))
        else:
            known = ", ".join([*BASELINES, *by_name])
            raise ParameterError(f"unknown codec {raw!r} (known: {known})")
        seen.update(c.name for c in out)
    return out
