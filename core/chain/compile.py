"""Compile contracts/Coordinator.sol with solc-js (npm `solc`, pinned in package.json).

    python -m core.chain.compile          # rewrite contracts/Coordinator.json
    python -m core.chain.compile --check  # exit 1 when the committed artifact differs

The artifact is committed so running swarmdeck never needs node; a test recompiles and
compares so the artifact cannot drift from the source.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from core.base.errors import ChainError
from core.base.i18n import M

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
SOURCE = CONTRACTS_DIR / "Coordinator.sol"
ARTIFACT = CONTRACTS_DIR / "Coordinator.json"
REPO_ROOT = Path(__file__).resolve().parents[2]
SOLC_VERSION = "0.8.37"

# Pinned so the bytecode only changes when the source or the compiler does.
SETTINGS = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}

_NODE_SCRIPT = r"""
const solc = require('solc');
let input = '';
process.stdin.on('data', d => input += d);
process.stdin.on('end', () => {
  const out = solc.compile(input);
  process.stdout.write(JSON.stringify({version: solc.version(), output: JSON.parse(out)}));
});
"""


def _node() -> str:
    node = shutil.which("node")
    if not node:
        raise ChainError(M("err.chain.no_node"), fix=M("err.chain.no_node_fix"))
    if not (REPO_ROOT / "node_modules" / "solc").is_dir():
        raise ChainError(M("err.chain.no_solc"), where=str(REPO_ROOT / "node_modules"), fix=M("err.chain.no_solc_fix"))
    return node


def compile_coordinator() -> dict:
    """Compile the source and return the artifact dict (what Coordinator.json holds)."""
    source = SOURCE.read_text(encoding="utf-8")
    std_input = {"language": "Solidity", "sources": {"Coordinator.sol": {"content": source}},
                 "settings": SETTINGS}
    proc = subprocess.run([_node(), "-e", _NODE_SCRIPT], input=json.dumps(std_input), capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=300)
    if proc.returncode != 0:
        raise ChainError(f"solc-js failed: {proc.stderr.strip()[-2000:]}", where=str(SOURCE))
    res = json.loads(proc.stdout)
    out = res["output"]
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ChainError("contract does not compile:\n" + "\n".join(e["formattedMessage"] for e in errors),
                         where=str(SOURCE))
    c = out["contracts"]["Coordinator.sol"]["Coordinator"]
    if not res["version"].startswith(SOLC_VERSION + "+"):
        raise ChainError(f"solc-js {res['version']} found, {SOLC_VERSION} expected",
                         where=str(REPO_ROOT / "node_modules/solc"), fix="run `npm ci` (package-lock pins it)")
    return {
        "contractName": "Coordinator",
        "compiler": {"name": "solc-js", "version": res["version"], "settings": {
            k: v for k, v in SETTINGS.items() if k != "outputSelection"}},
        "sourceSha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
        "abi": c["abi"],
        "bytecode": "0x" + c["evm"]["bytecode"]["object"],
        "deployedBytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
    }


def render(artifact: dict) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def load_artifact() -> dict:
    """The committed artifact (no node needed)."""
    return json.loads(ARTIFACT.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed artifact, write nothing")
    args = ap.parse_args(argv)
    fresh = render(compile_coordinator())
    if args.check:
        same = ARTIFACT.exists() and ARTIFACT.read_text(encoding="utf-8") == fresh
        print("artifact up to date" if same else f"artifact differs from a fresh compile: {ARTIFACT}")
        return 0 if same else 1
    ARTIFACT.write_text(fresh, encoding="utf-8")
    print(f"wrote {ARTIFACT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
