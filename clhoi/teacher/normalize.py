"""Normalising the words a teacher writes: verb lemmas, singular objects, COCO names.

Pure functions over strings; imports only ``lemminflect`` and ``clhoi.vocab``.
A normalised verb or object is lower case ASCII: words of ``[a-z0-9'-]``
joined by single spaces (see :func:`clean_words`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from lemminflect import getLemma

from clhoi import vocab
from clhoi.structures import InteractionPair

_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")

DETERMINERS = frozenset(
    "a an the this that these those his her their its my your our some any each every one two three four "
    "five several many few another other both either".split()
)
AUXILIARIES = frozenset(
    "is are was were be been being am 's 're do does did has have had can could will would may might must "
    "shall should seems seem appears appear to about going trying also currently just still not".split()
)
HUMAN_WORDS = frozenset(
    "person persons people human humans man men woman women boy boys girl girls child children kid kids "
    "player players guy guys lady ladies gentleman someone somebody he she they individual individuals "
    "adult adults baby babies toddler teenager teen athlete rider skier surfer skateboarder snowboarder "
    "batter pitcher catcher chef cook worker crowd group couple family friend friends mother father "
    "subject human being".split()
)
PARTICLES = frozenset(
    "on at with in into onto off up down under over from to near behind across through along around by "
    "beside inside out".split()
)

# Verb phrases kept with their particle; others lose it ("ride on" -> "ride").
_PHRASAL_EXTRA = (
    "look at play with talk to pose with lean on lean against sit in lie in lay on lay in stand in "
    "stand next hang on hang from hold up hold onto reach for wait for care for point at stare at "
    "climb on climb up jump over jump off get on get off put on pick from throw at work on listen to "
    "walk on walk in walk with walk down walk across run with run on run down play on talk with"
)


@lru_cache(maxsize=1)
def phrasal_verbs() -> frozenset[str]:
    """Verb + particle phrases kept as one verb (HICO-DET's, V-COCO's and common ones)."""
    out = {v.replace("_", " ") for v in vocab.hicodet().verbs if "_" in v and v != "no_interaction"}
    words = _PHRASAL_EXTRA.split()
    out.update(f"{a} {b}" for a, b in zip(words[::2], words[1::2]))
    return frozenset(out)


@lru_cache(maxsize=1)
def action_verbs() -> frozenset[str]:
    """Verb lemmas the rule-based parser accepts as actions (HICO-DET, V-COCO and common ones)."""
    out = {v.split("_")[0] for v in vocab.hicodet().verbs if v != "no_interaction"}
    out.update(a.name.split("_")[0] for a in vocab.vcoco_actions())
    out.update(
        "play use wear look sit stand lie lay talk brush climb dance pose lean hang reach wait stare "
        "surf skateboard snowboard ski skate swim bike cycle juggle bat pitch serve feed pet walk run "
        "drink work type text kneel crouch bend hug kiss shake wash cut slice chop bake fish paddle row "
        "kayak sled hike bowl golf swing tackle dive balance ride lift push pull carry hold throw catch "
        "kick hit eat read smile laugh sing photograph film watch film operate sweep mop vacuum iron "
        "sew knit draw write paint".split()
    )
    return frozenset(out)


def fold(text: str) -> str:
    """Lower case ASCII form of ``text`` (accents removed, other symbols dropped)."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()


def clean_words(text: str) -> list[str]:
    """The words of ``text``: lower case ASCII, punctuation and symbols dropped."""
    return _WORD.findall(fold(text).replace("_", " ").replace("’", "'"))


def warm_up() -> None:
    """Load lemminflect's tables now (about 2 s, once per process), before worker threads would race to."""
    verb_lemma("riding")
    noun_singular("cups")


@lru_cache(maxsize=65536)
def verb_lemma(word: str) -> str:
    """Lemma of one (lower case) verb form: ``riding`` -> ``ride``."""
    lemmas = getLemma(word, upos="VERB")
    return lemmas[0].lower() if lemmas else word


