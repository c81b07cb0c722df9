"""Routes over real sockets: re-encryption to nginx with Host preserved and X-Forwarded-* replaced,
path-prefix routing, offload, no route, traversal refused, the pinned address and backend
verification, and the start-time certificate comparison."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.reverse.conftest import Pki, curl, listener, nginx_backend, status_of


def _route(port: int, pki: Pki, *, name: str = "web", mode: str = "reencrypt", paths: str = "",
           extra: str = "", backend: str | None = None) -> str:
    backend = backend or ("https" if mode == "reencrypt" else "http") + f"://ex01.internal.test:{port}"
    return (f'\n[[route]]\nname = "{name}"\nlistener = "edge"\nhosts = ["mail.example.test", "localhost"]\n'
            f'{paths}mode = "{mode}"\nbackend = "{backend}"\nbackend_address = "127.0.0.1:{port}"\n'
            f'backend_ca = "{pki.internal.cert}"\n{extra}')


def test_reencrypt_preserves_host_and_replaces_forwarded_headers(tmp_path: Path, pki: Pki, start_reverse) -> None:
    with nginx_backend(tmp_path, pki) as port:
        proxy = start_reverse(listener(pki) + _route(port, pki))
        r = curl(pki, f"https://mail.example.test:{proxy.port}/owa/", "-H", "X-Forwarded-For: 6.6.6.6",
                 "-H", "X-Forwarded-Host: evil.example", "-H", "X-Bridgehead-User: root",
                 resolve=("mail.example.test", proxy.port))
    assert status_of(r) == 200, r.stderr + r.stdout
    assert f"host=mail.example.test:{proxy.port} " in r.stdout
    assert "xff=127.0.0.1 " in r.stdout and "6.6.6.6" not in r.stdout
    assert "proto=https " in r.stdout
    assert f"xfh=mail.example.test:{proxy.port} " in r.stdout and "evil" not in r.stdout
    assert "user= " in r.stdout  # client-supplied identity header removed
    (rec,) = proxy.records(action="publish")
    assert rec["route"] == "web" and rec["mode"] == "reencrypt" and rec["status"] == 200
    assert (rec["host"], rec["port"]) == ("mail.example.test", proxy.port)  # host without port, port a number
    (check,) = proxy.records(action="backend-check")
    assert check["same_certificate"] is False and check["route"] == "web"

