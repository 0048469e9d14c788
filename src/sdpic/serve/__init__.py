"""``sdpic serve``: a local web app to compare sdpic with AVIF and JPEG at the same file size on your photos."""

from .cli import add_subcommand

__all__ = ["add_subcommand"]
