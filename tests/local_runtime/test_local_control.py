"""The control server's demo-data endpoint: a JSON document back with the project's
sample-event placeholders filled (the fixture project has no prepare hook: unchanged)."""
import requests


def test_prepare_returns_the_document_filled_and_refuses_bad_json(runtime):
    document = {"token": "${DEV_SOMETHING}", "n": [1, 2]}
    answer = requests.post(f"{runtime.control_url}/local/prepare", json=document, timeout=5)
    assert answer.status_code == 200
    assert answer.json() == document
    bad = requests.post(f"{runtime.control_url}/local/prepare", data=b"{not json", timeout=5)
    assert bad.status_code == 400

