"""Writes tests/data/display-p3.icc: a Display P3 profile (DCI-P3 primaries, D65 white, the sRGB transfer
curve) built by littleCMS, the colour engine Pillow's ImageCms wraps (its shared library ships inside
Pillow's Linux wheels). The profile is committed; this script says how it was made.

    .venv/bin/python tests/data/make_display_p3.py
"""

from __future__ import annotations

import ctypes
import glob
from pathlib import Path

import PIL

OUT = Path(__file__).resolve().parent / "display-p3.icc"


class XyY(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double), ("Y", ctypes.c_double)]


class Triple(ctypes.Structure):
    _fields_ = [("red", XyY), ("green", XyY), ("blue", XyY)]


def main() -> None:
    lib_dir = Path(PIL.__file__).resolve().parents[1] / "pillow.libs"
    lcms = ctypes.CDLL(glob.glob(str(lib_dir / "liblcms2-*.so*"))[0])
    lcms.cmsBuildParametricToneCurve.restype = ctypes.c_void_p
    lcms.cmsBuildParametricToneCurve.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_double)]
    lcms.cmsCreateRGBProfile.restype = ctypes.c_void_p
    lcms.cmsCreateRGBProfile.argtypes = [ctypes.POINTER(XyY), ctypes.POINTER(Triple), ctypes.c_void_p * 3]
    lcms.cmsMLUalloc.restype = ctypes.c_void_p
    lcms.cmsMLUalloc.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    lcms.cmsMLUsetASCII.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]
    lcms.cmsWriteTag.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p]
    lcms.cmsSaveProfileToMem.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint)]

    # IEC 61966-2-1 (sRGB) curve as littleCMS parametric type 4: gamma, a, b, c, d
    params = (ctypes.c_double * 5)(2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
    curve = lcms.cmsBuildParametricToneCurve(None, 4, params)
    white = XyY(0.3127, 0.3290, 1.0)
    primaries = Triple(XyY(0.680, 0.320, 1.0), XyY(0.265, 0.690, 1.0), XyY(0.150, 0.060, 1.0))
    profile = lcms.cmsCreateRGBProfile(ctypes.byref(white), ctypes.byref(primaries),
                                       (ctypes.c_void_p * 3)(curve, curve, curve))
    for signature, text in ((0x64657363, b"Display P3"), (0x63707274, b"No copyright, use freely")):  # desc, cprt
        mlu = lcms.cmsMLUalloc(None, 1)
        lcms.cmsMLUsetASCII(mlu, b"en", b"US", text)
        lcms.cmsWriteTag(profile, signature, mlu)
    size = ctypes.c_uint(0)
    lcms.cmsSaveProfileToMem(profile, None, ctypes.byref(size))
    buf = ctypes.create_string_buffer(size.value)
    lcms.cmsSaveProfileToMem(profile, buf, ctypes.byref(size))
    OUT.write_bytes(buf.raw[: size.value])
    print(f"wrote {OUT} ({size.value} bytes)")


if __name__ == "__main__":
    main()
