"""Azure Functions entry point: the app object both hosts load.

The Azure Functions runtime imports this module; so does the local host
(``dtq serve``), which runs the very same registered functions.
"""

import azure.functions as func

from functions import (
    api,
    dlq,
    maintenance,
    observability,
    pauses,
    push,
    run_job,
    schedules,
    webhooks,
)


def create_app() -> func.FunctionApp:
    """A FunctionApp with every blueprint (tests index fresh ones: an app's functions
    can be listed only once)."""
    function_app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    blueprints = (api, dlq, run_job, maintenance, observability, push, webhooks, schedules, pauses)
    for blueprint in (module.bp for module in blueprints):
        function_app.register_functions(blueprint)
    return function_app


app = create_app()
