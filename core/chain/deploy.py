"""Deploying swarmdeck's coordinator on an EVM chain and handing out its roles.

    info = deploy_coordinator(w3, owner_key, chain_id, stage_manager=sm, bootnode_manager=bm)
    info["coordinator"], info["block"]
    is_current_coordinator(w3, address)     # the code there is this version's contract

The contract (contracts/Coordinator.sol) gives the deployer every role, as the public
SwarmCoordinator's initialize(owner) does. deploy_coordinator then grants the stage-manager and
bootnode-manager roles to their own accounts and takes them back from the owner, so each key does
one job (an owner key that leaks cannot advance rounds without granting itself the role first,
which is logged on chain as RoleGranted).
"""

from __future__ import annotations

from eth_utils import keccak

from core.base.errors import ChainError

# AccessControl-style role ids: keccak256 of the role's name, as in the public contract.
OWNER_ROLE = keccak(text="OWNER_ROLE")
STAGE_MANAGER_ROLE = keccak(text="STAGE_MANAGER_ROLE")
BOOTNODE_MANAGER_ROLE = keccak(text="BOOTNODE_MANAGER_ROLE")
ROLES = {"owner": OWNER_ROLE, "stage_manager": STAGE_MANAGER_ROLE, "bootnode_manager": BOOTNODE_MANAGER_ROLE}

# The public contract's fixed stage count (stageCount() is pure); ours is the same constant.
STAGE_COUNT = 3


def _send(w3, key: str, chain_id: int, fn_or_tx, *, timeout: float = 60.0) -> dict:
    from eth_account import Account

    acct = Account.from_key(key)
    base = {"from": acct.address, "chainId": chain_id, "nonce": w3.eth.get_transaction_count(acct.address, "pending")}
    tx = fn_or_tx.build_transaction(base)
    h = w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    rcpt = w3.eth.wait_for_transaction_receipt(h, timeout=timeout, poll_latency=0.05)
    if rcpt["status"] != 1:
        raise ChainError(f"transaction reverted: 0x{bytes(h).hex()}", where=str(w3.provider.endpoint_uri))
    return rcpt


def deploy_coordinator(w3, owner_key: str, chain_id: int, *, stage_manager: str | None = None,
                       bootnode_manager: str | None = None) -> dict:
    """Deploy the coordinator from `owner_key`; give the two manager roles to their accounts.

    Returns {"coordinator", "block", "owner", "stage_manager", "bootnode_manager"}. A manager left
    None stays with the owner.
    """
    from eth_account import Account
    from web3 import Web3

    from core.chain.compile import load_artifact

    art = load_artifact()
    owner = Account.from_key(owner_key).address
    rcpt = _send(w3, owner_key, chain_id, w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor())
    address = Web3.to_checksum_address(rcpt["contractAddress"])
    c = w3.eth.contract(address=address, abi=art["abi"]).functions
    holders = {"stage_manager": stage_manager or owner, "bootnode_manager": bootnode_manager or owner}
    for role, holder in holders.items():
        if holder.lower() != owner.lower():
            _send(w3, owner_key, chain_id, c.grantRole(ROLES[role], Web3.to_checksum_address(holder)))
            _send(w3, owner_key, chain_id, c.revokeRole(ROLES[role], owner))
    return {"coordinator": address, "block": int(rcpt["blockNumber"]), "owner": owner, **holders}


def is_current_coordinator(w3, address: str) -> bool:
    """True when `address` holds exactly this version's coordinator (no immutables: the runtime code
    is the artifact's deployedBytecode byte for byte). An older swarmdeck coordinator, another
    contract or no code at all is False."""
    from web3 import Web3

    from core.chain.compile import load_artifact

    code = bytes(w3.eth.get_code(Web3.to_checksum_address(address)))
    return code.hex() == load_artifact()["deployedBytecode"].removeprefix("0x").lower()
