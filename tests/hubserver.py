"""In-memory Hugging Face Hub look-alike for offline tests, built on the standard library only.

Why: MoLE pushes and pulls adapters through ``huggingface_hub``. Mocking the client would hide the
parts that break in practice (URLs, quoting, headers, error classes, the LFS/Xet upload decision,
resumed downloads), so tests run the *real* client against this server instead. It speaks the
subset of the Hub HTTP API that ``huggingface_hub`` 2.4 calls for repos, commits, refs and files:

* ``GET /api/whoami-v2``, ``POST /api/repos/create``, ``DELETE /api/repos/delete``,
  ``POST /api/validate-yaml``, ``GET /api/{models,datasets,spaces}`` (listing);
* ``/api/{type}s/{ns}/{name}``: info (``[/revision/{rev}]``), ``preupload/{rev}``, ``commit/{rev}``
  (NDJSON), ``tree/{rev}[/{path}]``, ``paths-info/{rev}``, ``refs``, ``commits/{rev}``,
  ``branch/{name}``, ``tag/{rev}``, ``settings``;
* ``HEAD``/``GET /[{type}s/]{ns}/{name}/resolve/{rev}/{path}`` (with ``Range``);
* ``POST /[{type}s/]{ns}/{name}.git/info/lfs/objects/batch`` plus the upload/verify URLs it hands out.

Uploads take one of two routes, chosen by the client: with ``hf_xet`` installed (the default) the
client would send every "lfs" file to a Xet CAS we do not emulate, so ``force_regular=True`` (the
default) answers "regular" for every file and content arrives base64-encoded in the commit. With
``HF_HUB_DISABLE_XET=1`` and ``force_regular=False`` large/binary files go through the classic Git
LFS batch API (presigned-style PUT without credentials, then an authenticated verify call).

Repos live in memory: repo -> branches/tags/PR refs -> commits (40-hex sha, parent, files).
Every request is recorded (``HubServer.requests``) so tests can assert on headers and bodies, and
faults can be injected (``break_download``, ``fail_requests``).
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import hashlib
import http.server
import itertools
import json
import re
import secrets
import socket
import threading
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

DEFAULT_TOKEN = "hf_moletest0123456789abcdefghijklmnopq"
DEFAULT_USER = "mole-tester"

#: Hub defaults: files at or above 10 MiB, or matching the stock ``.gitattributes``, go to LFS.
DEFAULT_LFS_THRESHOLD = 10 * 1024 * 1024
DEFAULT_LFS_PATTERNS: tuple[str, ...] = (
    "*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.gguf", "*.onnx", "*.h5", "*.msgpack",
    "*.npy", "*.npz", "*.pkl", "*.pickle", "*.tar", "*.tar.gz", "*.zip", "*.zst", "*.model",
)  # fmt: skip

_TYPE_FROM_PLURAL = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_INTERNAL = "_hubserver"  # path prefix of the LFS upload/verify URLs handed out by the batch API

_GITATTRIBUTES = (
    "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in DEFAULT_LFS_PATTERNS)
).encode()


def git_blob_oid(data: bytes) -> str:
    """Git blob id (sha1 of ``blob <len>\\0<data>``): what the client uses as oid of regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class Blob:
    """File content as stored in a commit; ``lfs`` says whether git holds only a pointer to it."""

    data: bytes
    lfs: bool
    sha256: str
    git_oid: str  # git blob id of what git stores: the content itself, or the LFS pointer

    @classmethod
    def make(cls, data: bytes, *, lfs: bool) -> Blob:
        sha256 = hashlib.sha256(data).hexdigest()
        stored = _lfs_pointer(sha256, len(data)) if lfs else data
        return cls(data=data, lfs=lfs, sha256=sha256, git_oid=git_blob_oid(stored))

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def pointer_size(self) -> int:
        return len(_lfs_pointer(self.sha256, self.size))

    @property
    def oid(self) -> str:
        """The oid ``preupload`` reports: sha256 for LFS files, git blob id for regular ones."""
        return self.sha256 if self.lfs else self.git_oid


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class Commit:
    """One immutable commit: tests can read ``files`` directly to check what was pushed."""

    oid: str
    parent: str | None
    files: Mapping[str, Blob]
    title: str
    message: str
    author: str
    date: str


