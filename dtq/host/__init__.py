"""The local host: runs the functions registered on ``function_app.app`` without
Azure, as the Functions host would (HTTP through an ASGI server, Service Bus
queue triggers through worker loops with the same settlement rules).

Kept small on purpose: everything it runs is the same code the Azure Functions
host runs.
"""
