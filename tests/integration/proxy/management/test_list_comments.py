"""List writes keep every untouched item's YAML node: its quotes, comments and position."""

from __future__ import annotations

import pytest

RICH_CONFIG = """\
# client keys
api-keys:
  - "sk-aaa"  # the first client
  # the second client
  - 'sk-bbb'
  - sk-ccc # third

# Claude upstream keys
claude-api-key:
  - api-key: "sk-ant-1" # first key
    weight: 1 # written out although it is the default
  # the second key
  - api-key: sk-ant-2
    prefix: 'team'
    models:
      - name: claude-a # model a
      # model b follows
      - name: "claude-b"
        alias: b
# a provider
openai-compatibility:
  - name: local # the local one
    base-url: "http://127.0.0.1:9/v1"
    api-key-entries:
      - api-key: "sk-local-1" # entry one
      # entry two follows
      - api-key: sk-local-2
        proxy-url: direct
    models:
      - name: m1
        alias: a1 # alias one
# after the lists
request-retry: 3
"""


@pytest.fixture
async def rich(mgmt):
    mgmt.config_path.write_text(RICH_CONFIG)
    await mgmt.ctx.store.check_file()
    return mgmt


@pytest.mark.parametrize("key", ["api-keys", "claude-api-key", "openai-compatibility"])
async def test_putting_back_what_get_returned_changes_nothing(rich, key):
    """GET then PUT of the same list (computed fields and defaults included) is a no-op."""
    items = (await rich.ok_json("GET", f"/{key}"))[key]
    await rich.ok_json("PUT", f"/{key}", json=items)
    assert rich.config_text() == RICH_CONFIG


async def test_put_api_keys_keeps_quotes_and_comments_of_untouched_items(rich):
    await rich.ok_json("PUT", "/api-keys", json=["sk-ccc", "sk-aaa", "sk-new", "sk-bbb"])
    assert rich.config_text().startswith(
        "# client keys\n"
        "api-keys:\n"
        "  - sk-ccc # third\n"
        '  - "sk-aaa"  # the first client\n'
        "  - sk-new\n"
        "  # the second client\n"
        "  - 'sk-bbb'\n"
        "\n# Claude upstream keys\n"
    )
    assert rich.ctx.store.current.config.api_keys == ["sk-ccc", "sk-aaa", "sk-new", "sk-bbb"]


async def test_delete_and_patch_api_keys_keep_the_others(rich):
    await rich.ok_json("DELETE", "/api-keys", params={"value": "sk-aaa"})
    await rich.ok_json("PATCH", "/api-keys", json={"old": "sk-ccc", "new": "sk-ddd"})
    assert rich.config_text().startswith(
        "# client keys\napi-keys:\n  # the second client\n  - 'sk-bbb'\n  - sk-ddd # third\n"
    ), rich.config_text()
    assert "\n# Claude upstream keys\nclaude-api-key:" in rich.config_text()


async def test_delete_api_keys_by_index_keeps_the_next_items_comment(rich):
    await rich.ok_json("DELETE", "/api-keys", params={"index": "2"})
    await rich.ok_json("PUT", "/api-keys", json=["sk-aaa", "sk-bbb"])
    text = rich.config_text()
    assert text.startswith(
        "# client keys\n"
        "api-keys:\n"
        '  - "sk-aaa"  # the first client\n'
        "  # the second client\n"
        "  - 'sk-bbb'\n"
        "\n# Claude upstream keys\n"
    ), text


async def test_put_provider_keys_with_one_change_keeps_the_rest(rich):
    items = (await rich.ok_json("GET", "/claude-api-key"))["claude-api-key"]
    items[1]["models"].append({"name": "claude-c"})
    items.append({"api-key": "sk-ant-3"})
    await rich.ok_json("PUT", "/claude-api-key", json=items)
    text = rich.config_text()
    assert (
        "claude-api-key:\n"
        '  - api-key: "sk-ant-1" # first key\n'
        "    weight: 1 # written out although it is the default\n"
        "  # the second key\n"
        "  - api-key: sk-ant-2\n"
        "    prefix: 'team'\n"
        "    models:\n"
        "      - name: claude-a # model a\n"
        "      # model b follows\n"
        '      - name: "claude-b"\n'
        "        alias: b\n"
        "      - name: claude-c\n"
        "  - api-key: sk-ant-3\n"
        "# a provider\n"
    ) in text, text


