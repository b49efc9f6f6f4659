"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pushgate.api.auth import GatewayDep
from pushgate.api.errors import error_response, error_responses
from pushgate.metrics import OUTBOX_DEPTH

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process is up and serving (restart it when this fails)."""
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503))
async def readyz(gw: GatewayDep) -> Any:
    """Readiness: the store takes writes, the outbox drains, a credential is usable (503 with
    the failing checks otherwise: send traffic elsewhere meanwhile)."""
    checks = await gw.readiness.checks()
    listed = [{"check": c.name, "ok": c.ok, "message": c.message} for c in checks]
    failing = [c for c in checks if not c.ok]
    if failing:
        return error_response(
            503,
            "not_ready",
            "Not ready: " + "; ".join(c.message for c in failing) + ".",
            details=[{"field": c.name, "message": c.message} for c in failing],
        )
    return JSONResponse({"status": "ready", "checks": listed})


@router.get("/metrics", include_in_schema=False)
async def metrics(gw: GatewayDep) -> Response:
    """Prometheus text format: this process's metrics, then the sending side's."""
    depth, _ = await gw.backend.outbox.backlog()
    OUTBOX_DEPTH.set(depth)
    body = generate_latest() + gw.dispatcher.metrics_text()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
