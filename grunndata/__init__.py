"""grunndata: publish a Norwegian municipality's base data as open data and OGC services."""

__version__ = "0.1.0"
