"""The web app: pygeoapi, MapServer WMS, pages and search composed in one FastAPI application."""
