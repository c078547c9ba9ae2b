"""Near-duplicates: the seed article reposted with other page noise and small edits."""
from __future__ import annotations

import json

from .fakes import HASH
from .conftest import SAMPLE, SEED, run_cli

HASH_ENV = {"KB_MODEL": HASH}


def repost(tmp_path):
    body = SEED.read_text(encoding="utf-8")
    body = body.replace("跨境头条8个月前更新 gwoky\n985 0 0", "发布时间:2023年9月13日\n阅读 1.2万")
    body = body.replace("文章来源:跨境电商头条", "来源:出海日报")
    body = body.replace("千呼万唤出来,", "千呼万唤始出来,").replace("我们让时间来揭晓答案。", "让我们拭目以待。")
    body = body.replace("TKFFF公众号\n\n扫码关注领【TK运营地图】", "点击上方蓝字关注我们\n\n长按识别二维码")
    f = tmp_path / "repost.txt"
    f.write_text(body, encoding="utf-8")
    return f


def test_repost_is_a_near_duplicate_linked_and_cited_once(tmp_path):
    kb = str(tmp_path / "kb")
    assert run_cli("-m", "ingest", "--kb", kb, str(SEED), str(SAMPLE / "en"), env_extra=HASH_ENV).returncode == 0
    r = run_cli("-m", "ingest", "--kb", kb, str(repost(tmp_path)), env_extra=HASH_ENV)
    assert r.returncode == 0 and "near-duplicate 1" in r.stdout
    assert "near-duplicate of" in r.stderr and "tiktok-shop-us-launch" in r.stderr
    arts = json.loads(run_cli("-m", "kb", "--kb", kb, "list", "--json", env_extra=HASH_ENV).stdout)
    rep = next(a for a in arts if a["path"].endswith("repost.txt"))
    seed = next(a for a in arts if a["path"].endswith("tiktok-shop-us-launch.zh.txt"))
    assert rep["duplicate_of"] == seed["id"] and rep["source"] == "出海日报" and rep["date"] == "2023-09-13"
    assert all(a["duplicate_of"] is None for a in arts if a["id"] != rep["id"])  # different articles stay apart
    hits = json.loads(run_cli("-m", "kb", "--kb", kb, "search", "--json", "-k", "10", "全托管模式 低价竞争",
                              env_extra=HASH_ENV).stdout)["hits"]
    assert len({h["article_id"] for h in hits if h["title"].startswith("20万卖家")}) == 1
    # Re-ingesting the exact same files is a no-op.
    r = run_cli("-m", "ingest", "--kb", kb, str(SEED), str(tmp_path / "repost.txt"), env_extra=HASH_ENV)
    assert "added 0, updated 0, unchanged 2" in r.stdout
