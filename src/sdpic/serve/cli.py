"""`sdpic serve [--host 127.0.0.1] [--port N]`: start the viewer (uvicorn) and print its address."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from pathlib import Path

from ..errors import ParameterError, SdpicError


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="web viewer: compare sdpic, AVIF and JPEG on a photo in the browser")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--max-upload-mb", type=float, default=25.0, help="largest upload in MB (default 25)")
    p.add_argument("--max-megapixels", type=float, default=4.0, help="largest photo in megapixels (default 4)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for the analyses")
    p.add_argument("--web", type=Path, default=None, metavar="DIR",
                   help="also serve the web decoder's page from DIR (web/dist, built by `npm run build` in web/) "
                        "at /web/: .sdpic files decoded in the browser")
    p.set_defaults(func=run)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .app import create_app
    except ImportError as exc:
        raise SdpicError(f"sdpic serve needs starlette and uvicorn ({exc}); see requirements.lock") from None
    from .analysis import Limits

    if not 0 <= args.port <= 65535:
        raise ParameterError(f"--port must be in 0..65535, got {args.port}")
    if args.max_upload_mb <= 0 or args.max_megapixels <= 0:
        raise ParameterError("--max-upload-mb and --max-megapixels must be positive")
    if args.threads is not None and args.threads < 1:
        raise ParameterError(f"--threads must be >= 1, got {args.threads}")
    if args.web is not None and not (args.web / "index.html").is_file():
        raise ParameterError(f"--web {args.web}: no index.html there (build it: cd web && npm run build)")
    limits = Limits(max_upload_bytes=int(args.max_upload_mb * 1e6), max_pixels=int(args.max_megapixels * 1e6))
    app = create_app(limits, threads=args.threads, web_dir=args.web)
    # Bind the socket here so that --port 0 works and the printed address is the real one.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
        sock.listen(128)  # connections wait in the backlog until uvicorn accepts: the printed URL works at once
    except OSError as exc:
        sock.close()
        raise ParameterError(f"cannot listen on {args.host}:{args.port} ({exc.strerror})") from None
    port = sock.getsockname()[1]
    shown_host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    print(f"sdpic viewer: http://{shown_host}:{port}/  (Ctrl-C to stop)", flush=True)
    if args.web is not None:
        print(f"web decoder: http://{shown_host}:{port}/web/", flush=True)
    if not _is_loopback(args.host):
        print("sdpic: warning: the viewer has no login; anyone who can reach this address can upload photos",
              file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
