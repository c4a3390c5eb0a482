"""API products: prompt templates published as REST endpoints (SPEC section 4b).

A *product* (``summarize``) has numbered *versions*, each a model, a prompt template, an input
JSON Schema and optionally an output schema, with a lifecycle status (``lifecycle.py``). Apps
call ``POST /apis/{name}/v{version}`` with an active *subscription*; the call becomes a chat
request that runs through the same pipeline as every other (``route.py``).

Definitions come from the config (``apis:``, read-only) or from the store (admin API, CLI);
``catalog.py`` compiles both into what the hot path reads.
"""
