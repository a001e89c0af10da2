"""Write the node's OpenAPI spec (docs/openapi.json) so clients in other languages can be generated.

``python -m veilproof.node.openapi [PATH]``; a test keeps the committed file in sync with the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def spec() -> dict[str, Any]:
    from veilproof.node.app import create_app

    # Routes only reach the service at request time, so no node is needed to describe them.
    return create_app(None).openapi()  # type: ignore[arg-type]  # no service: routes reach it only per request


def render() -> str:
    return json.dumps(spec(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/openapi.json")
    out.write_text(render())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
