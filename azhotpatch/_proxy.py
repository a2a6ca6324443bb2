"""The proxy a request to a URL goes through, as the environment says (``HTTPS_PROXY``,
``NO_PROXY``), and how to name it in a message: a dead proxy is the proxy's fault, not the
endpoint's, and the message must say which one it could not reach. A proxy's URL may carry a
user name and password; messages show it without them."""

from __future__ import annotations

import urllib.parse
import urllib.request

__all__ = ["proxy_for", "shown"]


def proxy_for(url: str) -> str | None:
    """The proxy requests to ``url`` go through (None: straight to it)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    proxies = urllib.request.getproxies()
    if "https" not in proxies or urllib.request.proxy_bypass(host):
        return None
    return proxies["https"]


def shown(proxy: str) -> str:
    """The proxy's URL as a message shows it: scheme, host and port, no credentials."""
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number: show none
        port = ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"
