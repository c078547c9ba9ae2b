"""Collections: cited spans a researcher keeps for later, each with a note.

An item names its article by id and span, with the permalink it was saved under
(``kb.cite.passage_json``), and keeps a copy of the title and the quote. So it outlives
re-ingesting an unchanged article and ``kb rebuild``; when the article changed or was removed
since, the item says so (``status``: ok / changed / missing) instead of vanishing. Stored in the
KB's SQLite file (``Store.save_to_collection``). Exported like search results (``kb.cite``).
"""
from __future__ import annotations

import re

from .cite import Reference, passage_json
from .errors import CollectionNotFound, ItemNotFound, KBError
from .results import paragraph_at

_NAME = re.compile(r"^[^\x00-\x1f\x7f/\\]{1,80}$")
MAX_NOTE = 4000


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise KBError(f"collection name '{name[:80]}' must be 1-80 characters, without '/' or control characters")
    return name


def save(kb, name: str, permalink: str, note: str = "", quote: str | None = None) -> dict:
    """Keep the span ``permalink`` names in collection ``name`` (made when new), quoting
    ``quote`` (a sentence of the span, e.g. a hit's highlight) or the whole span. Saving the
    same span again replaces its note."""
    name = check_name(name)
    if len(note or "") > MAX_NOTE:
        raise KBError(f"note: {len(note)} characters, over the {MAX_NOTE} a note may have")
    d = passage_json(kb, permalink)
    if d["changed"]:
        raise KBError(f"{permalink}: the article has changed since this link was made; save the current passage "
                      f"({d['permalink']}) instead")
    if not (quote or "").strip():  # keep the quote of a span saved before, else the whole span
        quote = next((i["quote"] for i in kb.store.collection_items(name)
                      if (i["article_id"], i["start"], i["end"]) == (d["article"]["id"], d["start"], d["end"])), d["text"])
    quote = quote.strip()
    if quote not in d["text"]:
        raise KBError("quote: not part of the passage the permalink names")
    item_id = kb.store.save_to_collection(name, d["article"]["id"], d["start"], d["end"], d["permalink"],
                                          d["article"]["title"], quote, (note or "").strip())
    it = next(i for i in kb.store.collection_items(name) if i["id"] == item_id)
    return it | {"status": "ok", "current": d}  # (just resolved: no need to read every item again)


def listing(kb) -> list[dict]:
    return [{"name": n, "items": c, "created_at": at} for n, c, at in kb.store.collections()]


def items(kb, name: str) -> list[dict]:
    """The collection's items, oldest first, each with ``status`` — ok, changed (the article's
    text there is not what was saved: ``current`` is the nearest passage now) or missing (the
    article was removed) — and the article's current metadata when it exists."""
    if not kb.store.has_collection(name):
        raise CollectionNotFound(f"No collection named '{name}'", cli_hint="`python -m kb collection list` shows them")
    out = []
    for it in kb.store.collection_items(name):
        try:
            d = passage_json(kb, it["permalink"])
        except KBError:
            d = None
        it["status"] = "missing" if d is None else ("changed" if d["changed"] else "ok")
        it["current"] = d
        out.append(it)
    return out


def references(kb, name: str, its: list[dict] | None = None) -> list[Reference]:
    """The items as citations (a missing article's from the copies kept with the item); ``its``:
    the collection's ``items`` when the caller has just read them."""
    refs = []
    for it in its if its is not None else items(kb, name):
        d = it["current"]
        if d is not None:
            ref = Reference.from_passage(d)
            ref.quote = it["quote"] if it["status"] == "ok" else d["text"]
            if it["status"] == "ok" and it["quote"] != d["text"]:  # cite where the quoted sentence is
                at = d["text"].find(it["quote"])
                ref.paragraph = _paragraph(d, at)
            ref.permalink = d["permalink"]
        else:
            ref = Reference(it["article_id"], it["title"], None, None, None, None, None, "", it["quote"], None, None,
                            it["permalink"])
        ref.note = it["note"]
        refs.append(ref)
    return refs


def _paragraph(d: dict, offset: int) -> int | None:
    if d.get("paragraph") is None or offset < 0:
        return d.get("paragraph")
    return paragraph_at(d["text"], d["paragraph"], offset)


def rename(kb, name: str, new: str) -> None:
    """Rename a collection; ``new`` must not name another one (KBError: items would mix)."""
    name, new = check_name(name), check_name(new)
    if not kb.store.has_collection(name):
        raise CollectionNotFound(f"No collection named '{name}'", cli_hint="`python -m kb collection list` shows them")
    if new == name:
        return
    if kb.store.has_collection(new):
        raise KBError(f"new name: a collection named '{new}' exists already; choose another name (or move the items one by one)")
    kb.store.rename_collection(name, new)


def update(kb, name: str, item_id: int, note: str | None = None, to: str | None = None) -> dict:
    """Change a kept item's note and/or move it to collection ``to`` (made when new); returns
    the item as stored. Moving onto a collection that keeps the same span already is refused."""
    name = check_name(name)
    it = kb.store.saved_item(name, int(item_id))
    if it is None:
        raise ItemNotFound(f"No item {item_id} in collection '{name}'")
    if note is not None:
        note = note.strip()
        if len(note) > MAX_NOTE:
            raise KBError(f"note: {len(note)} characters, over the {MAX_NOTE} a note may have")
    if to is not None:
        to = check_name(to)
        if to != name and any((o["article_id"], o["start"], o["end"]) == (it["article_id"], it["start"], it["end"])
                              for o in kb.store.collection_items(to)):
            raise KBError(f"collection: '{to}' keeps this passage already (item of “{it['title']}”); remove one of the two")
    kb.store.update_saved(name, int(item_id), note, to)
    return kb.store.saved_item(to or name, int(item_id))


def remove(kb, name: str, item_id: int) -> int:
    """Take an item out of its collection, into the trash (``restore`` undoes it until the trash
    is emptied); returns its id in the trash."""
    got = kb.store.remove_saved(check_name(name), int(item_id))
    if got is None:
        raise ItemNotFound(f"No item {item_id} in collection '{name}'")
    return got


def delete(kb, name: str) -> list[int]:
    """Delete a collection; its items go to the trash (``restore`` each to undo). Returns their
    trash ids."""
    got = kb.store.delete_collection(check_name(name))
    if got is None:
        raise CollectionNotFound(f"No collection named '{name}'")
    return got


def restore(kb, trash_id: int) -> dict:
    """Put a removed item back where it was (its collection made again if deleted since); the
    item as stored."""
    name, item_id = kb.store.restore_saved(int(trash_id))
    return kb.store.saved_item(name, item_id)


def removed(kb) -> list[dict]:
    """The items in the trash, last removed first (``restore`` takes their ``id``)."""
    return kb.store.trashed_saved()
