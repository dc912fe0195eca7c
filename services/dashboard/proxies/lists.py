"""Pure reconciliation of the proxy's lists with what the dashboard owns (desired state).

Entries the dashboard does not manage (added by an operator) are kept where they are; entries it
manages are made to match the database: added, updated or removed.
"""

from __future__ import annotations

from typing import Any

from services.dashboard.web.secrets_display import digest

Entry = dict[str, Any]


def reconcile_api_keys(current: list[Any], desired: list[str], managed: set[str]) -> list[Any]:
    """`api-keys`: drop managed `sha256:` entries no longer desired, append missing desired ones."""
    wanted = set(desired)
    kept = [e for e in current if not (isinstance(e, str) and e in managed and e not in wanted)]
    present = {e for e in kept if isinstance(e, str)}
    return kept + [d for d in desired if d not in present]


def reconcile_keyed(current: list[Any], desired: list[Entry], managed: set[str]) -> list[Any]:
    """`claude-api-key` and friends: entries are identified by the sha256 of their api-key."""
    by_hash = {digest(str(e["api-key"])): e for e in desired}
    out: list[Any] = []
    seen: set[str] = set()
    for entry in current:
        key = entry.get("api-key") if isinstance(entry, dict) else None
        h = digest(str(key)) if key is not None else ""
        if h in by_hash:
            if h not in seen:  # our fields win, an operator's extra fields are kept
                out.append({**entry, **by_hash[h]})
                seen.add(h)
        elif h not in managed:
            out.append(entry)
    return out + [e for h, e in by_hash.items() if h not in seen]


def reconcile_compat(
    current: list[Any],
    desired: list[Entry],
    managed_names: set[str],
    direct_keys: dict[str, list[str]],
    managed_key_hashes: set[str],
) -> list[Any]:
    """`openai-compatibility`: our providers follow the operator's entries, in dashboard order.

    `direct_keys` maps an entry name to the provider keys users attached to it; they are added
    to that entry's `api-key-entries`, and managed keys no longer attached are removed.
    """
    ours = {e["name"] for e in desired} | managed_names
    out: list[Any] = []
    for entry in current:
        if not isinstance(entry, dict) or entry.get("name") not in ours:
            out.append(_with_direct_keys(entry, direct_keys, managed_key_hashes))
    for entry in desired:
        out.append(_with_direct_keys(entry, direct_keys, managed_key_hashes))
    return out


def _with_direct_keys(entry: Any, direct: dict[str, list[str]], managed: set[str]) -> Any:
    if not isinstance(entry, dict):
        return entry
    keys = direct.get(str(entry.get("name")), [])
    entries = [
        item
        for item in entry.get("api-key-entries") or []
        if not isinstance(item, dict)
        or digest(str(item.get("api-key", ""))) not in managed
        or item.get("api-key") in keys
    ]
    present = {item.get("api-key") for item in entries if isinstance(item, dict)}
    entries += [{"api-key": key} for key in keys if key not in present]
    if not entries and "api-key-entries" not in entry:
        return entry
    return {**entry, "api-key-entries": entries}
