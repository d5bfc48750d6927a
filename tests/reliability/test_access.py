"""Access: upload names cannot escape the corpus folder, oversized uploads are refused unread, QA_AUTH covers
every HTTP route of the app (walked from its route table, so a new route is covered without being listed),
/login slows down password guessing, and the server binds 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import base64
import re
import socket
from pathlib import Path

import httpx
import pytest
from api_fixtures import ScriptedEngine
from starlette.routing import Mount, WebSocketRoute

from qa.config import Settings
from qa.documents import upload_name
from qa.http_login import FREE_FAILURES, LoginThrottle, is_public
from qa.schema import QAError
from qa.server import create_server, running

LOGIN = ("alice", "s3cret")


# --- upload names ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("given, stored", [
    ("../evil.txt", "evil.txt"), ("../../etc/cron.d/evil.txt", "evil.txt"), ("/etc/passwd.txt", "passwd.txt"),
    ("..\\..\\windows\\evil.md", "evil.md"), ("C:\\Users\\x\\notes.html", "notes.html"),
    ("<b>x<i>.txt", "<b>x<i>.txt"), ("console.txt", "console.txt"), ("  notes.txt ", "notes.txt"),
])
def test_an_upload_name_keeps_only_its_bare_name(given, stored):
    assert upload_name(given) == stored


@pytest.mark.parametrize("given", ["", "   ", "..", ".", "../", "/", ".hidden.txt", "CON", "con.txt", "NUL.md",
                                   "aux.html", "COM1.txt", "lpt9.txt", "a\nb.txt", "tab\there.txt", "x\x00.txt",
                                   "x" * 250 + ".txt", "notes.exe", "notes"])
def test_unusable_upload_names_are_refused(given):
    with pytest.raises(ValueError):
        upload_name(given)


@pytest.fixture
def small_engine(tmp_path, embedder):
    from qa.engine import Engine

    corpus = tmp_path / "corpus" / "docs"
    corpus.mkdir(parents=True)
    (corpus / "minutes.txt").write_text("The board of Acme met on May 3 in Lyon to approve the budget.\n", "utf-8")
    engine = Engine(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", max_file_bytes=4096), embedder=embedder)
    engine.ingest()
    return engine


def files_under(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


@pytest.mark.slow
def test_uploads_through_the_api_stay_inside_the_corpus_folder(small_engine, tmp_path):
    corpus = small_engine.settings.corpus_dir
    outside_before = files_under(tmp_path) - {f"corpus/docs/{name}" for name in files_under(corpus)}
    text = b"The budget of Acme for 2024 is 3 million euros."
    with running(create_server(small_engine, chat=False)) as url:
        for name in ["../escaped.txt", str(tmp_path / "absolute.txt"), "..\\..\\back.txt"]:
            reply = httpx.post(f"{url}/api/documents", files={"files": (name, text, "text/plain")}, timeout=120)
            assert reply.status_code == 201, reply.text
        for name in ["CON.txt", "..", ".env.txt", "notes.exe"]:
            reply = httpx.post(f"{url}/api/documents", files={"files": (name, text, "text/plain")}, timeout=120)
            assert reply.status_code == 400 and "not" in reply.json()["error"]["message"], (name, reply.text)
        big = httpx.post(f"{url}/api/documents", files={"files": ("big.txt", b"word " * 2000, "text/plain")},
                         timeout=120)
        assert big.status_code == 400 and "larger than 4096 bytes" in big.json()["error"]["message"]
    assert files_under(corpus) == {"minutes.txt", "escaped.txt", "absolute.txt", "back.txt"}
    assert files_under(tmp_path) - {f"corpus/docs/{name}" for name in files_under(corpus)} - outside_before \
        <= {path for path in files_under(tmp_path) if path.startswith("index/")}  # nothing written elsewhere
    assert not (tmp_path / "absolute.txt").exists()  # the name's folder part was dropped


def test_an_oversized_chat_upload_is_refused_by_its_size_and_its_temporary_copy_removed(tmp_path):
    from test_ui import ScriptedEngine as ChatEngine

    from qa.ui_chat import Building
    from qa.ui_documents import Documents

    engine = ChatEngine(tmp_path, max_file_bytes=1024)
    documents = Documents(engine, Building())
    upload_dir = tmp_path / "gradio-upload" / "abc123"
    upload_dir.mkdir(parents=True)
    big = upload_dir / "big.txt"
    with big.open("wb") as sparse:  # 5 GB on paper, nothing on disk: reading it whole would exhaust memory
        sparse.truncate(5_000_000_000)
    small = tmp_path / "gradio-upload" / "def456" / "small.txt"
    small.parent.mkdir()
    small.write_text("Some notes.", encoding="utf-8")
    result = documents.upload([str(big), str(small)], None, progress=lambda *a, **k: None)
    status = result[1]
    assert "big.txt was not added: larger than 1024 bytes" in status and "small.txt added" in status
    assert not big.exists() and not small.exists()  # temporary copies removed once handled
    assert not upload_dir.exists()
    with pytest.raises(QAError, match="could not be read"):
        documents._read(str(tmp_path / "gone.txt"))


# --- QA_AUTH over every route ---------------------------------------------------------------------------------

def walk(routes, prefix: str = ""):
    """(path, methods) of every route of a Starlette/FastAPI app, into included routers and mounted apps."""
    for route in routes:
        if hasattr(route, "effective_candidates"):  # FastAPI's included routers
            yield from walk(route.effective_candidates(), prefix)
        elif isinstance(route, Mount):
            yield from walk(route.routes, prefix + route.path)
        elif isinstance(route, WebSocketRoute):
            yield prefix + route.path, {"WEBSOCKET"}
        else:
            yield prefix + route.path, set(getattr(route, "methods", None) or {"GET"})


# Served without a login, on purpose: the login page and its assets; the API's own description.
PUBLIC = {"/", "/login", "/logout", "/favicon.ico", "/theme.css", "/robots.txt", "/manifest.json",
          "/gradio_api/theme.css", "/gradio_api/app_id", "/gradio_api/startup-events", "/docs", "/openapi.json",
          "/docs/oauth2-redirect", "/pwa_icon"}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


@pytest.fixture(scope="module")
def guarded():
    """The whole app (chat + APIs) with a chat login and no API key."""
    app = create_server(ScriptedEngine(Settings(auth=f"{LOGIN[0]}:{LOGIN[1]}")))
    with running(app) as url:
        yield app, url


@pytest.mark.slow
def test_every_route_needs_the_login(guarded):
    app, url = guarded
    routes = sorted(walk(app.routes))
    assert len(routes) > 60 and any(path.startswith("/gradio_api/queue") for path, _ in routes)
    served = []
    for path, methods in routes:
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            if method == "WEBSOCKET":
                continue
            body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            with httpx.stream(method, url + concrete(path), timeout=10, **body) as reply:
                if reply.status_code < 400 and path.rstrip("/") not in PUBLIC and not is_public(concrete(path)):
                    served.append(f"{method} {path} -> {reply.status_code}")
    assert served == [], "served without a login: " + "; ".join(served)


@pytest.mark.slow
def test_the_routes_that_matter_answer_once_logged_in(guarded):
    _, url = guarded
    basic = {"Authorization": "Basic " + base64.b64encode(f"{LOGIN[0]}:{LOGIN[1]}".encode()).decode()}
    wrong = {"Authorization": "Basic " + base64.b64encode(f"{LOGIN[0]}:nope".encode()).decode()}
    assert httpx.post(f"{url}/api/ask", json={"question": "Who met?"}).status_code == 401  # loopback is not enough
    assert httpx.post(f"{url}/api/ask", json={"question": "Who met?"}, headers=wrong).status_code == 401
    assert httpx.post(f"{url}/api/ask", json={"question": "Who met?"}, headers=basic).status_code == 200
    assert httpx.get(f"{url}/v1/models", headers=basic).status_code == 200
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/gradio_api/info").status_code == 401
        assert client.post("/login", data={"username": LOGIN[0], "password": LOGIN[1]}).status_code == 200
        assert client.get("/gradio_api/info").status_code == 200
        assert client.get("/config").status_code == 200


# --- /login rate limit ----------------------------------------------------------------------------------------

def test_failed_logins_make_a_client_wait_longer_each_time():
    now = [1000.0]
    throttle = LoginThrottle(app=None, clock=lambda: now[0])
    for _ in range(FREE_FAILURES):
        assert throttle.wait_for("10.0.0.1") == 0
        throttle.record("10.0.0.1", succeeded=False)
    waits = []
    for _ in range(4):
        waits.append(throttle.wait_for("10.0.0.1"))
        now[0] += waits[-1]
        throttle.record("10.0.0.1", succeeded=False)
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert throttle.wait_for("10.0.0.2") == 0  # per client
    now[0] += 16
    throttle.record("10.0.0.1", succeeded=True)
    assert throttle.wait_for("10.0.0.1") == 0  # a good login clears the record


@pytest.mark.slow
def test_thirty_wrong_passwords_in_a_row_are_slowed_down(guarded):
    _, url = guarded
    statuses = [httpx.post(f"{url}/login", data={"username": "mallory", "password": f"guess{n}"}).status_code
                for n in range(30)]
    assert statuses[:FREE_FAILURES] == [400] * FREE_FAILURES
    assert statuses.count(429) >= 30 - FREE_FAILURES - 1
    refused = httpx.post(f"{url}/login", data={"username": LOGIN[0], "password": LOGIN[1]})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "try again in" in refused.json()["error"]["message"]


# --- where it listens -----------------------------------------------------------------------------------------

def test_the_default_address_is_loopback_only(monkeypatch):
    for name in ("QA_HOST", "QA_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().host == "127.0.0.1"


@pytest.mark.slow
def test_the_server_socket_is_bound_to_loopback():
    settings = Settings()
    with running(create_server(ScriptedEngine(settings), chat=False), host=settings.host) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            assert sock.getpeername()[0] == "127.0.0.1"
        other = [address for *_, (address, *_) in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
                 if not address.startswith("127.")]
        for address in other[:1]:  # another interface of this machine, when it has one
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=2).close()


@pytest.mark.slow
def test_the_login_page_works_in_a_browser_and_lets_the_chat_load(guarded, browser):
    _, url = guarded
    page = browser.new_context(viewport={"width": 1366, "height": 800}).new_page()
    try:
        page.goto(url + "/")
        page.get_by_label("username").fill(LOGIN[0])
        page.get_by_label("password").fill(LOGIN[1])
        page.get_by_role("button", name="Login").click()
        page.wait_for_selector("#qa-chat")
        page.wait_for_selector("#qa-chats label")  # the login's chats, loaded through the guarded routes
    finally:
        page.context.close()
