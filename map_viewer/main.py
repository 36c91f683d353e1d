"""ASGI entry point: `uvicorn map_viewer.main:app`."""

from .app import create_app

app = create_app()
