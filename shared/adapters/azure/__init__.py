"""Adapters on Azure services: Table storage (status), Cosmos DB (results).

Each is proven against a local emulator by the contract suites (Azurite, a Cosmos
DB server) and relies on nothing the real services do not do.
"""
