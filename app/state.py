"""What every request handler may reach: one object, made by the app factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:
    from app.admission import Admission
    from app.config import Settings
    from app.metrics import Metrics
    from app.pool import Pool
    from app.spawn import Spawner


@dataclass
class AppState:
    settings: Settings
    pool: Pool
    admission: Admission
    metrics: Metrics
    spawner: Spawner
    extra: dict[str, object] = field(default_factory=dict)


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.crunch
    return state
