"""Gatehouse's framework-free core. Nothing in this package imports Flask."""
