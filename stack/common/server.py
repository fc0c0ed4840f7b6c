"""Run a service's FastAPI app with uvicorn on the configured address."""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI

from stack.common.settings import Settings

__all__ = ["serve"]


def serve(app: FastAPI, settings: Settings) -> None:
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {settings.service} %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
    )
