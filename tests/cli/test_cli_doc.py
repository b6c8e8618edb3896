"""docs/cli.md lists every command and option of the command tree, as the tree says them."""

from __future__ import annotations

from wormsign.cli import doc


def test_cli_doc_is_current() -> None:
    text = doc.DOC.read_text(encoding="utf-8")
    assert doc.BEGIN in text and doc.END in text
    assert doc.current(text) == text, "docs/cli.md is out of date: run python -m wormsign.cli.doc"


def test_cli_doc_names_every_command_and_option() -> None:
    text = doc.DOC.read_text(encoding="utf-8")
    paths = []
    for path, cmd in doc.commands():
        paths.append(path)
        assert f"### `{path}`" in text
        section = text.split(f"### `{path}`", 1)[1].split("\n### ", 1)[0]
        for p in cmd.params:
            if p.param_type_name == "option":
                for opt in [*p.opts, *p.secondary_opts]:
                    assert opt in section, (path, opt)
            else:
                assert (p.name or "").upper() in section, (path, p.name)
    assert {"wormsign ingest", "wormsign stats", "wormsign hunt", "wormsign intel import"} <= set(paths)
    hunt = text.split("### `wormsign hunt`", 1)[1].split("\n### ", 1)[0]
    assert "--from" in hunt and "--to" in hunt and "--json" in hunt
    assert "--json" in text.split("### `wormsign stats`", 1)[1].split("\n### ", 1)[0]
    assert "--version" in text.split("### `wormsign`", 1)[1].split("\n### ", 1)[0]
