"""Local runtime: runs the functions of template.yaml on one machine.

Entry points:
  python -m infra.local.runtime            # API on :3000, Lambda-invoke endpoint on :3001
  python -m infra.local.invoke FN EVENT    # one invocation, like `sam local invoke`

Everything about routes, queues, schedules, keys and secrets is read from
template.yaml; nothing here is specific to one function.
"""
