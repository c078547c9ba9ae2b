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
