"""The saliency model's MobileNetV2 trunk: the shared :mod:`sdpic.nets.mobilenet_v2`, tapped at four scales.

The trunk runs ``features.0`` ... ``features.17`` (the final 1x1 conv to 1280 channels, ``features.18``, only
serves classification and is the most expensive layer at high resolution, so it is not built). Parameter
names match torchvision's, so the ImageNet weights and the shipped ``saliency_mnv2.safetensors`` load strictly.
"""

from __future__ import annotations

from ..nets.mobilenet_v2 import MobileNetV2Taps, imagenet_weights_path, load_imagenet_weights

__all__ = ["TAP_CHANNELS", "TAP_INDICES", "MobileNetV2Features", "imagenet_weights_path", "load_imagenet_weights"]

#: Indices into ``features`` after which a new scale's last block ends: strides 4, 8, 16, 32.
TAP_INDICES = (3, 6, 13, 17)
#: Channels of the tapped feature maps.
TAP_CHANNELS = (24, 32, 96, 320)


class MobileNetV2Features(MobileNetV2Taps):
    """The MobileNetV2 trunk returning the four tapped scales (strides 4, 8, 16, 32)."""

    def __init__(self) -> None:
        super().__init__(TAP_INDICES)
