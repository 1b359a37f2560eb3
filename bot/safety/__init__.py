"""Community safety: content ratings, word filters on input and output, untrusted text."""

from bot.safety.filters import Blocked, FilterLists, Matcher, StreamFilter
from bot.safety.ratings import RATINGS, Rating

__all__ = ["RATINGS", "Blocked", "FilterLists", "Matcher", "Rating", "StreamFilter"]
