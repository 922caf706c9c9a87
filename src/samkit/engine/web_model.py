"""The annotator server follows the project's adopted model without a restart.

`samkit engine retrain` adopts a new round by writing a row to the store; every API request asks
the store which round is adopted (one indexed SQLite read, well under a millisecond) and, when it
differs from the round being served, loads that round's checkpoint and swaps it into the annotator
app (serve's `app.state.swap_model`: new embedding service, server decoder and ONNX decoder export).
The page notices through /api/engine/session's `model_round` and reloads its decoder and embedding.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from torch import nn

from samkit.engine.project import EngineProject

log = logging.getLogger(__name__)


class ModelWatcher:
    def __init__(self, project: EngineProject, served_round: int) -> None:
        self.project = project
        self.served_round = served_round
        self.swap: Callable[[nn.Module], None] | None = None  # set once the annotator app exists
        self.error: str | None = None  # why the newest round could not be loaded (the old one stays)
        self._lock = threading.Lock()
        self._failed_round: int | None = None

    def adopted_round(self) -> int:
        row = self.project.store.current_model()
        return row.round if row is not None else 0

    def check(self) -> int:
        """Swap in the adopted model if it changed; returns the round served afterwards."""
        wanted = self.adopted_round()
        if wanted == self.served_round or wanted == self._failed_round or self.swap is None:
            return self.served_round
        with self._lock:  # one load at a time; requests arriving meanwhile wait and then see it
            if wanted != self.served_round:
                try:
                    model = self.project.load_model()
                    self.swap(model)
                except Exception as e:  # a broken checkpoint must not take the annotator down
                    self._failed_round = wanted
                    self.error = f"round {wanted}'s model could not be loaded ({type(e).__name__}: {e}); " \
                                 f"still serving round {self.served_round}"
                    log.error(self.error)
                    return self.served_round
                log.info("serving the model of round %d (was %d)", wanted, self.served_round)
                self.served_round, self.error = wanted, None
        return self.served_round
