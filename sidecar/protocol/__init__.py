"""The wire contract as pydantic models: params, results, events, errors.

This package is the single source of truth. `schema/` (JSON Schema + OpenRPC)
and the TypeScript types are generated from it; it does no I/O.
"""
