"""The HTTP API of oospath: a thin layer over ``engine.services``."""

from api.app import create_app

__all__ = ["create_app"]
