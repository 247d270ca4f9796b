"""The node's parameters, from a ROS 2 parameters file (``ros2 run ... --ros-args --params-file``).

The file has the standard shape ``<node name>: {ros__parameters: {...}}``; every key is checked
(name and type) and a bad one is refused with one line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import yaml

NODE_NAME = "skipper_node"


class ParamsError(ValueError):
    """A parameters file that cannot be used; the message is one line naming the file and key."""


@dataclass(frozen=True)
class NodeParams:
    """What the node needs; the model, backend and speculation come from Skipper's deployment file."""

    server_url: str = "http://127.0.0.1:8080"  # Skipper's OpenAI-compatible server (./skipper serve)
    api_key_file: str = ""                   # a file holding the server's API key; empty: none
    action_name: str = "/skipper/generate"   # ROS name; topics are <action_name>/{goal,feedback,result,cancel}
    domain_id: int = 0                       # ROS_DOMAIN_ID
    max_tokens: int = 256                    # for goals with max_tokens <= 0
    temperature: float = 0.0                 # for goals with temperature < 0 (0: greedy)
    queue_size: int = 8                      # goals waiting behind the running one; more are ABORTED
    request_timeout_s: float = 120.0         # one goal's limit, server connection included
    qos_depth: int = 10                      # history depth of every topic (reliable)

    def topic(self, leaf: str) -> str:
        """The DDS topic of one of the action's ROS topics (ROS prefixes topics with ``rt``)."""
        return "rt" + self.action_name.rstrip("/") + "/" + leaf


_LIMITS = {
    "domain_id": (0, 232),  # DDS port arithmetic caps the domain id at 232
    "max_tokens": (1, 1 << 20),
    "queue_size": (0, 1024),
    "qos_depth": (1, 10000),
}


def load(path: Path | None) -> NodeParams:
    """The parameters in ``path`` over the defaults; no file: the defaults."""
    if path is None:
        return NodeParams()
    where = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ParamsError(f"{where}: cannot read: {e}") from None
    except yaml.YAMLError as e:
        raise ParamsError(f"{where}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict) or set(doc) != {NODE_NAME}:
        raise ParamsError(f"{where}: expected one top-level key '{NODE_NAME}'")
    body = doc[NODE_NAME]
    if not isinstance(body, dict) or set(body) != {"ros__parameters"}:
        raise ParamsError(f"{where}: {NODE_NAME}: expected one key 'ros__parameters'")
    values = body["ros__parameters"]
    if not isinstance(values, dict):
        raise ParamsError(f"{where}: {NODE_NAME}.ros__parameters must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(NodeParams)}
    out: dict[str, object] = {}
    for key, value in values.items():
        name = f"{NODE_NAME}.ros__parameters.{key}"
        if key not in fields:
            raise ParamsError(f"{where}: {name}: unknown parameter (known: {', '.join(fields)})")
        want = type(fields[key].default)
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not want:
            raise ParamsError(f"{where}: {name}: expected {want.__name__}, got {value!r}")
        if key in _LIMITS and not _LIMITS[key][0] <= value <= _LIMITS[key][1]:
            raise ParamsError(f"{where}: {name}: {value} is outside [{_LIMITS[key][0]}, {_LIMITS[key][1]}]")
        out[key] = value
    params = NodeParams(**out)
    url = urllib.parse.urlsplit(params.server_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ParamsError(f"{where}: {NODE_NAME}.ros__parameters.server_url: {params.server_url!r} is not an http(s) URL")
    if not params.action_name.startswith("/") or "//" in params.action_name or not all(
            c.isalnum() or c in "/_" for c in params.action_name):
        raise ParamsError(f"{where}: {NODE_NAME}.ros__parameters.action_name: {params.action_name!r} is not an "
                          "absolute ROS name (letters, digits, '_' and '/')")
    if not params.temperature >= 0 or not params.request_timeout_s > 0:
        raise ParamsError(f"{where}: {NODE_NAME}.ros__parameters: temperature must be >= 0 and "
                          "request_timeout_s > 0")
    return params
