"""Prompts of the synthetic sample, as the team's generator stored them.

Word lists and the drawing of whole prompt columns at once (numpy picks fragment
indices, Python only joins them); ``image_name`` is the file name a prompt gets.
"""

from __future__ import annotations

import functools

import numpy as np

NAME_MAX_CHARS = 150  # the generator cut file names here

# Word lists for prompts. No "/" anywhere: prompts become file names.
# fmt: off
LEADINS = (
    "", "a painting, sketch or pencil drawing of ", "a photo of ", "an illustration of ",
    "a close-up of ", "a detailed drawing of ", "a 3d render of ", "a poster of ",
    "a watercolor of ",
)
LEADIN_P = (0.62, 0.05, 0.08, 0.07, 0.04, 0.04, 0.04, 0.03, 0.03)
SUBJECTS = (
    "Beautiful sunset over the ocean", "a cat made of a large amount of red ink",
    "Creative urban style in the south side of france", "portrait of an old fisherman",
    "a cozy cabin in a snowy forest", "a futuristic city at night",
    "a fox sleeping under a cherry tree", "an astronaut riding a horse on the moon",
    "a bowl of ramen on a wooden table", "the ruins of an ancient temple in the jungle",
    "a lighthouse during a storm", "a steampunk airship above the clouds",
    "a young woman reading in a café", "a dragon perched on a cliff",
    "a vintage car on route 66", "a field of sunflowers under a blue sky",
    "a robot tending a vegetable garden", "a medieval market square",
    "a koi pond with lotus flowers", "an owl with golden eyes",
    "a busy street in Tokyo in the rain", "a mountain lake at dawn",
    "a bouquet of wild flowers in a glass jar", "a knight in shining armor",
    "a cup of coffee with latte art", "an abandoned amusement park",
    "a whale swimming through the clouds", "a tiny house on a floating island",
    "a samurai standing in a bamboo forest", "children playing in the autumn leaves",
    "a wolf howling at the full moon", "a plate of fresh croissants",
    "the northern lights over a frozen lake", "a sailboat on a calm sea",
    "an old library full of books", "a hummingbird drinking from a flower",
    "a cyberpunk street vendor", "a castle on a hill at sunset", "a pair of red sneakers",
    "a glass of red wine on a marble table", 'a shop sign that says "open"',
    "the word 'hope' written in the clouds", "a smiling grandmother baking bread",
    "a desert oasis with palm trees", "a bear fishing in a river",
    "a jellyfish glowing in the dark ocean", "a snowy village at christmas",
    "a modern kitchen interior", "a retro diner at night",
    "a waterfall in a tropical rainforest", "a chess board with glass pieces",
    "a Viking ship in a fjord", "a penguin wearing a knitted scarf",
    "a hot air balloon festival", "the skyline of New York at dusk",
    "a rainy window with city lights", "a mushroom house in an enchanted forest",
    "a portrait of a girl with freckles", "a bicycle leaning against a brick wall",
    "a fantasy map of an unknown continent", "a bouquet of roses — black and white",
    "a crêpe stand in Paris", "an empty train station at midnight",
    "a herd of horses running on the beach", "a bonsai tree on a windowsill",
    "abstract shapes and vivid colors", "a golden retriever puppy in the grass",
    "a lonely tree on a hill", "an underwater city", "a girl with a red umbrella in the rain",
    "a fisherman's hut by the lake", "a still life with lemons and a jug",
)
STYLES = (
    "oil painting", "watercolor", "digital art", "concept art", "matte painting",
    "35mm photograph", "pencil sketch", "ukiyo-e", "low poly", "isometric 3d render",
    "Art Nouveau poster", "pixel art", "studio ghibli style", "impressionism", "vaporwave",
    "film noir", "polaroid photo", "charcoal drawing", "stained glass", "anime key visual",
    "baroque painting", "flat vector illustration", "cinematic still", "claymation",
    "papercut art", "naïve art",
)
ARTISTS = (
    "by greg rutkowski", "by Alphonse Mucha", "by Claude Monet", "by Hokusai",
    "by Simon Stålenhag", "by Gustave Doré", "by Ivan Aivazovsky", "by Makoto Shinkai",
    "by Zdzisław Beksiński", "by Thomas Kinkade", "by Vincent van Gogh", "by James Gurney",
    "by Artgerm", "by Wes Anderson", "by Moebius", "by Albert Bierstadt",
    "by Ilya Kuvshinov", "by Caspar David Friedrich", "by René Magritte",
    "by Hayao Miyazaki",
)
MODIFIERS = (
    "trending on artstation", "8k", "4k", "highly detailed", "unreal engine",
    "octane render", "sharp focus", "cinematic lighting", "volumetric light", "hdr",
    "award winning", "masterpiece", "intricate", "bokeh", "studio lighting", "golden hour",
    "ultra realistic", "photorealistic", "dramatic lighting", "soft light",
    "depth of field", "artstation hq", "4k wallpaper", "high resolution", "vivid colors",
    "smooth", "elegant", "epic composition", "wide angle", "symmetrical", "hyperrealism",
    "rule of thirds", "moody", "pastel colors", "dslr", "ray tracing",
)
SEPARATORS = (", ", " ", ". ", ",, ", "  ", " — ", "; ")
SEPARATOR_P = (0.80, 0.07, 0.04, 0.02, 0.04, 0.01, 0.02)
ENDINGS = ("", ".", "..", "...", "…", "!", " .")
ENDING_P = (0.55, 0.30, 0.05, 0.03, 0.02, 0.02, 0.03)
ARTIST_COUNT_P = (0.55, 0.33, 0.12)
MODIFIER_COUNT_P = (0.12, 0.14, 0.16, 0.15, 0.13, 0.11, 0.09, 0.06, 0.04)
LINE_BREAK_SHARE = 0.004
AFTER_LINE_BREAK = (
    "negative: blurry, lowres, bad anatomy", "ugly, tiling, poorly drawn hands, extra limbs",
    "asdfgh", "((worst quality)), (low quality), watermark", "no text, no signature",
    "### seed 1234 steps 50", "", "deformed, disfigured",
)
# fmt: on


