"""Eco's Django-free machine-learning engine. Nothing here imports Django or any app."""
