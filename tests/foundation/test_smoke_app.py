from aiohttp.test_utils import TestClient

from relay.app import create_app
from relay.config import Settings


async def test_healthz_readyz_and_json_404(aiohttp_client, settings: Settings) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"]["database"] is True
    missing = await client.get("/nope")
    assert missing.status == 404
    body = await missing.json()
    assert body == {"success": False, "message": "Rota não encontrada", "code": "NOT_FOUND"}
