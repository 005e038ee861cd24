"""Azure Functions entry point: the app object both hosts load.

The Azure Functions runtime imports this module; so does the local host
(``dtq serve``), which runs the very same registered functions.
"""

import azure.functions as func

from functions import api, dlq, maintenance, observability, worker

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(api.bp)
app.register_functions(dlq.bp)
app.register_functions(worker.bp)
app.register_functions(maintenance.bp)
app.register_functions(observability.bp)
