"""Local runtime: runs the functions of template.yaml on one machine.

Entry points:
  python -m infra.local.runtime            # API :3000, Lambda invoke :3001, WebSocket APIs :3002
  python -m infra.local.invoke FN EVENT    # one invocation, like `sam local invoke`

Everything about routes, WebSocket APIs, queues, schedules, keys and secrets is read from
template.yaml; nothing here is specific to one function.
"""
