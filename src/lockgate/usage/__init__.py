"""Token counting, prices and usage records."""
