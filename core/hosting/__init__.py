"""Hosting a swarm that other machines join: the host process (host), the members' RPC guard
(guard) and faucet (faucet), and invites (invite). Use cases: core.usecases.swarm_hosting."""
