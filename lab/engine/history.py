"""Undo and redo of the experiment, for every change a person makes.

A change that kept the run (a learning rate typed or dragged, a schedule, a
probe setting) is undone by going back to the config before it; one that
replaced the run (a rebuild, Reset, opening a run, a preset) by bringing back
the run it replaced — config, weights, optimiser, metrics and path — or, when
nothing had been trained yet, its config. Undoing puts the state it leaves on
the redo stack; any new change clears that stack.

Consecutive changes of the same fields merge into one step, so a slider
dragged across twenty values is one Undo. Runs hold weights and curves: at
most ``RUNS_KEPT`` of them stay in the history, the oldest steps go first.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.core.config import ExperimentConfig
from lab.engine.runs import Run

DEPTH = 50  # steps kept in each direction
RUNS_KEPT = 6  # runs (weights and curves) kept across both stacks


@dataclass(frozen=True)
class Step:
    """One undoable step: ``words`` say what it was; going back means the
    ``config`` (the run was kept) or the ``run`` (it was replaced)."""

    words: str
    config: ExperimentConfig | None = None
    run: Run | None = None
    fields: tuple[str, ...] = ()  # the fields a kept-run change touched (for merging)

    @property
    def brings_back(self) -> str:
        """What going back restores, in words ("spirals-mlp after 300 steps")."""
        run = self.run
        if run is None or run.checkpoint is None:
            return ""
        return f"{run.config.name} after {int(run.checkpoint['step']):,} steps"


class History:
    def __init__(self) -> None:
        self.undo: list[Step] = []
        self.redo: list[Step] = []

    def drag_start(self, fields: tuple[str, ...]) -> ExperimentConfig | None:
        """The config before a run of changes of just these ``fields`` (a
        slider dragged), if the last step is one: the next such change
        merges into it."""
        top = self.undo[-1] if self.undo else None
        if top is not None and top.run is None and fields and top.fields == fields:
            return top.config
        return None

    def record(self, step: Step) -> None:
        """A new change: it can be undone, and nothing can be redone. A
        change of the same fields as the last step replaces it (its
        ``config`` is then ``drag_start``'s)."""
        if step.run is None and self.drag_start(step.fields) is not None:
            self.undo[-1] = step
        else:
            self.undo.append(step)
        self.redo.clear()
        self._bound()

    def went_back(self, step: Step, inverse: Step) -> None:
        """``step`` was undone; ``inverse`` redoes it."""
        self.redo.append(inverse)
        self._bound()

    def went_forward(self, inverse: Step) -> None:
        """A step was redone; ``inverse`` undoes it again."""
        self.undo.append(inverse)
        self._bound()

    def _bound(self) -> None:
        for stack in (self.undo, self.redo):
            del stack[:-DEPTH]
        while sum(s.run is not None for s in (*self.undo, *self.redo)) > RUNS_KEPT:
            stack = self.undo if any(s.run for s in self.undo) else self.redo
            index = next(i for i, s in enumerate(stack) if s.run is not None)
            del stack[: index + 1]  # the oldest run, and the steps before it

    def words(self) -> tuple[str, str]:
        """What Undo and Redo would do now ("" where nothing)."""
        return (
            self.undo[-1].words if self.undo else "",
            self.redo[-1].words if self.redo else "",
        )
