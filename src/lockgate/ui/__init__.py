"""The web console (``/console``) and developer portal (``/portal``), served by the gateway.

Server-rendered Jinja2 pages with htmx and Pico CSS shipped as static files (no build step, no
CDN). Nothing here runs on the data-plane path: the gateway builds the UI on first use.
"""
