"""The process's local models: loaded on first use, once, in a worker thread; inference runs
in the same single-thread executor, so it never blocks the event loop or takes both cores."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from lockgate.ml.embedder import Embedder
    from lockgate.ml.injection import InjectionClassifier

T = TypeVar("T")


class ModelHub:
    def __init__(self) -> None:
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock: asyncio.Lock | None = None
        self._embedder: Embedder | None = None
        self._classifier: InjectionClassifier | None = None

    @property
    def loaded(self) -> bool:
        return self._embedder is not None

    async def run(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, "lockgate-ml")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def embedder(self) -> Embedder:
        if self._embedder is None:
            await self._load()
        assert self._embedder is not None
        return self._embedder

    async def classifier(self) -> InjectionClassifier:
        if self._classifier is None:
            await self._load()
        assert self._classifier is not None
        return self._classifier

    async def _load(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._embedder is None:
                self._embedder, self._classifier = await self.run(load_models)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def load_models() -> tuple[Embedder, InjectionClassifier]:
    from lockgate.ml.assets import load_assets
    from lockgate.ml.embedder import Embedder
    from lockgate.ml.injection import InjectionClassifier

    assets = load_assets()
    embedder = Embedder(assets)
    return embedder, InjectionClassifier(assets, embedder)
