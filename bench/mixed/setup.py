#!/usr/bin/env python3
"""Tenants, providers, flows and request files of bench/mixed, through PyTake's API.

    setup.py tenants BASE EMAIL PASSWORD STATE.json INGEST_PHONE FOLLOWUP_PHONE WRITE_THREADS
        Signs in; creates the ingestion tenant (a Meta number, no flow: pure ingestion, and one
        unpublished draft flow per write thread, edited by the writes), the follow-up tenant
        (follow-ups after 15 minutes of silence) and saves them in STATE.json. Prints shell
        assignments: TOKEN, INGEST_TENANT, FOLLOWUP_TENANT.
    setup.py files BASE STATE.json READS.tsv WRITES.tsv WRITE_THREADS
        After the ingestion tenant has conversations: writes the request files of mixed.lua (again
        before each phase: the drafts' revisions move on).
"""
import datetime
import json
import sys
import urllib.error
import urllib.request


def call(base, token, method, path, body=None, headers=None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"content-type": "application/json", **({"authorization": "Bearer " + token} if token else {}),
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        sys.exit("bench/mixed setup: %s %s answered %d: %s" % (method, path, error.code, error.read().decode(errors="replace")))


def node(id, type, **config):
    return {"id": id, "type": type, "config": config, "position": {"x": 0, "y": 0}}


# A small flow for the drafts the writes save (valid, so a save also runs the validator's happy path).
DRAFT = {
    "nodes": [node("start", "start"), node("hello", "send_message", text="Olá {{customer_name}}! Rascunho {n}."), node("end", "end")],
    "edges": [{"from": "start", "outcome": "next", "to": "hello"}, {"from": "hello", "outcome": "next", "to": "end"}],
}


def tenants(base, email, password, state_path, ingest_phone, followup_phone, write_threads):
    token = call(base, None, "POST", "/api/v1/auth/login", {"email": email, "password": password})["access_token"]
    ingest = call(base, token, "POST", "/api/v1/tenants", {"name": "Mixed ingest", "slug": "mixed-ingest", "timezone": "America/Sao_Paulo"})["id"]
    provider = call(base, token, "POST", "/api/v1/tenants/%s/providers" % ingest, {
        "provider_type": "meta", "name": "ingest", "token": "EAAG-mixed-ingest", "config": {"phone_number_id": ingest_phone}})["id"]
    drafts = []
    for n in range(write_threads):
        flow = call(base, token, "POST", "/api/v1/tenants/%s/flows" % ingest,
                    {"name": "Draft %d" % n, "definition": json.loads(json.dumps(DRAFT).replace("{n}", str(n)))})
        drafts.append({"id": flow["id"], "revision": flow["revision"]})
    followup = call(base, token, "POST", "/api/v1/tenants", {"name": "Mixed follow-up", "slug": "mixed-followup", "timezone": "America/Sao_Paulo"})["id"]
    call(base, token, "PATCH", "/api/v1/tenants/%s" % followup, {"tools_config": {"followup": {
        "enabled": True, "after_hours": 0.25, "max_attempts": 10, "message": "Oi {{customer_name}}, ainda por aí?"}}})
    call(base, token, "POST", "/api/v1/tenants/%s/providers" % followup, {
        "provider_type": "meta", "name": "followup", "token": "EAAG-mixed-followup", "config": {"phone_number_id": followup_phone}})
    with open(state_path, "w") as f:
        json.dump({"token": token, "ingest": ingest, "provider": provider, "drafts": drafts, "followup": followup}, f)
    print("TOKEN=%s INGEST_TENANT=%s FOLLOWUP_TENANT=%s" % (token, ingest, followup))


def files(base, state_path, reads_path, writes_path, write_threads):
    state = json.load(open(state_path))
    token, tenant = state["token"], state["ingest"]
    t = "/api/v1/tenants/" + tenant
    conversations, cursor = [], None
    while len(conversations) < 300:
        page = call(base, token, "GET", t + "/conversations?limit=100" + ("&cursor=" + cursor if cursor else ""))
        conversations += [c["id"] for c in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    if not conversations:
        sys.exit("bench/mixed setup: the ingestion tenant has no conversations after seeding")
    # The revision each draft is at now (an earlier phase may have saved it).
    drafts = [{"id": d["id"], "revision": call(base, token, "GET", t + "/flows/" + d["id"])["revision"]}
              for d in state["drafts"][:write_threads]]
    today = datetime.date.today()
    since = today - datetime.timedelta(days=29)
    with open(reads_path, "w") as f:
        for i, c in enumerate(conversations):
            f.write("list_conversations\t%s/conversations?limit=20%s\n" % (t, "&status=open" if i % 2 else ""))
            f.write("get_conversation\t%s/conversations/%s\n" % (t, c))
            f.write("list_messages\t%s/conversations/%s/messages?limit=50\n" % (t, c))
            f.write("metrics_daily\t%s/metrics/daily?from=%s&to=%s\n" % (t, since, today))
            f.write("credentials\t%s/credentials/meta\n" % t)
    with open(writes_path, "w") as f:
        for i, c in enumerate(conversations):
            f.write('*\treply\tPOST\t%s/conversations/%s/messages\t-\t{"text":"Olá! Aqui é a equipe, resposta {n}."}\n' % (t, c))
            f.write('*\thandover\tPOST\t%s/conversations/%s/handover\t-\t{"paused":{bool}}\n' % (t, c))
            f.write('*\ttenant_settings\tPATCH\t%s\t-\t{"name":"Mixed ingest {mod100}","timezone":"America/Sao_Paulo"}\n' % t)
            f.write('*\tprovider_update\tPATCH\t%s/providers/%s\t-\t{"priority":{mod100}}\n' % (t, state["provider"]))
            # Each thread saves its own draft (If-Match: the revision its last save answered).
            for owner, draft in enumerate(drafts):
                body = json.dumps({"name": "Draft %d edit {n}" % owner, "definition": DRAFT}, ensure_ascii=False)
                f.write("%d\tflow_draft\tPUT\t%s/flows/%s\t%d\t%s\n" % (owner, t, draft["id"], draft["revision"], body))


if __name__ == "__main__":
    if len(sys.argv) == 9 and sys.argv[1] == "tenants":
        tenants(*sys.argv[2:8], int(sys.argv[8]))
    elif len(sys.argv) == 7 and sys.argv[1] == "files":
        files(*sys.argv[2:6], int(sys.argv[6]))
    else:
        sys.exit(__doc__)
