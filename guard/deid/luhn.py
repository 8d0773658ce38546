"""The Luhn checksum of payment card numbers, in one place: the CREDIT_CARD recognizer
validates with it, the surrogate operator makes fake cards that pass it.

    >>> luhn_valid("4111 1111 1111 1111")
    True
    >>> luhn_check_digit("411111111111111")
    '1'
"""

from __future__ import annotations


def _luhn_sum(digits: list[int], *, doubled_first: bool) -> int:
    """Sum over `digits` read from the right, every other digit doubled (digits of
    the product summed); the rightmost is doubled when `doubled_first`."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        if (i % 2 == 0) == doubled_first:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total


def luhn_check_digit(payload: str) -> str:
    """The digit to append to `payload` (digits only) so the whole passes Luhn."""
    total = _luhn_sum([int(c) for c in payload], doubled_first=True)
    return str((10 - total % 10) % 10)


def luhn_valid(value: str) -> bool:
    """True when the digits of `value` (separators ignored) pass the Luhn check."""
    digits = [int(c) for c in value if c.isdigit()]
    return bool(digits) and _luhn_sum(digits, doubled_first=False) % 10 == 0


__all__ = ["luhn_check_digit", "luhn_valid"]
