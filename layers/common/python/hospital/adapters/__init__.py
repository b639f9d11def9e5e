"""Clients for external systems (WeChat, ...). Import the submodule you need; nothing is imported here."""
