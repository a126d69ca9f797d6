"""The README's offline recipe in a plain environment: no test-only variables, HF_ENDPOINT on the Hub twin.

The calls run in a child process whose environment has HF_HUB_DISABLE_TELEMETRY / GRADIO_ANALYTICS_ENABLED stripped
(the suite sets neither, but a developer's shell might), as a newcomer's shell would. HF_HOME points at an empty
folder so huggingface_hub fetches (and caches) the Hub's agent-harness registry from the twin instead of a cached
copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_ONLY = ("HF_HUB_DISABLE_TELEMETRY", "GRADIO_ANALYTICS_ENABLED", "HF_TOKEN", "HF_HUB_DISABLE_IMPLICIT_TOKEN",
             "HF_HUB_OFFLINE", "JANUSFLUX_LOCAL")

SCRIPT = r"""
import json, sys
from huggingface_hub import HfApi
from gradio_client import Client
import janusflux

info = HfApi().space_info("black-forest-labs/FLUX.1-dev")
client = Client("black-forest-labs/FLUX.1-dev", verbose=False)
image = janusflux.generate("flux", "a lighthouse at dawn", width=256, height=256, steps=2, seed=7)
print(json.dumps({"host": info.host, "client_src": client.src, "size": list(image.size), "seed": image.seed}))
"""


def plain_env(hub_url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY}
    env.update(HF_ENDPOINT=hub_url, HF_HOME=str(home), PYTHONPATH=str(ROOT))
    return env


def test_offline_recipe_in_a_plain_environment(fleet, tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=plain_env(fleet.hub_url, tmp_path / "hf-home"),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["host"] == fleet.url("black-forest-labs/FLUX.1-dev")
    assert out["client_src"].rstrip("/") == fleet.url("black-forest-labs/FLUX.1-dev")
    assert out["size"] == [256, 256] and out["seed"] == 7


def test_hub_twin_serves_the_routes_huggingface_hub_reads(fleet):
    """The shapes huggingface_hub 2.4 parses: the agent-harness registry is an object, telemetry answers 200."""
    import httpx

    reg = httpx.get(f"{fleet.hub_url}/api/agent-harnesses").json()
    assert isinstance(reg, dict) and isinstance(reg["standardEnvVars"], list) and isinstance(reg["harnesses"], dict)
    assert httpx.head(f"{fleet.hub_url}/api/telemetry/py_client/initiated").status_code == 200


def test_every_hub_route_the_recipe_calls_is_known(fleet, tmp_path):
    """Each Hub request of the recipe gets a real answer (no 404 from a route the twin lacks)."""
    import httpx

    fleet.clear_requests()
    subprocess.run([sys.executable, "-c", SCRIPT], env=plain_env(fleet.hub_url, tmp_path / "hf-home"),
                   capture_output=True, text=True, timeout=120, cwd=tmp_path, check=True)
    hub_paths = {r.path for r in fleet.requests if r.server == "hub"}
    assert "/api/agent-harnesses" in hub_paths
    for path in hub_paths:
        r = httpx.request("HEAD" if path.startswith("/api/telemetry/") else "GET", fleet.hub_url + path)
        assert r.status_code != 404, path
