"""JSON-RPC: one module per method family, and `dispatch`, the only one that knows jsonrpcserver."""