@functools.cache
def _vocabulary() -> tuple[np.ndarray, dict[str, int]]:
    """Every prompt fragment with spaces already turned into "_", and each list's offset.

    Index 0 is the empty fragment, used for parts a prompt leaves out.
    """
    groups = {
        "prefix": tuple(f"{value}_" for value in range(100)),
        "leadin": LEADINS,
        "subject": SUBJECTS,
        "style": STYLES,
        "artist": ARTISTS,
        "modifier": MODIFIERS,
        "separator": SEPARATORS,
        "ending": ENDINGS,
        "tail": tuple("\n" + text for text in AFTER_LINE_BREAK),
    }
    fragments, offsets = [""], {}
    for group, words in groups.items():
        offsets[group] = len(fragments)
        fragments.extend(word.replace(" ", "_") for word in words)
    return np.asarray(fragments, dtype=object), offsets


def _optional_part(
    rng: np.random.Generator, present: np.ndarray, group: str, size: int
) -> list[np.ndarray]:
    """Separator and word columns for one optional prompt part (0 where absent)."""
    _, offsets = _vocabulary()
    n = len(present)
    separator = offsets["separator"] + rng.choice(len(SEPARATORS), n, p=SEPARATOR_P)
    word = offsets[group] + rng.integers(0, size, n)
    return [np.where(present, separator, 0), np.where(present, word, 0)]


def build_prompts(rng: np.random.Generator, prefixes: np.ndarray) -> list[str]:
    """One prompt per prefix, exactly as stored in img_generation_promt (``6_a_cat..``).

    Each prompt is a row of fragment indices; numpy draws all of them at once and
    Python only joins the fragments.
    """
    fragments, offsets = _vocabulary()
    n = len(prefixes)
    columns = [
        offsets["prefix"] + np.asarray(prefixes),
        offsets["leadin"] + rng.choice(len(LEADINS), n, p=LEADIN_P),
        offsets["subject"] + rng.integers(0, len(SUBJECTS), n),
        *_optional_part(rng, rng.random(n) < 0.7, "style", len(STYLES)),
    ]
    artists = rng.choice(len(ARTIST_COUNT_P), n, p=ARTIST_COUNT_P)
    for k in range(len(ARTIST_COUNT_P) - 1):
        columns += _optional_part(rng, artists > k, "artist", len(ARTISTS))
    modifiers = rng.choice(len(MODIFIER_COUNT_P), n, p=MODIFIER_COUNT_P)
    for k in range(len(MODIFIER_COUNT_P) - 1):
        columns += _optional_part(rng, modifiers > k, "modifier", len(MODIFIERS))
    columns.append(offsets["ending"] + rng.choice(len(ENDINGS), n, p=ENDING_P))
    tail = offsets["tail"] + rng.integers(0, len(AFTER_LINE_BREAK), n)
    columns.append(np.where(rng.random(n) < LINE_BREAK_SHARE, tail, 0))
    return ["".join(parts) for parts in fragments[np.column_stack(columns)].tolist()]


def image_name(prompt: str) -> str:
    """File name the generator gave a prompt: first line, cut to 150 chars, plus .jpg."""
    return prompt.split("\n", 1)[0][:NAME_MAX_CHARS] + ".jpg"
