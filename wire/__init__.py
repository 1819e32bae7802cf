"""The contract between agent and server: enums and the JSON bodies they exchange.

Both sides import this package; it depends on pydantic only, so the agent stays small.
"""
