"""Creates the engine benchmark's tenant, Meta provider and published 10-node flow; prints the tenant id.

Every customer message runs 10 nodes (start, set_variable, condition, send_message, set_variable,
condition, set_variable, send_message, condition, end): two replies per turn.
Usage: setup_flow.py BASE_URL TOKEN PHONE_NUMBER_ID
"""
import json
import sys
import urllib.request

base, token, phone = sys.argv[1], sys.argv[2], sys.argv[3]


def call(method, path, body=None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"authorization": "Bearer " + token, "content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


tenant = call("POST", "/api/v1/tenants", {"name": "Engine bench", "slug": "engine-bench", "timezone": "America/Sao_Paulo"})["id"]
call("POST", "/api/v1/tenants/%s/providers" % tenant,
     {"provider_type": "meta", "name": "engine", "token": "EAAG-engine-bench", "config": {"phone_number_id": phone}})


def node(id, type, **config):
    return {"id": id, "type": type, "config": config, "position": {"x": 0, "y": 0}}


def edge(a, b, outcome="next"):
    return {"from": a, "outcome": outcome, "to": b}


nodes = [
    node("start", "start"),
    node("topic", "set_variable", variable="topic", value="{{last_message}}"),
    node("asks_price", "condition", variable="topic", operator="contains", value="preco"),
    node("quote", "send_message", text="Olá {{customer_name}}! O plano Pro custa R$ 99 por mês."),
    node("quoted", "set_variable", variable="quoted", value="yes"),
    node("was_quoted", "condition", variable="quoted", operator="equals", value="yes"),
    node("step", "set_variable", variable="step", value="2"),
    node("offer", "send_message", text="Quer assinar? Responda SIM, {{customer_name}}."),
    node("at_step", "condition", variable="step", operator="equals", value="2"),
    node("end", "end"),
]
edges = [
    edge("start", "topic"), edge("topic", "asks_price"), edge("asks_price", "quote", "true"), edge("asks_price", "end", "false"),
    edge("quote", "quoted"), edge("quoted", "was_quoted"), edge("was_quoted", "step", "true"), edge("was_quoted", "end", "false"),
    edge("step", "offer"), edge("offer", "at_step"), edge("at_step", "end", "true"), edge("at_step", "end", "false"),
]
flow = call("POST", "/api/v1/tenants/%s/flows" % tenant, {"name": "Pricing", "definition": {"nodes": nodes, "edges": edges}})
if flow["problems"]:
    sys.exit("the benchmark flow is invalid: %s" % flow["problems"])
call("POST", "/api/v1/tenants/%s/flows/%s/publish" % (tenant, flow["id"]))
print(tenant)
