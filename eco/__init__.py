"""Eco's Python client and `eco` command line. Django-free: it talks only to the REST API."""

from eco.client import Client, EcoError

__all__ = ["Client", "EcoError"]
