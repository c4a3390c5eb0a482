"""Provider adapters: the only place that knows vendor names and endpoints."""
