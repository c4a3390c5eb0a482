"""Data-plane routes: raw ASGI handlers for each ingress format."""
