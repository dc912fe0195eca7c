"""Model registry and selector: ids, prefixes, exclusions, tiers and strategies."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from services.proxy.config.loader import validate_text
from services.proxy.routing.credentials import build_credentials
from services.proxy.routing.registry import ModelIndex
from services.proxy.routing.selector import Selector


def _index(yaml: str) -> ModelIndex:
    config = validate_text(yaml).config
    return ModelIndex(build_credentials(config), force_prefix=config.force_model_prefix)


COMPAT = """
openai-compatibility:
  - name: alpha
    base-url: http://a/v1
    prefix: team
    api-key-entries: [{api-key: ka1}, {api-key: ka2, weight: 3}]
    models: [{name: up-model, alias: m}, {name: other}]
    excluded-models: ["other*"]
  - name: beta
    base-url: http://b/v1
    priority: 5
    api-key-entries: [{api-key: kb}]
    models: [{name: m}]
"""


def test_aliases_prefixes_and_exclusions_resolve():
    """An alias, its prefixed form and the plain id resolve; excluded models do not."""
    index = _index(COMPAT)
    assert {m.id for m in index.models} == {"team/m", "m"}
    tiers = index.lookup("m")
    assert tiers is not None
    assert [t.credential.channel for t in tiers[0]] == ["beta"]  # priority 5 first
    assert [t.upstream_model for t in tiers[1]] == ["up-model", "up-model"]
    assert index.lookup("other") is None


def test_force_model_prefix_hides_prefixed_credentials_from_plain_ids():
    """With force-model-prefix an unprefixed id uses only unprefixed credentials."""
    index = _index(COMPAT + "force-model-prefix: true\n")
    tiers = index.lookup("m")
    assert tiers is not None
    assert {t.credential.channel for tier in tiers for t in tier} == {"beta"}
    assert index.lookup("team/m") is not None


def _tier(yaml: str, model: str = "m"):
    tiers = _index(yaml).lookup(model)
    assert tiers is not None
    return tiers


THREE = """
openai-compatibility:
  - name: c
    base-url: http://c/v1
    api-key-entries: [{api-key: k1, weight: 1}, {api-key: k2, weight: 2}, {api-key: k3, weight: 3}]
    models: [{name: m}]
"""


def test_round_robin_spreads_evenly():
    """Round-robin gives each credential the first slot equally often."""
    tiers, selector = _tier(THREE), Selector()
    firsts = Counter(
        next(selector.order("m", tiers, "round-robin")).credential.secret for _ in range(300)
    )
    assert firsts == {"k1": 100, "k2": 100, "k3": 100}


def test_fill_first_sticks_and_keeps_order_for_failover():
    """Fill-first always starts with the first credential and lists the rest after it."""
    tiers, selector = _tier(THREE), Selector()
    for _ in range(5):
        order = [t.credential.secret for t in selector.order("m", tiers, "fill-first")]
        assert order == ["k1", "k2", "k3"]


def test_weighted_round_robin_follows_weights_smoothly():
    """Smooth WRR serves weights 1:2:3 exactly over a cycle and never bursts one key."""
    tiers, selector = _tier(THREE), Selector()
    picks = [
        next(selector.order("m", tiers, "weighted-round-robin")).credential.secret
        for _ in range(60)
    ]
    assert Counter(picks) == {"k1": 10, "k2": 20, "k3": 30}
    runs = [len(list(group)) for _, group in itertools.groupby(picks)]
    assert max(runs) <= 2


@pytest.mark.parametrize("strategy", ["round-robin", "fill-first", "weighted-round-robin"])
def test_every_strategy_lists_every_credential_once(strategy):
    """Whatever the strategy, the failover order holds each credential exactly once."""
    tiers, selector = _tier(THREE), Selector()
    for _ in range(7):
        order = [t.credential.secret for t in selector.order("m", tiers, strategy)]
        assert sorted(order) == ["k1", "k2", "k3"]
