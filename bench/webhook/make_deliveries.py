"""Writes N signed Meta webhook deliveries, one per line ("signature<TAB>body"), for bench/run.

Every body is distinct (its own wamid and text); customers cycle through CUSTOMERS numbers.
Usage: make_deliveries.py APP_SECRET PHONE_NUMBER_ID COUNT CUSTOMERS RUN_ID > deliveries.tsv
"""
import hashlib
import hmac
import sys
import time

secret, phone, count, customers, run = sys.argv[1].encode(), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
now = int(time.time())
out = sys.stdout
for n in range(count):
    customer = 5511900000000 + n % customers
    body = (
        '{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":'
        '{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"%s"},'
        '"contacts":[{"profile":{"name":"Cliente %d"},"wa_id":"%d"}],'
        '"messages":[{"from":"%d","id":"wamid.bench-%s-%d","timestamp":"%d","type":"text",'
        '"text":{"body":"Mensagem %d: quero saber o preco do plano"}}]}}]}]}'
    ) % (phone, n % customers, customer, customer, run, n, now + n // 1000, n)
    signature = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    out.write("sha256=%s\t%s\n" % (signature, body))
