"""Function blueprints: thin triggers that decode input, call one service method and
encode the output. They run unchanged in the Azure Functions host and in the
local host (``dtq serve``)."""
