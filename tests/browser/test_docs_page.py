"""``/docs`` in a real browser: Swagger UI, served by Gatehouse under the page's policy (no
inline script), shows every operation of ``/openapi.json``."""

from __future__ import annotations


def test_the_docs_page_renders_every_operation(live_server, page, shot, client):
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security" in message.text else None)
    page.goto(f"{live_server}/docs")
    page.wait_for_selector(".opblock")
    shot("docs")
    document = client.get("/openapi.json").json
    operations = sum(len(methods) for methods in document["paths"].values())
    assert page.locator(".opblock").count() == operations
    assert page.get_by_text("/admin/api/v1/users/{sub}").first.is_visible()
    assert not violations