@lru_cache(maxsize=65536)
def noun_singular(word: str) -> str:
    """Singular of one (lower case) noun: ``knives`` -> ``knife``; COCO's plurals stay."""
    if word in _KEEP_PLURAL:
        return word
    lemmas = getLemma(word, upos="NOUN")
    out = lemmas[0].lower() if lemmas else word
    return out if _WORD.fullmatch(out) else word


_KEEP_PLURAL = frozenset("skis scissors glasses sunglasses pants jeans shorts clothes people".split())


def normalise_verb(text: str) -> str:
    """A teacher's verb phrase as a lemma, with its particle where it is part of the verb.

    ``"Is riding"`` -> ``"ride"``, ``"sitting on"`` -> ``"sit on"``, ``"*Swing"`` -> ``"swing"``.
    Auxiliaries, determiners and human words in front are dropped. Returns
    ``""`` when nothing verb-like is left.
    """
    words = [w for w in clean_words(text) if w not in AUXILIARIES and w not in HUMAN_WORDS]
    words = [w for w in words if w not in DETERMINERS and not w.isdigit()]
    if not words:
        return ""
    actions = action_verbs()
    head = 0
    for i, w in enumerate(words):  # the first word that is a known action, else the first word
        if verb_lemma(w) in actions:
            head = i
            break
    verb = verb_lemma(words[head])
    if head + 1 < len(words) and words[head + 1] in PARTICLES:
        phrase = f"{verb} {words[head + 1]}"
        if phrase in phrasal_verbs():
            return phrase
    return verb


def normalise_object(text: str) -> str:
    """A teacher's object phrase, singular, without determiners: ``"Two Baseball Bats."`` -> ``"baseball bat"``."""
    words = clean_words(text)
    while words and (words[0] in DETERMINERS or words[0].isdigit()):
        words = words[1:]
    if not words:
        return ""
    # the head noun is the last word before "of" ("cups of coffee" -> "cup of coffee")
    cut = words.index("of") if "of" in words[1:] else len(words)
    if cut > 0:
        words[cut - 1] = noun_singular(words[cut - 1])
    return " ".join(words)


# human words that, as objects, are usually something else ("pour, pitcher") or no thing at all
_NOT_PERSON_OBJECTS = frozenset("he she they someone somebody pitcher batter cook subject being".split())

# A teacher's name for a thing -> the COCO category it is (COCO names map to themselves).
COCO_SYNONYMS: dict[str, str] = {
    **{w: "person" for w in HUMAN_WORDS - _NOT_PERSON_OBJECTS},
    "bike": "bicycle", "cycle": "bicycle", "mountain bike": "bicycle", "motorbike": "motorcycle",
    "scooter": "motorcycle", "moped": "motorcycle", "dirt bike": "motorcycle", "plane": "airplane",
    "aeroplane": "airplane", "jet": "airplane", "aircraft": "airplane", "jetliner": "airplane",
    "airliner": "airplane", "taxi": "car", "cab": "car", "automobile": "car", "suv": "car", "van": "car",
    "pickup": "truck", "lorry": "truck", "locomotive": "train", "tram": "train", "canoe": "boat",
    "kayak": "boat", "ship": "boat", "sailboat": "boat", "yacht": "boat", "raft": "boat", "hydrant": "fire hydrant",
    "meter": "parking meter", "puppy": "dog", "kitten": "cat", "pony": "horse", "lamb": "sheep",
    "calf": "cow", "cattle": "cow", "bull": "cow", "ox": "cow", "teddy": "teddy bear", "stuffed animal": "teddy bear",
    "bag": "handbag", "purse": "handbag", "hand bag": "handbag", "rucksack": "backpack", "necktie": "tie",
    "bow tie": "tie", "luggage": "suitcase", "ski": "skis", "snow board": "snowboard", "ball": "sports ball",
    "football": "sports ball", "soccer ball": "sports ball", "baseball": "sports ball", "tennis ball": "sports ball",
    "basketball": "sports ball", "volleyball": "sports ball", "softball": "sports ball", "rugby ball": "sports ball",
    "bat": "baseball bat", "glove": "baseball glove", "mitt": "baseball glove", "skate board": "skateboard",
    "surf board": "surfboard", "racket": "tennis racket", "racquet": "tennis racket",
    "tennis racquet": "tennis racket", "glass": "wine glass", "mug": "cup", "teacup": "cup", "hotdog": "hot dog",
    "doughnut": "donut", "cupcake": "cake",
    "sofa": "couch", "armchair": "chair", "stool": "chair", "seat": "chair", "plant": "potted plant",
    "flower pot": "potted plant", "table": "dining table", "desk": "dining table", "television": "tv",
    "tv set": "tv", "monitor": "tv", "screen": "tv", "computer": "laptop", "notebook": "laptop",
    "laptop computer": "laptop", "computer mouse": "mouse", "remote control": "remote", "controller": "remote",
    "game controller": "remote", "wii remote": "remote", "phone": "cell phone", "cellphone": "cell phone",
    "mobile phone": "cell phone", "smartphone": "cell phone", "mobile": "cell phone", "telephone": "cell phone",
    "fridge": "refrigerator", "magazine": "book", "novel": "book", "hair dryer": "hair drier",
    "hairdryer": "hair drier", "blow dryer": "hair drier", "dryer": "hair drier", "tooth brush": "toothbrush",
    "burger": "sandwich", "hamburger": "sandwich",
}


