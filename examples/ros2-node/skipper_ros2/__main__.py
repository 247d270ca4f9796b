"""``python -m skipper_ros2 [--params-file FILE]``: runs the node until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .params import ParamsError, load


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m skipper_ros2",
        description="Skipper's ROS 2 generation node (DDS topics <action_name>/{goal,cancel,feedback,result}). "
                    "Start Skipper's server first (./skipper serve --config DEPLOYMENT.yaml); DDS settings come "
                    "from CYCLONEDDS_URI as for any Cyclone DDS program.")
    ap.add_argument("--params-file", type=Path, help="ROS 2 parameters file (skipper_node: ros__parameters: ...)")
    ap.add_argument("--domain-id", type=int, help="overrides the domain_id parameter (ROS_DOMAIN_ID)")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="[%(levelname)s] [%(name)s]: %(message)s",
                        stream=sys.stderr)
    try:
        params = load(args.params_file)
        if args.domain_id is not None:
            if not 0 <= args.domain_id <= 232:
                raise ParamsError(f"--domain-id: {args.domain_id} is outside [0, 232]")
            params = type(params)(**{**params.__dict__, "domain_id": args.domain_id})
        api_key = ""
        if params.api_key_file:
            try:
                api_key = Path(params.api_key_file).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise ParamsError(f"{params.api_key_file}: cannot read the API key: {e.strerror}") from None
    except ParamsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from .node import GenerationNode  # after the checks: loading Cyclone DDS takes a moment

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with GenerationNode(params, api_key):
        print("skipper_node: ready", file=sys.stderr, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
