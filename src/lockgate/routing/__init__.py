"""Deployment choice, retries and fallbacks."""
