"""Development tools, apart from the product: nothing in `sidecar` imports them, and the
one-folder build leaves this package out."""
