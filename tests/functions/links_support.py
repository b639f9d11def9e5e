"""What the tests of the patient's links to other systems share: a call of LinksFunction."""
from tests.conftest import api_event, call


def links(functions, token, method, path, body=None, resource=None, params=None, query=None):
    """(status, answer) of one call of LinksFunction as the patient holding `token`."""
    event = api_event(method, path, token=token, body=body, resource=resource, path_parameters=params)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return call(functions, "LinksFunction", event)
