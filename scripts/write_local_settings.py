"""azd's postprovision hook: write local.settings.azure.json, the settings for running
the local host (or `func start`) against the resources just provisioned, with your own
Entra ID sign-in (`az login`; main.bicep gives AZURE_PRINCIPAL_ID the app's data roles).

It never touches local.settings.json: that file is what `./dev run` and the tests read,
and pointing them at the cloud must be your explicit choice:

    cp local.settings.azure.json local.settings.json   # then ./dev run

azd hands the deployment's outputs to hooks as environment variables. Only endpoints
and names are written: every connection is identity-based, so there is no secret.

    python3 scripts/write_local_settings.py            # what azd runs
    python3 scripts/write_local_settings.py --print    # show instead of writing
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Outputs of infra/bicep/main.bicep this hook needs.
OUTPUTS = ("SERVICEBUS_NAMESPACE", "TABLE_SERVICE_URI", "COSMOS_ENDPOINT")


def settings(outputs: dict[str, str]) -> dict[str, object]:
    """local.settings.example.json with the Azure backends pointed at the outputs."""
    example = json.loads((ROOT / "local.settings.example.json").read_text())
    values: dict[str, str] = dict(example["Values"])
    values.update(
        {
            "DTQ_QUEUE_BACKEND": "servicebus",
            "DTQ_STATUS_BACKEND": "table",
            "DTQ_RESULT_BACKEND": "cosmos",
            "ServiceBusConnection__fullyQualifiedNamespace": outputs["SERVICEBUS_NAMESPACE"],
            "TableStorageConnection__tableServiceUri": outputs["TABLE_SERVICE_URI"],
            "CosmosDBConnection__accountEndpoint": outputs["COSMOS_ENDPOINT"],
        }
    )
    return {**example, "Values": values}


def main(argv: list[str]) -> int:
    missing = [name for name in OUTPUTS if not os.environ.get(name)]
    if missing:
        print(f"write_local_settings: azd did not pass {', '.join(missing)}", file=sys.stderr)
        return 1
    text = json.dumps(settings({name: os.environ[name] for name in OUTPUTS}), indent=2) + "\n"
    if "--print" in argv:
        print(text, end="")
        return 0
    target = ROOT / "local.settings.azure.json"
    target.write_text(text)
    print(
        f"write_local_settings: wrote {target}; to run the local host against Azure, copy it"
        " to local.settings.json and sign in with `az login`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
