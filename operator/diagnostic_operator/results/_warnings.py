"""A capped collector of warning messages (a bad file must not produce millions of them)."""

from __future__ import annotations


class Warnings:
    """Collects ``"<file> at <where>: <problem>"`` messages, keeping at most ``limit``."""

    def __init__(self, limit: int = 200) -> None:
        self.limit = limit
        self.messages: list[str] = []
        self.suppressed = 0

    def add(self, file: str, where: str, problem: str) -> None:
        if len(self.messages) >= self.limit:
            self.suppressed += 1
            return
        location = f" at {where}" if where else ""
        self.messages.append(f"{file}{location}: {problem}")

    def extend(self, messages: list[str]) -> None:
        for message in messages:
            if len(self.messages) >= self.limit:
                self.suppressed += 1
            else:
                self.messages.append(message)

    def result(self) -> list[str]:
        if self.suppressed:
            return [*self.messages, f"... and {self.suppressed} more warnings"]
        return list(self.messages)
