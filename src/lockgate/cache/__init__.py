"""Response caching per model (SPEC 4b): exact and semantic, scoped, in memory or in Redis.

``policy`` is the CACHE-phase policy; ``keys`` says what a key covers; ``store`` and
``redis_store`` keep answers; ``vectors`` and ``semantic`` find paraphrases.
"""
