"""Configuration: strict models, loader, environment references and reload."""
