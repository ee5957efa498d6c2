"""A connection PostgreSQL ends under a request that has already done its work (a restart, a
terminated backend): closing the session's transaction then fails, and that must neither turn
the answer into an error nor leave a dead connection for the next request."""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import create_engine, text


def test_a_connection_ended_before_the_request_ends_keeps_the_answer(app, services, database_url):
    admin = create_engine(database_url)

    def read_then_lose_the_connection():
        session = services.db.session()
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()  # a transaction is open
        with admin.begin() as connection:  # what a server restart does to every connection
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return jsonify({"read": True})

    app.add_url_rule("/probe/read", view_func=read_then_lose_the_connection)
    client = app.test_client()
    try:
        response = client.get("/probe/read")  # the closing rollback meets a closed connection
        assert (response.status_code, response.get_json()) == (200, {"read": True})
        assert client.get("/probe/read").status_code == 200  # a fresh connection, not the dead one
        assert (
            client.get("/admin/api/v1/auth-sources", headers={"Authorization": "Bearer test-admin-token"}).status_code
            == 200
        )
    finally:
        admin.dispose()
