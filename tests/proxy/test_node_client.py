"""The JavaScript `openai` package, the client most apps outside Python hold, against the proxy.

Needs node and npm (the CI machine has node 20); the package is installed
once per session into a temporary directory, from npm's registry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._support import API_VERSION, CHAT, KEY, Running, running_proxy

pytestmark = pytest.mark.integration

OPENAI_NPM = "openai@7"
SCRIPT = """
import { AzureOpenAI } from "openai";

const options = {
  endpoint: process.env.PROXY_URL,
  apiVersion: process.env.API_VERSION,
  deployment: process.env.DEPLOYMENT,
  maxRetries: 0,
};
const client = new AzureOpenAI({ ...options, apiKey: process.env.PROXY_KEY });
const messages = [{ role: "user", content: "Tell me a joke about quotas." }];
const completion = await client.chat.completions.create({ model: options.deployment, messages });
let chunks = 0;
let text = "";
const stream = await client.chat.completions.create({
  model: options.deployment, messages, stream: true,
});
for await (const chunk of stream) {
  chunks += 1;
  text += chunk.choices[0]?.delta?.content ?? "";
}
let refused = null;
try {
  await new AzureOpenAI({ ...options, apiKey: "not-the-proxy-key-at-all" })
    .chat.completions.create({ model: options.deployment, messages });
} catch (error) {
  refused = error.status;
}
console.log(JSON.stringify({
  content: completion.choices[0].message.content, chunks, text, refused,
}));
"""


@pytest.fixture(scope="module")
def node_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: the JavaScript client cannot be tried")
    project = tmp_path_factory.mktemp("node-client")
    (project / "package.json").write_text('{"type": "module", "private": true}')
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", OPENAI_NPM],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=240,
    )
    if installed.returncode != 0:
        pytest.skip(f"npm could not install {OPENAI_NPM}: {installed.stderr.strip()[-300:]}")
    (project / "client.mjs").write_text(SCRIPT)
    return project


@pytest.fixture
def proxy() -> Iterator[Running]:
    with running_proxy() as running:
        yield running


def test_the_npm_openai_client_chats_streams_and_is_refused_a_wrong_key(
    node_project: Path, proxy: Running
) -> None:
    ran = subprocess.run(
        ["node", "client.mjs"],
        cwd=node_project,
        env={
            "PATH": os.environ["PATH"],
            "PROXY_URL": proxy.url,
            "PROXY_KEY": KEY,
            "API_VERSION": API_VERSION,
            "DEPLOYMENT": CHAT,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    assert result["content"]
    assert result["chunks"] > 1
    assert result["text"]
    assert result["refused"] == 401
    assert proxy.received() == 2
