"""Makes the OCR fixtures beside this file (run from the repository root: python tests/data/ocr/make_fixtures.py).

The text is written for this project. The pages are set in Noto Sans CJK (Debian's
fonts-noto-cjk, SIL Open Font License) by tests/docgen.py::page_image, as a scanner or a phone
camera gives them: turned slightly, with specks on the photo."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent))

from tests.docgen import page_image, scanned_pdf_bytes  # noqa: E402

PAGES = [
    ["波士顿糖蜜洪水",
     "1919年1月15日中午，波士顿北端商业街上一座储存糖蜜的大罐突然破裂。约870万升糖蜜涌上街道，浪头最高约7.6米，"
     "冲毁了高架铁路的支柱和附近的房屋。",
     "这场事故造成21人死亡、约150人受伤。救援人员在齐腰深的糖蜜中搜寻了四天，港口的海水在几个月里都是褐色的。"],
    ["事后的调查与诉讼",
     "法院委派的审计员听取了三千多页证词，认定储罐在建成前从未做过注水试验，钢板也比设计所需的更薄。"
     "储罐的主人美国工业酒精公司最终支付了约62.8万美元的赔偿。",
     "这起事故促使马萨诸塞州修改了建筑法规，要求结构计算必须由注册工程师签字并存档。"],
]
PHOTO = ["Reading a scanned page",
         "A phone photo of a printed page is rarely straight: the page is turned a little, the light is uneven "
         "and the sensor adds specks. The recognizer still has to find every line, including a short last line.",
         "研究者常常用手机拍下图书馆里的资料，再把照片放进自己的资料库里检索和引用。"]


def main() -> None:
    pages = [page_image(p, rotate=r, seed=i)[0] for i, (p, r) in enumerate(zip(PAGES, (0.6, -0.4)))]
    (HERE / "scan-molasses.pdf").write_bytes(scanned_pdf_bytes(pages))
    photo, _ = page_image(PHOTO, size=34, rotate=1.2, noise=0.004, seed=7)
    photo.convert("RGB").save(HERE / "page-photo.jpg", quality=60)


if __name__ == "__main__":
    main()
