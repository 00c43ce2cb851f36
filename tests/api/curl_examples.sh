# The curl examples of docs/api.md ("Examples"), in the order test_serve_curl.py replays them;
# that test also checks that docs/api.md shows these very lines, in this order.
# A "#> message" line gives the success message the call before it must answer.
TOKEN=$(evo-relay token --tenant acme --role ADMIN --user ana)
curl -s -X POST http://127.0.0.1:3001/api/instance-management/instances -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"instanceName": "minha-instancia"}'
#> Instância criada com sucesso
curl -s -X POST http://127.0.0.1:3001/api/instance-management/connect/minha-instancia -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"number": "5511999998888"}'
#> Conexão iniciada com sucesso
curl -s http://127.0.0.1:3001/api/instance-management/instances -H "Authorization: Bearer $TOKEN"
curl -s -X POST http://127.0.0.1:3001/api/instance-management/websocket/minha-instancia -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"enabled": true, "events": ["MESSAGES_UPSERT", "CONNECTION_UPDATE"]}'
#> WebSocket configurado com sucesso
curl -s http://127.0.0.1:3001/api/instance-management/websocket/minha-instancia -H "Authorization: Bearer $TOKEN"
curl -s -X POST http://127.0.0.1:3001/api/instance-management/webhook/minha-instancia -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"enabled": true, "url": "https://example.com/hook", "events": ["MESSAGES_UPSERT"]}'
#> Webhook configurado com sucesso
curl -s http://127.0.0.1:3001/api/instance-management/webhook/minha-instancia -H "Authorization: Bearer $TOKEN"
curl -s http://127.0.0.1:3001/api/instance-management/status/minha-instancia -H "Authorization: Bearer $TOKEN"
curl -s -X POST http://127.0.0.1:3001/api/instance-management/restart/minha-instancia -H "Authorization: Bearer $TOKEN"
#> Instância reiniciada com sucesso
curl -s -X POST http://127.0.0.1:3001/api/instance-management/logout/minha-instancia -H "Authorization: Bearer $TOKEN"
#> Logout realizado com sucesso
curl -s 'http://127.0.0.1:3001/api/instance-management/audit?instanceName=minha-instancia&limit=20' -H "Authorization: Bearer $TOKEN"
curl -s -X DELETE http://127.0.0.1:3001/api/instance-management/delete/minha-instancia -H "Authorization: Bearer $TOKEN"
#> Instância deletada com sucesso
curl -s http://127.0.0.1:3001/api/openapi.json
