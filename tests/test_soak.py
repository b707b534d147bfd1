"""The soak suite, small, so `make test` guards every figure the
full `make soak` reports (crash safety, load, isolation, faults, attack, secrets)."""

from __future__ import annotations

import json

from tests.soak.__main__ import QUICK, soak


async def test_quick_soak_keeps_every_must_be_zero_figure_at_zero(tmp_path):
    report = await soak(tmp_path, QUICK)
    failing = {name: value for name, value in report["mustBeZero"].items() if value}
    assert not failing, json.dumps(report, indent=1)[:6000]
    # Each phase did what it is there for, not a vacuous pass.
    assert report["crash"]["killedStreams"] >= 3
    assert report["load"]["messagesSettled"] >= 20
    assert report["isolation"]["stalledClientCloseCode"] == 4008
    assert report["faults"]["cases"] == 76
    assert report["attack"]["fuzz"]["frames"] >= 3_000
    assert report["attack"]["handshakes"]["tried"] >= 50
    assert report["secrets"]["bytesSearched"]["frames"] > 0
    assert report["secrets"]["bytesSearched"]["database"] > 0
