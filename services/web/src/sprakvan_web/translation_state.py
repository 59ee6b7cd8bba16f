"""How far each locale's catalogue has come: ``python -m sprakvan_web.translation_state``.

Counts like Translate Toolkit's ``pocount`` (fuzzy entries count as untranslated; ``pybabel compile
--statistics`` counts them as done). Vocabulary labels keyed by code are counted apart.
"""

from __future__ import annotations

from .adapters.i18n import VOCABULARY_DOMAIN, read_catalogue
from .domain.locales import LOCALES


def _done(message) -> bool:  # noqa: ANN001 - a babel Message
    if message.fuzzy:
        return False
    return any(message.string) if isinstance(message.string, tuple) else bool(message.string)


def _words(message) -> int:  # noqa: ANN001
    return len((message.id[0] if isinstance(message.id, tuple) else message.id).split())


def main() -> None:
    for locale in LOCALES:
        catalogue = read_catalogue(locale.catalogue)
        messages = [m for m in catalogue if m.id and not m.context]
        done = [m for m in messages if _done(m)]
        labels = sum(1 for m in read_catalogue(locale.catalogue, VOCABULARY_DOMAIN) if m.id and _done(m))
        print(
            f"{locale.code:6} {locale.state.value:9} {len(done):4}/{len(messages)} messages "
            f"{sum(map(_words, done)):5}/{sum(map(_words, messages))} words  {labels} vocabulary labels"
        )


if __name__ == "__main__":
    main()
