"""Policies applied to every data-plane request, one module each."""
