"""The README's promises: its settings table is the one in kb/config.py, its commands exist."""
from kb import config

from .conftest import ROOT


def test_readme_settings_table_is_generated_from_config():
    assert config.markdown_table() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_run_and_test_commands_that_the_makefile_and_ci_have():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
    makefile = (ROOT / "Makefile").read_text()
    assert "\nrun:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
