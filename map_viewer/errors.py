"""Store errors on the app's own routes: a store that is down is 503 (clients and proxies retry), a value the
store refuses is 400; both with a message, never a bare 500 with a traceback."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from grunndata.errors import InvalidQuery, StoreUnavailable


def _answer(request: Request, status: int, message: str) -> Response:
    headers = {"Retry-After": "10", "Cache-Control": "no-store"} if status == 503 else {}
    if request.url.path.startswith("/api/") or "json" in request.headers.get("accept", ""):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    return PlainTextResponse(message, status_code=status, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: StoreUnavailable) -> Response:
        return _answer(request, 503, "Datalageret er ikkje tilgjengeleg no; prøv igjen om litt. "
                                     "(The data store is unavailable; try again shortly.)")

    @app.exception_handler(InvalidQuery)
    async def invalid(request: Request, exc: InvalidQuery) -> Response:
        return _answer(request, 400, exc.message)
