"""The Attention and Samples views' input, and telling the engine which of
them is on screen: it computes their pictures only for those, from one
input sequence (a test example, or text typed in either view)."""

from __future__ import annotations

from PySide6.QtCore import QObject

from app.session import Session
from app.tabs import TOKEN_VIEWS, ViewTabs
from lab.core import protocol as p
from widgets.attention_view import AttentionView
from widgets.samples_view import SamplesView


class TokenWatch(QObject):
    def __init__(self, session: Session, tabs: ViewTabs) -> None:
        super().__init__()
        self.session, self.tabs = session, tabs
        self.token_input = ("", 0)  # text, example
        self.sent: p.WatchTokens | None = None
        tabs.currentChanged.connect(lambda _index: self.send())
        tabs.viewCreated.connect(self._wire)
        session.built.connect(lambda _event: self.send())
        session.ready.connect(self._engine_ready)

    def _wire(self, view: object) -> None:
        if isinstance(view, AttentionView | SamplesView):
            view.input.set_input(*self.token_input)
            view.inputChanged.connect(self.set_input)

    def _engine_ready(self, _event: p.Ready) -> None:
        self.sent = None  # a fresh engine watches nothing yet

    def set_input(self, text: str, example: int) -> None:
        """The Attention and Samples views share one input sequence."""
        self.token_input = (text, example)
        for name in TOKEN_VIEWS:
            view = self.tabs.views.get(name)
            if isinstance(view, AttentionView | SamplesView):
                view.input.set_input(text, example)
        self.send(force=True)

    def send(self, force: bool = False) -> None:
        tokens = self.session.config.model.kind == "transformer"
        current = self.tabs.current_name()
        text, example = self.token_input
        watch = p.WatchTokens(
            attention=tokens and current == "attention_view",
            samples=tokens and current == "samples_view",
            text=text,
            example=example,
        )
        if force or watch != self.sent:
            self.sent = watch
            self.session.send(watch)
