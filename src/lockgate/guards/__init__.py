"""Guardrails: PII, secrets, prompt injection, deny lists and response schemas, as policies.

Detectors are compiled once per config load (``spec``); ``policy`` runs them on the request
before the cache and any provider sees it, and on the response and each streamed chunk
before the client sees it.
"""
