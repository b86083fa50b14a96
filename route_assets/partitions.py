"""Partition keys `<campaign>/<ad_set>`: the one owner of their syntax.

Every other module builds and parses keys through `AdSetKey`; nothing else splits on "/".
Keys are untrusted (they come from briefs, the CLI and the UI), so parsing is strict: each part
must match `[a-z0-9][a-z0-9-]{0,62}`, which also rules out the characters that break Dagster's
partition UI (`,` `|` `[` `]` `...` `*`) and anything that could escape a storage prefix (`..`).
"""

import re
from dataclasses import dataclass

PART_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
SEPARATOR = "/"
PARTITIONS_NAME = "ad_sets"  # the Dagster dynamic partitions set (assets/common.py defines it)


class InvalidKeyError(ValueError):
    """A campaign or ad-set id, or a partition key, outside the allowed syntax."""


def check_part(value: str, *, what: str) -> str:
    """Return `value` if it is a valid id part, else raise with the rule and a fix."""
    if not isinstance(value, str) or not PART_PATTERN.fullmatch(value):
        raise InvalidKeyError(
            f"invalid {what} {value!r}: use 1-63 characters of lowercase letters, digits and '-', "
            "starting with a letter or digit (for example 'summer-launch')"
        )
    return value


@dataclass(frozen=True, order=True)
class AdSetKey:
    campaign: str
    ad_set: str

    def __post_init__(self) -> None:
        check_part(self.campaign, what="campaign id")
        check_part(self.ad_set, what="ad-set id")

    @classmethod
    def parse(cls, key: str) -> "AdSetKey":
        parts = key.split(SEPARATOR) if isinstance(key, str) else []
        if len(parts) != 2:
            raise InvalidKeyError(
                f"invalid partition key {key!r}: expected '<campaign>/<ad_set>', "
                "for example 'summer-launch/us-hero'"
            )
        return cls(parts[0], parts[1])

    def __str__(self) -> str:
        return f"{self.campaign}{SEPARATOR}{self.ad_set}"
