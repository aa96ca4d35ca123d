"""Hostile JSON for the fuzz suite: any value, with the text evidence can carry and ``st.text()`` never draws.

``st.text()`` draws only what UTF-8 can encode, so never a lone surrogate, which JSON allows (``"\\ud800"``)
and Python reads as such; and it rarely draws the characters that attack a terminal or a parser (NUL,
escape sequences, byte-order marks, bidirectional overrides, line separators) or text near the
documented limits. :data:`TEXT` draws them all.
"""

from __future__ import annotations

from hypothesis import strategies as st

# The largest CloudTrail record kept is 1 MiB (evidence.reader.Limits): long text stays below it, as JSON
# (a lone surrogate is six bytes written as its escape).
LONG_TEXT_AT_MOST = 150_000

SPECIAL_CHARACTERS = [
    "\ud800", "\udbff", "\udc00", "\udfff", "\ud83d",  # lone surrogates, high and low
    "\x00", "\x07", "\x08", "\x1b", "\x7f", "\x85", "\x9b",  # NUL, bell, backspace, ESC, DEL, C1 (NEL, CSI)
    "\r", "\n", "\t", "\v", "\f", "\u2028", "\u2029",  # line breaks, JSON's and Unicode's
    "\ufeff", "\ufffe", "\uffff", "\ufffd",  # byte-order marks, non-characters, the replacement character
    "\u202e", "\u202d", "\u2066", "\u2067", "\u2069", "\u200e", "\u200f", "\u200b", "\u00ad",  # bidi, invisible
    "\U0001f600", "\U0001d11e", "\U000e0041", "\U0010ffff",  # beyond the BMP: emoji, music, tags, the last
]
CHARACTERS = st.one_of(
    st.characters(codec=None),  # any code point, surrogates included
    st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp", "Co", "Cn"]),
    st.characters(min_codepoint=0x10000),
    st.sampled_from(SPECIAL_CHARACTERS),
)
HOSTILE_STRINGS = [
    "\x1b]0;pwned\x07", "\x1b[2J\x1b[H", "\x1b]52;c;cHduZWQ=\x07", "ok\rforged line", "a\nflowforensics: forged",
    "\u202egnp.exe", "admin\u2066\u2069", "\ufeff{\"Records\": []}", "\ud800\udc00", "\udc00\ud800", "x\x00y",
    "=cmd|' /C calc'!A0", "@SUM(1+1)", "2263-01-01T00:00:00Z", "1e13", "-0", "NaN", "[" * 50, "${aws:username}",
    "*a" * 12 + "b", "arn:aws:iam::381492650217:role/flow-logs-role", "AccessDenied", "",
]
LONG_TEXT = st.builds(lambda piece, length: (piece * length)[:length], st.text(CHARACTERS, min_size=1, max_size=3),
                      st.sampled_from([4_096, 65_537, LONG_TEXT_AT_MOST]))
TEXT = st.one_of(st.text(CHARACTERS, max_size=30), st.sampled_from(HOSTILE_STRINGS), LONG_TEXT)
KEYS = st.one_of(st.text(CHARACTERS, max_size=12), st.sampled_from(SPECIAL_CHARACTERS))

# Any JSON value: hostile numbers and strings included.
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), TEXT,
)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
                    max_leaves=12)
