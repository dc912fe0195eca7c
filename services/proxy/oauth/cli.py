"""`python -m services.proxy login <provider> --config PATH [--no-browser]`: a login from a shell.

For servers without a browser: the authorize URL (or the device code) is printed; with
`--no-browser` the user pastes the redirect URL the browser ended on (the page may fail to load:
the URL is all we need), otherwise a listener on the provider's callback port takes it and the
default browser is opened. The auth file is written to the config's `auth-dir`; a running proxy
picks it up within a second.
"""

from __future__ import annotations

import asyncio
import sys
import webbrowser
from pathlib import Path
from typing import TextIO

from aiohttp import web

from ..config.host_overrides import HostOverrides
from ..config.loader import load_file
from ..config.model import ProxyConfig
from ..config.paths import ProxyPaths
from ..upstream.sessions import UpstreamClients
from .accounts import AccountPool
from .auth_files import AuthFileStore
from .http import OAuthHttp
from .logins import Callback, exchange_code, new_state, parse_redirect, poll_device, save_account
from .provider import LoginError, NewAccount, NotSupported, OAuthProvider
from .providers import by_name

MAX_FILE_BYTES = 1024 * 1024


async def login(
    provider_name: str,
    config_path: Path,
    *,
    browser: bool,
    out: TextIO = sys.stdout,
) -> int:
    provider = by_name(provider_name)
    if provider is None:
        print(f"unknown provider {provider_name!r}", file=sys.stderr)
        return 2
    config = load_file(config_path).config
    paths = ProxyPaths.resolve(config_path, config)
    paths.auths.mkdir(parents=True, exist_ok=True)
    pool = AccountPool(AuthFileStore(paths.auths, MAX_FILE_BYTES))
    clients = UpstreamClients(HostOverrides(config.upstream_host_overrides))
    await clients.start()
    try:
        session, proxy = clients.for_proxy(config.proxy_url)
        http = OAuthHttp(session, proxy)
        if provider.info.flow == "device":
            account = await _device(provider, http, clients, out)
        else:
            account = await _redirect(provider, http, clients, config, browser, out)
        await save_account(pool, account)
    except (LoginError, NotSupported) as exc:
        print(f"login failed: {exc}", file=sys.stderr)
        return 1
    finally:
        await clients.close()
    print(f"saved {paths.auths / account.name}", file=out)
    return 0


async def _device(
    provider: OAuthProvider, http: OAuthHttp, clients: UpstreamClients, out: TextIO
) -> NewAccount:
    device = await provider.device_start(http)
    url = clients.overrides.rewrite_text(device.url)
    print(f"Open {url} and enter the code {device.user_code}", file=out, flush=True)
    return await poll_device(provider, http, device)


async def _redirect(
    provider: OAuthProvider,
    http: OAuthHttp,
    clients: UpstreamClients,
    config: ProxyConfig,
    browser: bool,
    out: TextIO,
) -> NewAccount:
    state = new_state(provider)
    authorization = provider.authorize(state)
    url = clients.overrides.rewrite_text(authorization.url)
    print(f"Open this URL to sign in:\n{url}", file=out, flush=True)
    if browser:
        port = config.oauth_callback_ports.get(provider.info.type, 0)
        callback = await _listen(port, lambda: webbrowser.open(url))
    else:
        print("Then paste the URL your browser was sent to:", file=out, flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        callback = parse_redirect(line)
    if callback.error:
        raise LoginError(f"authorization failed: {callback.error}")
    return await exchange_code(provider, http, authorization, callback, state)


async def _listen(port: int, opened: object) -> Callback:
    """The first callback that reaches the provider's port on this machine."""
    got: asyncio.Future[Callback] = asyncio.get_running_loop().create_future()

    async def handle(request: web.Request) -> web.Response:
        q = request.query
        if not got.done():
            got.set_result(Callback(q.get("code", ""), q.get("state", ""), q.get("error", "")))
        return web.Response(text="Login received; you can close this window.")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        if callable(opened):
            opened()
        return await got
    finally:
        await runner.cleanup()