async def test_delete_provider_key_keeps_the_comment_above_the_next_one(rich):
    await rich.ok_json("DELETE", "/claude-api-key", params={"index": "0"})
    text = rich.config_text()
    assert (
        "# Claude upstream keys\n"
        "claude-api-key:\n"
        "  # the second key\n"
        "  - api-key: sk-ant-2\n"
        "    prefix: 'team'\n"
    ) in text, text
    assert "# first key" not in text


async def test_openai_compatibility_entries_keep_their_nodes(rich):
    items = (await rich.ok_json("GET", "/openai-compatibility"))["openai-compatibility"]
    items[0]["api-key-entries"].insert(0, {"api-key": "sk-local-0"})
    await rich.ok_json("PUT", "/openai-compatibility", json=items)
    text = rich.config_text()
    assert (
        "openai-compatibility:\n"
        "  - name: local # the local one\n"
        '    base-url: "http://127.0.0.1:9/v1"\n'
        "    api-key-entries:\n"
        "      - api-key: sk-local-0\n"
        '      - api-key: "sk-local-1" # entry one\n'
        "      # entry two follows\n"
        "      - api-key: sk-local-2\n"
        "        proxy-url: direct\n"
        "    models:\n"
        "      - name: m1\n"
        "        alias: a1 # alias one\n"
        "# after the lists\n"
    ) in text, text


async def test_patch_nested_entries_keeps_untouched_entries(rich):
    entries = [{"api-key": "sk-local-1"}, {"api-key": "sk-local-2", "proxy-url": "none"}]
    await rich.ok_json(
        "PATCH", "/openai-compatibility", json={"index": 0, "value": {"api-key-entries": entries}}
    )
    text = rich.config_text()
    assert '      - api-key: "sk-local-1" # entry one\n      # entry two follows\n' in text
    assert "        proxy-url: none\n    models:\n" in text
    assert "        alias: a1 # alias one\n# after the lists\n" in text


async def test_patch_by_index_keeps_the_quote_style_and_comment(rich):
    await rich.ok_json("PATCH", "/api-keys", json={"index": 0, "value": "sk-zzz"})
    assert '  - "sk-zzz"  # the first client\n  # the second client\n' in rich.config_text()


async def test_patch_removing_an_items_last_field_keeps_the_lines_after_it(rich):
    await rich.ok_json("PATCH", "/claude-api-key", json={"index": 1, "value": {"models": None}})
    text = rich.config_text()
    assert "  - api-key: sk-ant-2\n    prefix: 'team'\n# a provider\nopenai-compatibility:" in text


async def test_flow_style_lists_stay_flow_style(rich):
    rich.config_path.write_text('api-keys: ["sk-a", sk-b] # inline list\nrequest-retry: 3\n')
    await rich.ok_json("PUT", "/api-keys", json=["sk-a", "sk-b", "sk-c"])
    assert rich.config_text() == 'api-keys: ["sk-a", sk-b, sk-c] # inline list\nrequest-retry: 3\n'


async def test_a_write_that_changes_nothing_leaves_the_file_untouched(rich):
    """Clients (the dashboard's resync) PUT back what they read: no rewrite, same mtime."""
    before = rich.config_path.stat().st_mtime_ns
    for key in ("api-keys", "claude-api-key", "openai-compatibility"):
        items = (await rich.ok_json("GET", f"/{key}"))[key]
        await rich.ok_json("PUT", f"/{key}", json=items)
    assert rich.config_path.stat().st_mtime_ns == before
    assert rich.config_text() == RICH_CONFIG
