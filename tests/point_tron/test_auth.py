"""Login, tokens, the API guard and the login rate limit."""

from __future__ import annotations

import time

import jwt
import pytest
from starlette.routing import Route

from point_tron import auth
from point_tron.auth import AuthUser, RateLimiter, issue_token
from tests.point_tron.conftest import ADMIN, JWT_SECRET, Service

pytestmark = pytest.mark.anyio


async def test_login_returns_a_token_that_verifies(service: Service) -> None:
    response = await service.client.post(
        "/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["user"] == {"id": 1, "username": "admin"}
    claims = jwt.decode(data["token"], JWT_SECRET, algorithms=["HS256"])
    assert claims["userId"] == 1 and claims["username"] == "admin"
    assert claims["exp"] - claims["iat"] == 7 * 86400  # JWT_EXPIRES_IN default 7d
    response = await service.client.post(
        "/api/auth/verify", headers={"Authorization": f"Bearer {data['token']}"}
    )
    assert response.json() == {
        "success": True,
        "data": {"valid": True, "user": {"id": 1, "username": "admin"}},
    }


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"username": "admin", "password": "wrong"}, 401, "wrong username or password"),
        ({"username": "nobody", "password": "admin123"}, 401, "wrong username or password"),
        ({"username": "admin", "password": "x" * 100}, 401, "wrong username or password"),
        ({"username": "admin"}, 400, "username and password are required"),
        ({"password": "admin123"}, 400, "username and password are required"),
        ({"username": "", "password": ""}, 400, "username and password are required"),
        ({"username": 1, "password": 2}, 400, "username and password are required"),
    ],
)
async def test_login_failures(service: Service, body: dict, status: int, error: str) -> None:
    response = await service.client.post("/api/auth/login", json=body)
    assert response.status_code == status
    code = "wrong_credentials" if status == 401 else "credentials_required"
    assert response.json() == {"success": False, "error": error, "code": code}


def api_routes(service: Service) -> list[tuple[str, str]]:
    out = []
    for route in service.app.routes:
        if isinstance(route, Route) and route.path.startswith("/api/"):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                out.append((method, route.path))
    return out


async def test_every_api_route_but_login_needs_a_token(service: Service) -> None:
    routes = api_routes(service)
    assert len(routes) >= 14
    expired = issue_token(AuthUser(1, "admin"), JWT_SECRET, 60, now=time.time() - 3600)
    forged = issue_token(AuthUser(1, "admin"), "not-the-secret-" * 3, 3600)
    ghost = issue_token(AuthUser(99, "ghost"), JWT_SECRET, 3600)  # no such user
    bad_headers = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": service.token},  # no scheme
        {"Authorization": f"Basic {service.token}"},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {ghost}"},
    ]
    for method, path in routes:
        if path == "/api/auth/login":
            continue
        for headers in bad_headers:
            response = await service.client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["success"] is False
        ok = await service.client.request(method, path, headers=service.auth, json={})
        assert ok.status_code != 401, (method, path)
    # unknown /api routes: 401 without a token, JSON 404 with one
    assert (await service.client.get("/api/nothing/here")).status_code == 401
    assert (await service.client.get("/health")).status_code == 200


async def test_login_rate_limit_200_per_minute(service: Service) -> None:
    for i in range(200):
        response = await service.client.post("/api/auth/login", json={})
        assert response.status_code == 400, i
    response = await service.client.post(
        "/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
    )
    assert response.status_code == 429
    assert response.json()["success"] is False
    assert 1 <= int(response.headers["retry-after"]) <= 60
    # other routes are not limited
    assert (await service.client.get("/health")).status_code == 200


def test_rate_limiter_window_and_keys() -> None:
    now = [1000.0]
    limiter = RateLimiter(3, 60.0, clock=lambda: now[0])
    assert [limiter.hit("a") for _ in range(3)] == [None, None, None]
    assert limiter.hit("a") == pytest.approx(60.0)
    assert limiter.hit("b") is None  # per client
    now[0] += 45
    assert limiter.hit("a") == pytest.approx(15.0)
    now[0] += 15
    assert limiter.hit("a") is None  # a new window


def test_passwords_hash_and_verify() -> None:
    hashed = auth.hash_password("s3cret")
    assert hashed.startswith("$2b$10$")
    assert auth.verify_password("s3cret", hashed)
    assert not auth.verify_password("s3cret!", hashed)
    assert not auth.verify_password("s3cret", "not a hash")
    assert not auth.verify_password("x" * 73, hashed)
    with pytest.raises(ValueError, match="72-byte"):
        auth.hash_password("x" * 73)
    # a hash made by the original Node app (bcryptjs, $2a$10$) still verifies
    node_hash = "$2a$10$" + hashed[7:]
    assert auth.verify_password("s3cret", node_hash)


async def test_default_admin_is_created_once(service: Service) -> None:
    assert await auth.ensure_default_admin(service.db, "admin", "changed") is False
    assert await auth.ensure_default_admin(service.db, "ops", "pw-ops") is True
    response = await service.client.post(
        "/api/auth/login", json={"username": "admin", "password": "admin123"}
    )
    assert response.status_code == 200  # the env password changing later has no effect
    response = await service.client.post(
        "/api/auth/login", json={"username": "ops", "password": "pw-ops"}
    )
    assert response.json()["data"]["user"] == {"id": 2, "username": "ops"}


def test_bearer_token_parsing() -> None:
    assert auth.bearer_token("Bearer abc") == "abc"
    assert auth.bearer_token("bearer abc") == "abc"
    assert auth.bearer_token("abc") is None
    assert auth.bearer_token("Bearer ") is None
    assert auth.bearer_token(None) is None
