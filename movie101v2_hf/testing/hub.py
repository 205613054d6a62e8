"""A stand-in for the Hugging Face Hub on 127.0.0.1: the few endpoints `HfApi` uses to create a repo, read its
files' hashes and commit small files, and the `resolve` URLs `evaluate.load` downloads from.

Point `HF_ENDPOINT` (read by `huggingface_hub` and `evaluate` when they are imported) at `hub.url`.

Example:
    >>> import json, urllib.request
    >>> with LocalHub() as hub:  # as `HfApi(endpoint=hub.url).create_repo("org/m", repo_type="space")` asks it
    ...     body = json.dumps({"name": "m", "organization": "org", "type": "space"}).encode()
    ...     request = urllib.request.Request(f"{hub.url}/api/repos/create", body, {"Content-Type": "application/json"})
    ...     json.loads(urllib.request.urlopen(request).read())["name"], sorted(hub.repos)
    ('org/m', ['spaces/org/m'])
"""

from __future__ import annotations

import base64
import hashlib
import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from .servers import LoopbackServer


def git_blob_id(content: bytes) -> str:
    """The git object id of a file's content (what the Hub reports as a file's `oid`), computed here rather than
    with `huggingface_hub`'s helper, so that a test checks the client's hashes against an independent one."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class LocalHub(LoopbackServer):
    """An in-memory Hub: `repos["spaces/ORG/NAME"]` maps each file path to its content.

    `commits` lists every commit received (repo, paths) and `requests` every (method, path), so that a test can
    check what was uploaded, and that a second push uploaded nothing.
    """

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.private: dict[str, bool] = {}
        self.commits: list[tuple[str, list[str]]] = []
        self.requests: list[tuple[str, str]] = []
        self.authorization: list[str] = []
        self.refuse: tuple[int, str] | None = None  # (status, message) for every POST: a Hub that says no
        super().__init__()

    @property
    def url(self) -> str:
        """What `HF_ENDPOINT` is set to."""
        return self.origin

    # -- the endpoints ----------------------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> tuple[int, Any]:
        name = body["name"] if "/" in body["name"] else f"{body.get('organization')}/{body['name']}"
        key = f"{body.get('type', 'model')}s/{name}"
        if key in self.repos:
            return 409, {"error": "You already created this repo", "url": f"{self.url}/{key}"}
        self.repos[key], self.private[key] = {}, bool(body.get("private"))
        return 200, {"url": f"{self.url}/{key}", "name": name}

    def validate_yaml(self, body: dict[str, Any]) -> tuple[int, Any]:
        """The card's YAML header must parse to a mapping (the Hub checks more)."""
        import yaml

        content = body.get("content", "")
        if not content.startswith("---\n") or "\n---" not in content[4:]:
            return 400, {"errors": [{"message": "no YAML metadata block"}]}
        try:
            header = yaml.safe_load(content[4:].split("\n---", 1)[0])
        except yaml.YAMLError as err:
            return 400, {"errors": [{"message": str(err)}]}
        return (200, {"warnings": []}) if isinstance(header, dict) else (400, {"errors": [{"message": "not a map"}]})

    def paths_info(self, key: str, paths: list[str]) -> tuple[int, Any]:
        if key not in self.repos:
            return 404, {"error": "Repository not found"}
        files = self.repos[key]
        found = [p for p in paths if p in files]
        return 200, [{"type": "file", "path": p, "size": len(files[p]), "oid": git_blob_id(files[p])} for p in found]

    def preupload(self, key: str, body: dict[str, Any]) -> tuple[int, Any]:
        if key not in self.repos:
            return 404, {"error": "Repository not found"}
        files = self.repos[key]
        return 200, {
            "files": [
                {
                    "path": f["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": git_blob_id(files[f["path"]]) if f["path"] in files else None,
                }
                for f in body["files"]
            ]
        }

    def commit(self, key: str, lines: list[dict[str, Any]]) -> tuple[int, Any]:
        if key not in self.repos:
            return 404, {"error": "Repository not found"}
        paths = []
        for line in lines:
            if line["key"] == "file":
                value = line["value"]
                self.repos[key][value["path"]] = base64.b64decode(value["content"])
                paths.append(value["path"])
            elif line["key"] != "header":
                return 400, {"error": f"this stand-in takes small regular files only, not {line['key']}"}
        self.commits.append((key, paths))
        oid = hashlib.sha1(json.dumps(sorted(paths)).encode() + str(len(self.commits)).encode()).hexdigest()
        return 200, {"commitUrl": f"{self.url}/{key}/commit/{oid}", "commitOid": oid}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any = None, raw: bytes | None = None, head: bool = False) -> None:
                data = raw if raw is not None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if raw is None else "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                if raw is not None:
                    self.send_header("ETag", f'"{git_blob_id(raw)}"')
                self.end_headers()
                if not head:
                    self.wfile.write(data)

            def _record(self) -> str:
                path = urlparse(self.path).path
                with hub._lock:
                    hub.requests.append((self.command, path))
                    hub.authorization.append(self.headers.get("Authorization", ""))
                return path

            def _resolve(self, head: bool) -> None:
                parts = unquote(self._record()).strip("/").split("/")
                # /spaces/ORG/NAME/resolve/REVISION/FILE
                if len(parts) >= 6 and parts[3] == "resolve":
                    key, revision, file = "/".join(parts[:3]), parts[4], "/".join(parts[5:])
                    content = hub.repos.get(key, {}).get(file)
                    if revision == "main" and content is not None:
                        return self._send(200, raw=content, head=head)
                self._send(404, {"error": "Entry not found"}, head=head)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self._resolve(head=False)

            def do_HEAD(self) -> None:  # noqa: N802
                self._resolve(head=True)

            def do_POST(self) -> None:  # noqa: N802
                path = self._record()
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = path.strip("/").split("/")
                with hub._lock:
                    if hub.refuse is not None:
                        return self._send(hub.refuse[0], {"error": hub.refuse[1]})
                    if path == "/api/repos/create":
                        status, body = hub.create(json.loads(data))
                    elif path == "/api/validate-yaml":
                        status, body = hub.validate_yaml(json.loads(data))
                    elif len(parts) >= 6 and parts[0] == "api":
                        key, action = "/".join(parts[1:4]), parts[4]
                        if action == "paths-info":
                            status, body = hub.paths_info(key, parse_qs(data.decode()).get("paths", []))
                        elif action == "preupload":
                            status, body = hub.preupload(key, json.loads(data))
                        elif action == "commit":
                            lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
                            status, body = hub.commit(key, lines)
                        else:
                            status, body = 404, {"error": f"unknown endpoint {path}"}
                    else:
                        status, body = 404, {"error": f"unknown endpoint {path}"}
                self._send(status, body)

        return Handler