@dataclass
class Repo:
    """A repository: refs point into ``commits``; PR refs are ``refs/pr/<n>``."""

    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    pull_requests: dict[int, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> str:
        """Map a branch, tag, ``refs/...`` name or full commit sha to a commit sha."""
        for prefix, refs in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if revision.startswith(prefix) and revision[len(prefix) :] in refs:
                return refs[revision[len(prefix) :]]
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        match = re.fullmatch(r"refs/pr/(\d+)", revision)
        if match and int(match.group(1)) in self.pull_requests:
            return self.pull_requests[int(match.group(1))]
        if re.fullmatch(r"[0-9a-f]{40}", revision) and revision in self.commits:
            return revision
        raise HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")

    def history(self, oid: str) -> Iterator[Commit]:
        current: str | None = oid
        while current is not None:
            commit = self.commits[current]
            yield commit
            current = commit.parent


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server saw it, kept so tests can assert on what the client sent."""

    method: str
    path: str  # raw request target, query string included
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def url_path(self) -> str:
        return urlsplit(self.path).path

    @property
    def bearer(self) -> str | None:
        """The bearer token sent, if any."""
        value = self.header("Authorization")
        if value is None or not value.lower().startswith("bearer "):
            return None
        return value[len("bearer ") :].strip()

    def contains(self, secret: str, *, include_authorization: bool = False) -> bool:
        """Whether ``secret`` appears in the URL, a header value or the body."""
        if secret in self.path or secret in unquote(self.path) or secret.encode() in self.body:
            return True
        return any(
            secret in value
            for key, value in self.headers.items()
            if include_authorization or key.lower() != "authorization"
        )


class HubError(Exception):
    """An HTTP error answer; ``code`` becomes ``X-Error-Code`` that the client maps to its exceptions."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, extra: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = dict(extra or {})
        self.headers: dict[str, str] = {}


@dataclass
class _Identity:
    token: str
    user: str
    can_write: bool


@dataclass
class _Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    cut_after: int | None = None  # fault injection: close the socket after this many body bytes


def _json(payload: Any, status: int = 200, *, content_type: str = "application/json") -> _Response:
    return _Response(status=status, body=json.dumps(payload).encode(), content_type=content_type)


@dataclass
class _Fault:
    kind: str  # "break" or "status"
    remaining: int
    path: str = ""  # "break": file path in repo; "status": regex searched in the URL path
    repo_id: str | None = None
    method: str | None = None
    fraction: float = 0.5
    status: int = 500
    code: str | None = None
    message: str = ""


@dataclass
class _Ctx:
    """Per-request state handed to the route functions."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    base: str
    identity: _Identity | None

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as exc:
            raise HubError(400, f"Invalid JSON body: {exc}") from exc

    def flag(self, name: str) -> bool:
        values = self.query.get(name) or self.query.get(f"{name}[]") or []
        return any(v.lower() in ("1", "true") for v in values)


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    hub: HubServer


class _Handler(http.server.BaseHTTPRequestHandler):
    """Reads every request body in full (keep-alive depends on it) and delegates to the hub."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    timeout = 60  # idle keep-alive connections give up eventually instead of pinning a thread

    def setup(self) -> None:
        super().setup()
        self.server.hub._track(self.connection, active=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.hub._track(self.connection, active=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the default stderr access log."""

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        hub = self.server.hub
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send_error(400, "Unreadable request body")
            return
        headers = dict(self.headers.items())
        hub._record(RecordedRequest(self.command, self.path, headers, body if hub.record_bodies else b""))
        split = urlsplit(self.path)
        try:
            hub._check_status_fault(self.command, split.path)
            ctx = _Ctx(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers=headers,
                body=body,
                base=f"http://{self.headers.get('Host') or hub.url.split('://', 1)[1]}",
                identity=hub._identify(self.headers.get("Authorization")),
            )
            response = hub._route(ctx)
        except HubError as exc:
            response = hub._error_response(exc)
        except Exception as exc:  # a server bug: answer 501 (never retried by the client), keep the trace
            hub.errors.append(traceback.format_exc())
            response = hub._error_response(HubError(501, f"hubserver internal error: {exc!r}"))
        self._send(response)

    def _send(self, response: _Response) -> None:
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.cut_after is None:
            self.wfile.write(response.body)
            return
        # Fault injection: the client was promised Content-Length bytes but the socket dies midway.
        self.wfile.write(response.body[: response.cut_after])
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class HubServer:
    """Hugging Face Hub stand-in on ``127.0.0.1:<free port>``, served from a background thread.

    Args:
        tokens: valid tokens. A mapping ``token -> user name`` or an iterable of tokens (all owned
            by ``user``). Defaults to ``{DEFAULT_TOKEN: DEFAULT_USER}``. A request carrying any other
            ``Authorization: Bearer`` token gets 401, like the Hub.
        user: user name for tokens given as a plain iterable, and for ``whoami``.
        read_only_tokens: tokens that authenticate but get 403 on every write.
        force_regular: answer ``uploadMode: "regular"`` for every file in ``preupload``. Needed while
            the client has Xet enabled (``hf_xet`` installed and no ``HF_HUB_DISABLE_XET=1``): a file
            answered "lfs" would be sent to a Xet CAS, which this server does not emulate.
        lfs_threshold: with ``force_regular=False``, files of at least this size go to LFS.
        lfs_patterns: with ``force_regular=False``, files matching these globs go to LFS. Both
            settings also decide LFS storage for files seeded with ``add_commit(lfs=None)``.
        tree_page_size: paginate ``tree`` listings (``Link: rel="next"``) to exercise the client's
            pagination; ``None`` returns one page.
        anonymous_read: let requests without a token read public repos.
        record_bodies: keep request bodies in ``requests`` (set False for huge uploads).
        initial_gitattributes: new repos start with an "initial commit" holding ``.gitattributes``,
            as on the Hub.
    """

    def __init__(
        self,
        *,
        tokens: Mapping[str, str] | Iterable[str] | None = None,
        user: str = DEFAULT_USER,
        read_only_tokens: Iterable[str] = (),
        force_regular: bool = True,
        lfs_threshold: int = DEFAULT_LFS_THRESHOLD,
        lfs_patterns: Iterable[str] = DEFAULT_LFS_PATTERNS,
        tree_page_size: int | None = None,
        anonymous_read: bool = True,
        record_bodies: bool = True,
        initial_gitattributes: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if tokens is None:
            tokens = {DEFAULT_TOKEN: user}
        token_users = dict(tokens) if isinstance(tokens, Mapping) else dict.fromkeys(tokens, user)
        read_only = set(read_only_tokens)
        for token in read_only:
            token_users.setdefault(token, user)
        self._identities = {t: _Identity(t, u, t not in read_only) for t, u in token_users.items()}
        self.user = user
        self.force_regular = force_regular
        self.lfs_threshold = lfs_threshold
        self.lfs_patterns = tuple(lfs_patterns)
        self.tree_page_size = tree_page_size
        self.anonymous_read = anonymous_read
        self.record_bodies = record_bodies
        self.initial_gitattributes = initial_gitattributes
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []  # tracebacks of server-side bugs (answered with 501)
        self.faults_triggered: list[str] = []
        self.lfs_objects: dict[str, bytes] = {}  # sha256 -> content, uploaded and verified or seeded
        self._lfs_pending: dict[str, bytes] = {}  # uploaded but not verified yet
        self._repos: dict[tuple[str, str], Repo] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._counter = itertools.count()
        self._secret = secrets.token_hex(16)
        self._connections: set[socket.socket] = set()
        self._httpd = _HTTPServer((host, port), _Handler, bind_and_activate=True)
        self._httpd.hub = self
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The endpoint to give the client (``HF_ENDPOINT`` / ``HfApi(endpoint=...)``)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    endpoint = url

    @property
    def token(self) -> str:
        """A valid write token (the first one configured)."""
        return next(i.token for i in self._identities.values() if i.can_write)

    def start(self) -> HubServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="hubserver",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections so no handler thread lingers."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget repos, LFS objects, recorded requests, faults and errors (for a shared server)."""
        with self._lock:
            self._repos.clear()
            self.lfs_objects.clear()
            self._lfs_pending.clear()
            self._faults.clear()
            self.requests.clear()
            self.errors.clear()
            self.faults_triggered.clear()

    def client_env(
        self, *, hf_home: str | None = None, token: str | None = None, disable_xet: bool | None = None
    ) -> dict[str, str]:
        """Environment variables pointing a (sub)process's ``huggingface_hub`` at this server."""
        env = {
            "HF_ENDPOINT": self.url,
            "HF_TOKEN": token if token is not None else self.token,
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        }
        if hf_home is not None:
            env["HF_HOME"] = str(hf_home)
        if disable_xet is None:
            disable_xet = not self.force_regular  # "lfs" answers only work on the LFS route
        if disable_xet:
            env["HF_HUB_DISABLE_XET"] = "1"
        return env

    # ------------------------------------------------------------------ recording and faults

    def _track(self, conn: socket.socket, *, active: bool) -> None:
        with self._lock:
            (self._connections.add if active else self._connections.discard)(conn)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_matching(
        self, method: str | None = None, path_regex: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests filtered by method and by a regex searched in the URL path."""
        with self._lock:
            recorded = list(self.requests)
        return [
            r
            for r in recorded
            if (method is None or r.method == method.upper())
            and (path_regex is None or re.search(path_regex, unquote(r.url_path)))
        ]

    def leaks(self, secret: str) -> list[RecordedRequest]:
        """Requests carrying ``secret`` anywhere except the ``Authorization`` header."""
        with self._lock:
            recorded = list(self.requests)
        return [r for r in recorded if r.contains(secret)]

    def break_download(
        self, path: str, *, repo_id: str | None = None, times: int = 1, fraction: float = 0.5
    ) -> None:
        """Make the next ``times`` GETs of ``resolve/.../path`` announce the full ``Content-Length``
        but close the connection after ``fraction`` of the bytes (HEAD is unaffected)."""
        with self._lock:
            self._faults.append(_Fault("break", times, path=path, repo_id=repo_id, fraction=fraction))

    def fail_requests(
        self,
        path_regex: str,
        *,
        status: int = 500,
        method: str | None = None,
        times: int = 1,
        code: str | None = None,
        message: str = "Injected failure",
    ) -> None:
        """Answer the next ``times`` requests whose (unquoted) URL path matches with an error.

        Note the client retries 408/429/5xx (except 501) with 1 s+ sleeps on many calls.
        """
        with self._lock:
            fault = _Fault("status", times, path=path_regex, method=method and method.upper(), status=status)
            fault.code, fault.message = code, message
            self._faults.append(fault)

    def _check_status_fault(self, method: str, path: str) -> None:
        with self._lock:
            for fault in self._faults:
                if (
                    fault.kind == "status"
                    and fault.remaining > 0
                    and (fault.method is None or fault.method == method)
                    and re.search(fault.path, unquote(path))
                ):
                    fault.remaining -= 1
                    self.faults_triggered.append(f"{fault.status} {method} {path}")
                    raise HubError(fault.status, fault.message, code=fault.code)

    def _take_break_fault(self, repo_id: str, path: str) -> float | None:
        with self._lock:
            for fault in self._faults:
                if (
                    fault.kind == "break"
                    and fault.remaining > 0
                    and fault.path == path
                    and (fault.repo_id is None or fault.repo_id == repo_id)
                ):
                    fault.remaining -= 1
                    self.faults_triggered.append(f"break {repo_id}/{path}")
                    return fault.fraction
        return None

    # ------------------------------------------------------------------ direct (non-HTTP) access

    def create_repo(
        self, repo_id: str, *, repo_type: str = "model", private: bool = False, exist_ok: bool = False
    ) -> Repo:
        """Create a repo without going through HTTP (test seeding)."""
        with self._lock:
            key = (repo_type, repo_id)
            if key in self._repos:
                if exist_ok:
                    return self._repos[key]
                raise ValueError(f"{repo_type} repo {repo_id} already exists")
            repo = Repo(repo_type=repo_type, repo_id=repo_id, private=private, created_at=_now())
            files = (
                {".gitattributes": Blob.make(_GITATTRIBUTES, lfs=False)} if self.initial_gitattributes else {}
            )
            commit = self._new_commit(repo, None, files, "initial commit", "", "system")
            repo.branches["main"] = commit.oid
            self._repos[key] = repo
            return repo

    def add_commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes | str],
        *,
        repo_type: str = "model",
        branch: str = "main",
        message: str = "Seed files",
        lfs: Iterable[str] | None = None,
        delete: Iterable[str] = (),
    ) -> str:
        """Commit ``files`` directly (creating repo/branch as needed); returns the commit sha.

        ``lfs`` lists the paths stored as LFS; ``None`` applies ``lfs_threshold``/``lfs_patterns``.
        """
        with self._lock:
            repo = self.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
            head = repo.branches.get(branch) or repo.branches["main"]
            new_files = dict(repo.commits[head].files)
            lfs_paths = set(lfs) if lfs is not None else None
            for path, content in files.items():
                data = content.encode() if isinstance(content, str) else content
                is_lfs = self._is_lfs_candidate(path, len(data)) if lfs_paths is None else path in lfs_paths
                blob = Blob.make(data, lfs=is_lfs)
                if is_lfs:
                    self.lfs_objects[blob.sha256] = data
                new_files[path] = blob
            for path in delete:
                new_files.pop(path, None)
            commit = self._new_commit(repo, head, new_files, message, "", self.user)
            repo.branches[branch] = commit.oid
            return commit.oid

    def get_repo(self, repo_id: str, *, repo_type: str = "model") -> Repo:
        """The stored repo (raises KeyError if missing)."""
        with self._lock:
            return self._repos[(repo_type, repo_id)]

    def has_repo(self, repo_id: str, *, repo_type: str = "model") -> bool:
        with self._lock:
            return (repo_type, repo_id) in self._repos

    def files(self, repo_id: str, *, revision: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        """Contents of every file at ``revision``."""
        with self._lock:
            repo = self.get_repo(repo_id, repo_type=repo_type)
            return {p: b.data for p, b in repo.commits[repo.resolve(revision)].files.items()}

    def commit(self, repo_id: str, *, revision: str = "main", repo_type: str = "model") -> Commit:
        """The commit ``revision`` points to."""
        with self._lock:
            repo = self.get_repo(repo_id, repo_type=repo_type)
            return repo.commits[repo.resolve(revision)]

    # ------------------------------------------------------------------ internals

    def _is_lfs_candidate(self, path: str, size: int) -> bool:
        name = path.rsplit("/", 1)[-1]
        return size >= self.lfs_threshold or any(fnmatch.fnmatch(name, p) for p in self.lfs_patterns)

    def _new_commit(
        self, repo: Repo, parent: str | None, files: Mapping[str, Blob], title: str, message: str, author: str
    ) -> Commit:
        seed = f"{repo.repo_type}/{repo.repo_id}\0{parent}\0{next(self._counter)}\0{self._secret}\0{title}"
        oid = hashlib.sha1(seed.encode()).hexdigest()
        commit = Commit(oid, parent, dict(files), title, message, author, _now())
        repo.commits[oid] = commit
        return commit

    def _identify(self, authorization: str | None) -> _Identity | None:
        if authorization is None:
            return None
        scheme, _, token = authorization.partition(" ")
        identity = self._identities.get(token.strip()) if scheme.lower() == "bearer" else None
        if identity is None:
            # Same message as the Hub: the client then does not mistake it for a missing repo.
            raise HubError(401, "Invalid credentials in Authorization header")
        return identity

    def _error_response(self, exc: HubError) -> _Response:
        response = _json({"error": exc.message, **exc.extra}, exc.status)
        # Header values must be single-line latin-1: escape anything else.
        response.headers["X-Error-Message"] = (
            " ".join(exc.message.split()).encode("ascii", "backslashreplace").decode()
        )
        if exc.code is not None:
            response.headers["X-Error-Code"] = exc.code
        response.headers.update(exc.headers)
        return response

    def _readable(self, ctx: _Ctx, repo_type: str, repo_id: str) -> Repo:
        repo = self._repos.get((repo_type, repo_id))
        anonymous = ctx.identity is None
        if repo is None or (anonymous and (repo.private or not self.anonymous_read)):
            raise HubError(401 if anonymous else 404, "Repository not found", code="RepoNotFound")
        return repo

    def _writable(self, ctx: _Ctx, repo_type: str, repo_id: str) -> tuple[Repo, _Identity]:
        identity = self._require_writer(ctx)
        return self._readable(ctx, repo_type, repo_id), identity

    @staticmethod
    def _require_writer(ctx: _Ctx) -> _Identity:
        if ctx.identity is None:
            raise HubError(401, "You must be authenticated to perform this action")
        if not ctx.identity.can_write:
            raise HubError(403, "This token does not have write access")
        return ctx.identity

    def _repo_url(self, base: str, repo: Repo) -> str:
        return f"{base}/{_URL_PREFIX[repo.repo_type]}{repo.repo_id}"

    # ------------------------------------------------------------------ routing

    def _route(self, ctx: _Ctx) -> _Response:
        segments = ctx.path.strip("/").split("/")
        method = ctx.method
        with self._lock:
            if segments[0] == _INTERNAL:
                return self._lfs_transfer(ctx, segments[1:])
            if ctx.path.endswith(".git/info/lfs/objects/batch") and method == "POST":
                head = segments[: segments.index(next(s for s in segments if s.endswith(".git"))) + 1]
                repo_type = "model"
                if head[0] in _TYPE_FROM_PLURAL and len(head) == 3:
                    repo_type, head = _TYPE_FROM_PLURAL[head[0]], head[1:]
                repo_id = unquote("/".join(head))[: -len(".git")]
                return self._lfs_batch(ctx, repo_type, repo_id)
            if segments[0] == "api":
                return self._route_api(ctx, segments[1:])
            if "resolve" in segments and method in ("GET", "HEAD"):
                index = segments.index("resolve")
                head = segments[:index]
                repo_type = "model"
                if head and head[0] in _TYPE_FROM_PLURAL and len(head) == 3:
                    repo_type, head = _TYPE_FROM_PLURAL[head[0]], head[1:]
                if len(head) in (1, 2) and len(segments) > index + 2:
                    revision = unquote(segments[index + 1])
                    filename = unquote("/".join(segments[index + 2 :]))
                    return self._resolve(ctx, repo_type, unquote("/".join(head)), revision, filename)
        raise HubError(501, f"hubserver does not implement {method} {ctx.path}")

    def _route_api(self, ctx: _Ctx, segments: list[str]) -> _Response:
        method = ctx.method
        if segments == ["whoami-v2"] and method == "GET":
            return self._whoami(ctx)
        if segments == ["validate-yaml"] and method == "POST":
            return _json({"errors": [], "warnings": []})
        if segments == ["repos", "create"] and method == "POST":
            return self._create_repo(ctx)
        if segments == ["repos", "delete"] and method == "DELETE":
            return self._delete_repo(ctx)
        if not segments or segments[0] not in _TYPE_FROM_PLURAL:
            raise HubError(501, f"hubserver does not implement {method} /api/{'/'.join(segments)}")
        repo_type = _TYPE_FROM_PLURAL[segments[0]]
        if len(segments) == 1 and method == "GET":
            return self._list_repos(ctx, repo_type)
        if len(segments) < 3:
            raise HubError(404, "Repository not found", code="RepoNotFound")
        repo_id = unquote(f"{segments[1]}/{segments[2]}")
        action, args = (segments[3], [unquote(s) for s in segments[4:]]) if len(segments) > 3 else ("", [])
        if action == "" and method == "GET":
            return self._info(ctx, repo_type, repo_id, None)
        if action == "revision" and len(args) == 1 and method == "GET":
            return self._info(ctx, repo_type, repo_id, args[0])
        if action == "preupload" and len(args) == 1 and method == "POST":
            return self._preupload(ctx, repo_type, repo_id, args[0])
        if action == "commit" and len(args) == 1 and method == "POST":
            return self._commit(ctx, repo_type, repo_id, args[0])
        if action == "tree" and args and method == "GET":
            return self._tree(ctx, repo_type, repo_id, args[0], "/".join(args[1:]))
        if action == "paths-info" and len(args) == 1 and method == "POST":
            return self._paths_info(ctx, repo_type, repo_id, args[0])
        if action == "refs" and not args and method == "GET":
            return self._refs(ctx, repo_type, repo_id)
        if action == "commits" and len(args) == 1 and method == "GET":
            return self._commits(ctx, repo_type, repo_id, args[0])
        if action == "branch" and len(args) == 1 and method in ("POST", "DELETE"):
            return self._branch(ctx, repo_type, repo_id, args[0])
        if action == "tag" and len(args) == 1 and method in ("POST", "DELETE"):
            return self._tag(ctx, repo_type, repo_id, args[0])
        if action == "settings" and not args and method == "PUT":
            return self._settings(ctx, repo_type, repo_id)
        if action.startswith("xet-") and action.endswith("-token"):
            self._readable(ctx, repo_type, repo_id)
            raise HubError(
                501,
                "hubserver does not emulate Xet storage: keep HubServer(force_regular=True) while Xet is "
                "enabled, or set HF_HUB_DISABLE_XET=1 to use the LFS route",
            )
        raise HubError(501, f"hubserver does not implement {method} /api/{'/'.join(segments)}")

    # ------------------------------------------------------------------ account and repos

    def _whoami(self, ctx: _Ctx) -> _Response:
        if ctx.identity is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        name = ctx.identity.user
        role = "write" if ctx.identity.can_write else "read"
        return _json(
            {
                "type": "user",
                "id": hashlib.sha1(name.encode()).hexdigest()[:24],
                "name": name,
                "fullname": name,
                "email": f"{name}@example.invalid",
                "emailVerified": True,
                "isPro": False,
                "canPay": False,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "hubserver", "role": role}},
            }
        )

    def _create_repo(self, ctx: _Ctx) -> _Response:
        identity = self._require_writer(ctx)
        payload = ctx.json()
        name = payload.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[\w.\-]{1,96}", name):
            raise HubError(400, f"Invalid repo name: {name!r}")
        repo_type = payload.get("type") or "model"
        if repo_type not in _URL_PREFIX:
            raise HubError(400, f"Invalid repo type: {repo_type!r}")
        repo_id = f"{payload.get('organization') or identity.user}/{name}"
        private = payload.get("visibility", "private" if payload.get("private") else "public") != "public"
        url = f"{ctx.base}/{_URL_PREFIX[repo_type]}{repo_id}"
        if (repo_type, repo_id) in self._repos:
            raise HubError(409, f"You already created this {repo_type} repo", extra={"url": url})
        self.create_repo(repo_id, repo_type=repo_type, private=private)
        return _json({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self, ctx: _Ctx) -> _Response:
        identity = self._require_writer(ctx)
        payload = ctx.json()
        repo_id = f"{payload.get('organization') or identity.user}/{payload.get('name')}"
        repo_type = payload.get("type") or "model"
        self._readable(ctx, repo_type, repo_id)
        del self._repos[(repo_type, repo_id)]
        return _json({})

    def _settings(self, ctx: _Ctx, repo_type: str, repo_id: str) -> _Response:
        repo, _ = self._writable(ctx, repo_type, repo_id)
        payload = ctx.json()
        if "private" in payload and payload["private"] is not None:
            repo.private = bool(payload["private"])
        if payload.get("visibility") is not None:
            repo.private = payload["visibility"] != "public"
        return _json({})

    def _repo_summary(self, ctx: _Ctx, repo: Repo, oid: str, *, blobs: bool) -> dict[str, Any]:
        commit = repo.commits[oid]
        siblings = []
        for path, blob in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(size=blob.size, blobId=blob.git_oid)
                if blob.lfs:
                    sibling["lfs"] = {
                        "size": blob.size,
                        "sha256": blob.sha256,
                        "pointerSize": blob.pointer_size,
                    }
            siblings.append(sibling)
        info: dict[str, Any] = {
            "_id": hashlib.sha1(f"{repo.repo_type}/{repo.repo_id}".encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(b.size for b in commit.files.values()),
        }
        if repo.repo_type == "model":
            info["modelId"] = repo.repo_id
        if repo.repo_type == "space":
            info["sdk"] = "static"
        return info

    def _info(self, ctx: _Ctx, repo_type: str, repo_id: str, revision: str | None) -> _Response:
        repo = self._readable(ctx, repo_type, repo_id)
        oid = repo.resolve(revision or "main")
        return _json(self._repo_summary(ctx, repo, oid, blobs=ctx.flag("blobs")))

    def _list_repos(self, ctx: _Ctx, repo_type: str) -> _Response:
        search = (ctx.query.get("search") or [""])[0]
        author = (ctx.query.get("author") or [None])[0]
        limit = int((ctx.query.get("limit") or [0])[0] or 0)
        found = []
        for (kind, repo_id), repo in sorted(self._repos.items()):
            if kind != repo_type or (repo.private and ctx.identity is None):
                continue
            if search not in repo_id or (author is not None and repo_id.split("/")[0] != author):
                continue
            summary = self._repo_summary(ctx, repo, repo.branches["main"], blobs=False)
            if not ctx.flag("full"):
                summary.pop("siblings")
            found.append(summary)
        return _json(found[:limit] if limit else found)

    # ------------------------------------------------------------------ listings

    def _tree_entry(self, repo: Repo, oid: str, path: str, blob: Blob | None, expand: bool) -> dict[str, Any]:
        commit = repo.commits[oid]
        if blob is None:
            prefix = path + "/"
            children = sorted((p, b.git_oid) for p, b in commit.files.items() if p.startswith(prefix))
            entry: dict[str, Any] = {
                "type": "directory",
                "oid": hashlib.sha1(json.dumps(children).encode()).hexdigest(),
                "size": 0,
                "path": path,
            }
        else:
            entry = {"type": "file", "oid": blob.git_oid, "size": blob.size, "path": path}
            if blob.lfs:
                entry["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": blob.pointer_size}
        if expand:
            last = self._last_commit(repo, oid, path)
            entry["lastCommit"] = {"id": last.oid, "title": last.title, "date": last.date}
        return entry

    @staticmethod
    def _last_commit(repo: Repo, oid: str, path: str) -> Commit:
        def snapshot(commit: Commit) -> Any:
            prefix = path + "/"
            return sorted(
                (p, b.git_oid) for p, b in commit.files.items() if p == path or p.startswith(prefix)
            )

        history = list(repo.history(oid))
        for commit, parent in itertools.zip_longest(history, history[1:]):
            if parent is None or snapshot(commit) != snapshot(parent):
                return commit
        return history[-1]

    def _tree(self, ctx: _Ctx, repo_type: str, repo_id: str, revision: str, path: str) -> _Response:
        repo = self._readable(ctx, repo_type, repo_id)
        oid = repo.resolve(revision)
        files = repo.commits[oid].files
        path = path.strip("/")
        base = path + "/" if path else ""
        recursive, expand = ctx.flag("recursive"), ctx.flag("expand")
        if path and not any(p.startswith(base) for p in files):
            raise HubError(404, f"Directory not found: {path}", code="EntryNotFound")
        directories: set[str] = set()
        listed: list[tuple[str, Blob | None]] = []
        for file_path, blob in files.items():
            if not file_path.startswith(base):
                continue
            parts = file_path[len(base) :].split("/")
            depth = len(parts) if recursive else 1
            directories.update(base + "/".join(parts[:i]) for i in range(1, min(depth, len(parts) - 1) + 1))
            if recursive or len(parts) == 1:
                listed.append((file_path, blob))
        listed += [(d, None) for d in directories]
        listed.sort(key=lambda item: (item[1] is not None, item[0]))  # directories first, like the Hub
        start = int((ctx.query.get("cursor") or ["0"])[0])
        end = len(listed) if self.tree_page_size is None else start + self.tree_page_size
        response = _json([self._tree_entry(repo, oid, p, b, expand) for p, b in listed[start:end]])
        if end < len(listed):
            query = urlencode(
                {"recursive": str(recursive).lower(), "expand": str(expand).lower(), "cursor": end}
            )
            response.headers["Link"] = (
                f'<{ctx.base}{ctx.path}?{query}>; rel="next"'  # ctx.path is still quoted
            )
        return response

    def _paths_info(self, ctx: _Ctx, repo_type: str, repo_id: str, revision: str) -> _Response:
        repo = self._readable(ctx, repo_type, repo_id)
        oid = repo.resolve(revision)
        files = repo.commits[oid].files
        form = parse_qs(ctx.body.decode(), keep_blank_values=True)
        if ctx.headers.get("Content-Type", "").startswith("application/json"):
            form = {k: v if isinstance(v, list) else [str(v)] for k, v in ctx.json().items()}
        expand = any(v.lower() == "true" for v in form.get("expand", []))
        entries = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in files:
                entries.append(self._tree_entry(repo, oid, path, files[path], expand))
            elif any(p.startswith(path + "/") for p in files):
                entries.append(self._tree_entry(repo, oid, path, None, expand))
        return _json(entries)

    def _refs(self, ctx: _Ctx, repo_type: str, repo_id: str) -> _Response:
        repo = self._readable(ctx, repo_type, repo_id)
        payload: dict[str, Any] = {
            "branches": [
                {"name": n, "ref": f"refs/heads/{n}", "targetCommit": o}
                for n, o in sorted(repo.branches.items())
            ],
            "tags": [
                {"name": n, "ref": f"refs/tags/{n}", "targetCommit": o} for n, o in sorted(repo.tags.items())
            ],
            "converts": [],
        }
        if ctx.flag("include_prs"):
            payload["pullRequests"] = [
                {"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": o}
                for n, o in sorted(repo.pull_requests.items())
            ]
        return _json(payload)

    def _commits(self, ctx: _Ctx, repo_type: str, repo_id: str, revision: str) -> _Response:
        repo = self._readable(ctx, repo_type, repo_id)
        return _json(
            [
                {
                    "id": c.oid,
                    "title": c.title,
                    "message": c.message,
                    "date": c.date,
                    "authors": [{"user": c.author, "avatar": ""}],
                }
                for c in repo.history(repo.resolve(revision))
            ]
        )

    def _branch(self, ctx: _Ctx, repo_type: str, repo_id: str, branch: str) -> _Response:
        repo, _ = self._writable(ctx, repo_type, repo_id)
        if ctx.method == "DELETE":
            if branch == "main":
                raise HubError(403, "Cannot delete the main branch")
            if repo.branches.pop(branch, None) is None:
                raise HubError(404, f"Branch not found: {branch}", code="RevisionNotFound")
            return _json({})
        if branch in repo.branches:
            raise HubError(409, f"Reference already exists: refs/heads/{branch}")
        starting_point = ctx.json().get("startingPoint") or "main"
        repo.branches[branch] = repo.resolve(starting_point)
        return _json({})

    def _tag(self, ctx: _Ctx, repo_type: str, repo_id: str, revision_or_tag: str) -> _Response:
        repo, _ = self._writable(ctx, repo_type, repo_id)
        if ctx.method == "DELETE":
            if repo.tags.pop(revision_or_tag, None) is None:
                raise HubError(404, f"Tag not found: {revision_or_tag}", code="RevisionNotFound")
            return _json({})
        tag = ctx.json().get("tag")
        if not tag:
            raise HubError(400, "Missing tag name")
        if tag in repo.tags:
            raise HubError(409, f"Reference already exists: refs/tags/{tag}")
        repo.tags[tag] = repo.resolve(revision_or_tag)
        return _json({})

    # ------------------------------------------------------------------ uploads

    def _target_head(self, repo: Repo, revision: str) -> str:
        """Head of a writable ref (branch or PR ref); tags and raw shas cannot be committed to."""
        match = re.fullmatch(r"refs/pr/(\d+)", revision)
        if match and int(match.group(1)) in repo.pull_requests:
            return repo.pull_requests[int(match.group(1))]
        name = revision.removeprefix("refs/heads/")
        if name not in repo.branches:
            raise HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        return repo.branches[name]

    def _preupload(self, ctx: _Ctx, repo_type: str, repo_id: str, revision: str) -> _Response:
        repo, _ = self._writable(ctx, repo_type, repo_id)
        files = repo.commits[self._target_head(repo, revision)].files
        payload = ctx.json()
        ignore_rules = [
            line.strip()
            for line in (payload.get("gitIgnore") or "").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        answers = []
        for item in payload.get("files", []):
            path, size = item["path"], int(item.get("size", 0))
            mode = "regular" if self.force_regular or not self._is_lfs_candidate(path, size) else "lfs"
            name = path.rsplit("/", 1)[-1]
            ignored = any(fnmatch.fnmatch(path, r) or fnmatch.fnmatch(name, r) for r in ignore_rules)
            existing = files.get(path)
            answers.append(
                {
                    "path": path,
                    "uploadMode": mode,
                    "shouldIgnore": ignored,
                    "oid": existing.oid if existing is not None else None,
                }
            )
        return _json({"files": answers, "commitOid": self._target_head(repo, revision)})

    def _commit(self, ctx: _Ctx, repo_type: str, repo_id: str, revision: str) -> _Response:
        repo, identity = self._writable(ctx, repo_type, repo_id)
        try:
            lines = [json.loads(line) for line in ctx.body.splitlines() if line.strip()]
        except ValueError as exc:
            raise HubError(400, f"Invalid NDJSON commit payload: {exc}") from exc
        header = next((line["value"] for line in lines if line.get("key") == "header"), None)
        if header is None:
            raise HubError(400, "Commit payload has no header line")
        head = self._target_head(repo, revision)
        parent = header.get("parentCommit")
        if parent is not None and parent != head:
            raise HubError(412, f"A commit has happened since. Parent {parent} is not the head {head}.")
        files = dict(repo.commits[head].files)
        for line in lines:
            key, value = line.get("key"), line.get("value") or {}
            if key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubError(400, f"Unsupported encoding {value.get('encoding')!r}")
                files[value["path"]] = Blob.make(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                data = self.lfs_objects.get(value.get("oid", ""))
                if data is None:
                    raise HubError(
                        400, f"LFS object {value.get('oid')} for {value.get('path')} was never uploaded"
                    )
                files[value["path"]] = Blob.make(data, lfs=True)
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, "A file with this name doesn't exist", code="EntryNotFound")
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                doomed = [p for p in files if p.startswith(prefix)]
                if not doomed:
                    raise HubError(404, "A folder with this name doesn't exist", code="EntryNotFound")
                for p in doomed:
                    del files[p]
            elif key != "header":
                raise HubError(400, f"Unknown commit operation {key!r}")
        commit = self._new_commit(
            repo, head, files, header.get("summary") or "", header.get("description") or "", identity.user
        )
        pr_url = None
        if ctx.flag("create_pr"):
            number = max(repo.pull_requests, default=0) + 1
            repo.pull_requests[number] = commit.oid
            pr_url = f"{self._repo_url(ctx.base, repo)}/discussions/{number}"
        elif re.fullmatch(r"refs/pr/\d+", revision):
            repo.pull_requests[int(revision.rsplit("/", 1)[1])] = commit.oid
        else:
            repo.branches[revision.removeprefix("refs/heads/")] = commit.oid
        return _json(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self._repo_url(ctx.base, repo)}/commit/{commit.oid}",
                "hookOutput": "",
                "pullRequestUrl": pr_url,
            }
        )

    def _sign(self, oid: str) -> str:
        return hashlib.sha256(f"{self._secret}:{oid}".encode()).hexdigest()[:32]

    def _lfs_batch(self, ctx: _Ctx, repo_type: str, repo_id: str) -> _Response:
        payload = ctx.json()
        if payload.get("operation") == "upload":
            self._writable(ctx, repo_type, repo_id)
        else:
            self._readable(ctx, repo_type, repo_id)
        objects = []
        for item in payload.get("objects", []):
            oid, size = item.get("oid", ""), int(item.get("size", 0))
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not re.fullmatch(r"[0-9a-f]{64}", oid):
                entry["error"] = {"code": 422, "message": f"Invalid oid {oid!r}"}
            elif oid not in self.lfs_objects:
                # Presigned-style URL: the client PUTs without credentials, like an S3 upload.
                query = urlencode({"size": size, "sig": self._sign(oid)})
                entry["actions"] = {
                    "upload": {
                        "href": f"{ctx.base}/{_INTERNAL}/lfs/upload/{oid}?{query}",
                        "expires_in": 3600,
                    },
                    "verify": {"href": f"{ctx.base}/{_INTERNAL}/lfs/verify", "header": {}},
                }
            objects.append(entry)
        return _json(
            {"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
            content_type="application/vnd.git-lfs+json",
        )

    def _lfs_transfer(self, ctx: _Ctx, segments: list[str]) -> _Response:
        if segments[:2] == ["lfs", "upload"] and len(segments) == 3 and ctx.method == "PUT":
            oid = segments[2]
            if (ctx.query.get("sig") or [""])[0] != self._sign(oid):
                raise HubError(403, "Bad upload signature")
            if hashlib.sha256(ctx.body).hexdigest() != oid:
                raise HubError(400, "Uploaded content does not match its sha256 oid")
            self._lfs_pending[oid] = ctx.body
            return _Response(
                headers={"ETag": f'"{hashlib.md5(ctx.body).hexdigest()}"'}, content_type="text/plain"
            )
        if segments == ["lfs", "verify"] and ctx.method == "POST":
            self._require_writer(ctx)
            payload = ctx.json()
            oid = payload.get("oid", "")
            data = self._lfs_pending.get(oid, self.lfs_objects.get(oid))
            if data is None or len(data) != payload.get("size"):
                raise HubError(404, f"LFS object {oid} not found or wrong size")
            self.lfs_objects[oid] = self._lfs_pending.pop(oid, data)
            return _json({})
        raise HubError(501, f"hubserver does not implement {ctx.method} {ctx.path}")

    # ------------------------------------------------------------------ downloads

    def _resolve(self, ctx: _Ctx, repo_type: str, repo_id: str, revision: str, filename: str) -> _Response:
        repo = self._readable(ctx, repo_type, repo_id)
        oid = repo.resolve(revision)
        blob = repo.commits[oid].files.get(filename)
        if blob is None:
            exc = HubError(404, "Entry not found", code="EntryNotFound")
            exc.headers["X-Repo-Commit"] = oid
            raise exc
        headers = {"X-Repo-Commit": oid, "ETag": f'"{blob.git_oid}"', "Accept-Ranges": "bytes"}
        if blob.lfs:
            headers.update({"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(blob.size)})
        body, status = blob.data, 200
        range_header = ctx.headers.get("Range") or ctx.headers.get("range")
        match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", range_header or "")
        if match and (match.group(1) or match.group(2)):
            first, last = match.groups()
            if first:
                start, end = int(first), min(int(last) if last else blob.size - 1, blob.size - 1)
            else:
                start, end = max(blob.size - int(last), 0), blob.size - 1
            if start >= blob.size or start > end:
                exc = HubError(416, "Requested range not satisfiable")
                exc.headers["Content-Range"] = f"bytes */{blob.size}"
                raise exc
            body, status = blob.data[start : end + 1], 206
            headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
        response = _Response(
            status=status, body=body, headers=headers, content_type="application/octet-stream"
        )
        if ctx.method == "GET":
            fraction = self._take_break_fault(repo_id, filename)
            if fraction is not None:
                response.cut_after = int(len(body) * fraction)
        return response
