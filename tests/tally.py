"""Count how many of a property test's examples were real checks.

A Hypothesis test that returns early on a draw it cannot use (an infeasible budget, a layer no
tiling fits) passes even when nearly every draw returns early. Run the property as an inner
function, call :meth:`Tally.vacuous` before each early return and :meth:`Tally.checked` after
each full check, then :meth:`Tally.assert_mostly_checked` once all examples ran::

    def test_x():
        tally = Tally()

        @given(...)
        def check(...):
            if cannot_use:
                return tally.vacuous()
            ...
            tally.checked()

        check()
        tally.assert_mostly_checked()
"""

from __future__ import annotations


class Tally:
    def __init__(self) -> None:
        self.n_checked = 0
        self.n_vacuous = 0

    def checked(self) -> None:
        self.n_checked += 1

    def vacuous(self) -> None:
        self.n_vacuous += 1

    def assert_mostly_checked(self, share: float = 0.5) -> None:
        """At least ``share`` of the examples were real checks (and at least one)."""
        total = self.n_checked + self.n_vacuous
        assert self.n_checked > 0 and self.n_checked >= share * total, (
            f"only {self.n_checked} of {total} examples were real checks "
            f"({self.n_vacuous} returned early)"
        )
