"""Login accounts of one network: email -> orgId, userId and a locally generated EOA.

Stored in network_dir(network)/login/ (0700):
  accounts.json  {email: {orgId, userId, address, createdAt, key: base64(nonce | AES-GCM ciphertext)}} (0600)
  master.key     32 random bytes (0600) that encrypt every account's EOA key

The master key sits beside the accounts, so this guards against a copied accounts.json (a
backup, a paste into an issue), not against someone who can read the whole directory.
The EOA is the account's on-chain identity: the peer ids it registers belong to it forever.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.base import fsutil
from core.base.errors import IdentityError
from core.base.paths import ensure_private_dir, network_dir

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{2,63}$")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def valid_email(email: str) -> bool:
    return bool(EMAIL_RE.match(email.strip())) and len(email) <= 254


@dataclass(frozen=True)
class Account:
    email: str
    org_id: str
    user_id: str
    address: str
    created_at: str


class AccountStore:
    def __init__(self, network: str = "local", directory: Path | None = None):
        self.dir = Path(directory) if directory else network_dir(network) / "login"
        self._lock = threading.Lock()

    @property
    def accounts_file(self) -> Path:
        return self.dir / "accounts.json"

    @property
    def master_key_file(self) -> Path:
        return self.dir / "master.key"

    def _master(self) -> bytes:
        ensure_private_dir(self.dir)
        if not self.master_key_file.exists():
            try:
                fsutil.create_exclusive(self.master_key_file, os.urandom(32))
            except FileExistsError:
                pass
        key = self.master_key_file.read_bytes()
        if len(key) != 32:
            raise IdentityError("the login service's master key is damaged", where=str(self.master_key_file),
                                fix="restore it from a backup; without it the accounts' keys cannot be read")
        return key

    def _load(self) -> dict:
        try:
            data = json.loads(self.accounts_file.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as e:
            raise IdentityError(f"accounts.json is not valid JSON ({e})", where=str(self.accounts_file),
                                fix="restore it from a backup") from None
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _account(email: str, rec: dict) -> Account:
        return Account(email, rec["orgId"], rec["userId"], rec["address"], rec["createdAt"])

    def get_or_create(self, email: str) -> tuple[Account, bool]:
        """The account for `email` (created with a fresh EOA the first time). Returns (account, created)."""
        from eth_account import Account as EthAccount

        email = normalize_email(email)
        with self._lock:
            data = self._load()
            if email in data:
                return self._account(email, data[email]), False
            eth = EthAccount.create()
            org_id = str(uuid.uuid4())
            nonce = os.urandom(12)
            ct = AESGCM(self._master()).encrypt(nonce, bytes(eth.key), org_id.encode())
            data[email] = {"orgId": org_id, "userId": str(uuid.uuid4()), "address": eth.address,
                           "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "key": base64.b64encode(nonce + ct).decode()}
            fsutil.atomic_write_json(self.accounts_file, data)
            return self._account(email, data[email]), True

    def by_org(self, org_id: str) -> Account | None:
        for email, rec in self._load().items():
            if rec.get("orgId") == org_id:
                return self._account(email, rec)
        return None

    def private_key(self, org_id: str) -> str:
        """Decrypt the account's EOA key (hex). Only the chain writer calls this; never log it."""
        for rec in self._load().values():
            if rec.get("orgId") == org_id:
                blob = base64.b64decode(rec["key"])
                return "0x" + AESGCM(self._master()).decrypt(blob[:12], blob[12:], org_id.encode()).hex()
        raise KeyError(org_id)
