"""Seeds provider instances for bench/run through the API; prints the id of a legacy-only tenant."""
import json
import sys
import urllib.request

base, token, bench_tenant, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def call(method, path, body):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
                                     headers={"authorization": "Bearer " + token, "content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def providers(tenant):
    for priority in (1, 5, 3):
        call("POST", f"/api/v1/tenants/{tenant}/providers",
             {"provider_type": "uazapi", "name": f"line-{priority}", "priority": priority,
              "api_url": "https://uazapi.example", "token": f"instance-token-{tenant[:8]}-{priority}"})
    call("POST", f"/api/v1/tenants/{tenant}/providers",
         {"provider_type": "meta", "name": "meta", "token": "EAAG-bench-token-" + tenant[:8],
          "config": {"phone_number_id": str(int(tenant[:8], 16))}})


providers(bench_tenant)
for i in range(count):
    tenant = call("POST", "/api/v1/tenants", {"name": f"Seed {i}", "slug": f"seed-{i}"})["id"]
    providers(tenant)
legacy = call("POST", "/api/v1/tenants", {
    "name": "Legacy", "slug": "legacy-bench", "api_url": "https://legacy.example", "whatsapp_provider": "uazapi",
    "tools_config": {"whatsapp": {"url": "https://tools.example", "key": "legacy-tools-key-0001"}}})["id"]
print(legacy)
