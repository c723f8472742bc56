"""The errors devicefit raises on purpose: each names the problem and the fix."""

from __future__ import annotations


class DevicefitError(Exception):
    """A failure the user can act on; the CLI prints it as one line.

    Args:
        problem: What went wrong, naming the input or path involved.
        fix: What the user can do about it.
        exit_code: 2 for bad usage or input, 1 for a runtime failure.
    """

    def __init__(self, problem: str, *, fix: str = "", exit_code: int = 1) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.problem}. {self.fix}" if self.fix else self.problem


class UsageError(DevicefitError):
    """Bad input on the command line or in a file the user named (exit code 2)."""

    def __init__(self, problem: str, *, fix: str = "") -> None:
        super().__init__(problem, fix=fix, exit_code=2)


class StoreError(DevicefitError):
    """The results database cannot be opened, read or written (exit code 1)."""