@lru_cache(maxsize=65536)
def to_coco(name: str) -> str | None:
    """The COCO-80 category a normalised object name is, or ``None``.

    Tries the whole name, then shorter endings ("red bicycle" -> "bicycle"),
    then the part after "of" ("slice of pizza" -> "pizza"), each also through
    :data:`COCO_SYNONYMS`.
    """
    words = name.split()
    if not words:
        return None
    parts = [words]
    if "of" in words[1:-1]:
        i = words.index("of")
        parts = [words[:i], words[i + 1 :]]
    for part in parts:
        for start in range(len(part)):
            key = " ".join(part[start:])
            if key in _COCO_SET:
                return key
            if key in COCO_SYNONYMS:
                return COCO_SYNONYMS[key]
            singular = " ".join(part[start:-1] + [noun_singular(part[-1])])
            if singular in _COCO_SET:
                return singular
            if singular in COCO_SYNONYMS:
                return COCO_SYNONYMS[singular]
    return None


_COCO_SET = frozenset(vocab.COCO_CLASSES)
_NOT_VERBS = frozenset(
    "here there interaction interactions object objects triplet triplets none no nothing n a na human "
    "person verb action sentence answer image picture photo list".split()
)
_PRONOUNS = frozenset("it them him her something nothing anything itself themselves".split())
_NOT_OBJECTS = frozenset(["none", "no", "nothing", "n a", "na", "object", "objects", "no object", "null", "unknown"])
MAX_PAIRS = 32
"""At most this many pairs are kept per text (degenerate, repeating answers)."""


def make_pair(verb: str, obj: str) -> InteractionPair | None:
    """A normalised pair from a teacher's verb and object texts; ``None`` when the verb is empty or not a verb."""
    v = normalise_verb(verb)
    if not v or v in _NOT_VERBS or v.split()[0] in _NOT_VERBS:
        return None
    o = normalise_object(obj)
    if o in _PRONOUNS or o in _NOT_OBJECTS:
        o = ""
    return InteractionPair(verb=v, object=o, coco=to_coco(o) if o else None)


def make_pairs(raw: list[tuple[str, str]]) -> list[InteractionPair]:
    """Normalised, de-duplicated pairs (first-seen order, at most :data:`MAX_PAIRS`)."""
    seen: set[tuple[str, str]] = set()
    out: list[InteractionPair] = []
    for verb, obj in raw:
        pair = make_pair(verb, obj)
        if pair is None or (pair.verb, pair.object) in seen:
            continue
        seen.add((pair.verb, pair.object))
        out.append(pair)
        if len(out) == MAX_PAIRS:
            break
    return out
