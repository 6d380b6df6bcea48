"""The catalogs: every launch language has every message of the code, none fuzzy, each with
its source's placeholders (`python manage.py check_translations` prints the same list)."""

from __future__ import annotations

from pathlib import Path

from accounts import catalogs


def test_every_launch_language_has_every_message():
    problems = catalogs.check_catalogs()

    assert not problems, "Run `make messages`, translate, and run it again:\n" + catalogs.report(problems)


def test_every_launch_language_but_english_has_a_catalog():
    assert catalogs.languages() == ["es", "pt-br", "hi", "id", "ja", "zh-hans", "ar"]
    assert all(catalogs.catalog_path(code).exists() for code in catalogs.languages())


_PO = '''msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Language: es\\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"

msgid "Done."
msgstr "Hecho."

msgid "Empty."
msgstr ""

#, fuzzy
msgid "Guessed."
msgstr "Adivinado."

msgid "Hello %(name)s."
msgstr "Hola %(nombre)s."

msgid "{count} posts."
msgstr "{count} publicaciones."

msgid "%(count)d like"
msgid_plural "%(count)d likes"
msgstr[0] "un me gusta"
msgstr[1] "%(count)d me gusta"

msgid "%(count)d view"
msgid_plural "%(count)d views"
msgstr[0] "%(count)d vista"
msgstr[1] ""
'''


def test_the_check_names_each_missing_fuzzy_and_placeholder_mismatched_message(tmp_path, monkeypatch):
    monkeypatch.setattr(catalogs, "CATALOG_DIR", Path(tmp_path))
    path = catalogs.catalog_path("es")
    path.parent.mkdir(parents=True)
    path.write_text(_PO, encoding="utf-8")
    sources = {key: key for key in ["Done.", "Empty.", "Guessed.", "Hello %(name)s.", "{count} posts.",
                                    "%(count)d like", "%(count)d view", "Not in the catalog."]}

    problems = catalogs.check_language("es", sources)

    assert problems.missing == ["%(count)d view", "Empty.", "Not in the catalog."]
    assert problems.fuzzy == ["Guessed."]
    assert [item.split("  ->  ")[0] for item in problems.placeholders] == ["Hello %(name)s."]
    assert catalogs.report({"es": problems}).splitlines()[0] == "es: missing: '%(count)d view'"


def test_placeholders_are_named_positional_and_brace_ones():
    assert catalogs.placeholders("%(count)d of %(total)s, {name} and 100%% %s") == ["%s", "count", "name", "total"]
