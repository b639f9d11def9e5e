"""Project-specific start-up steps of the local runtime (edit freely).

`before_start(ctx)` runs once per start (`python -m infra.local.runtime`, `LocalRuntime.start()`
and the in-process path of `python -m infra.local.invoke`), after the AWS endpoint is up
and before the template's resources are created and the functions are imported. Use it to
start simulators of external systems, run DB migrations, and adjust what follows:

  ctx.repo_root         Path of the repository
  ctx.env               dict: os.environ as resolved so far (DATABASE_URL, DB_POOL_SIZE,
                        AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, ... already set)
  ctx.aws_endpoint_url  where AWS calls go (moto / LocalStack)
  ctx.region, ctx.account_id
  ctx.env_overrides     dict to fill: set in os.environ afterwards; they win over template values
  ctx.secret_overrides  dict to fill: {secret logical id: SecretString}, e.g. the WeChat app
                        secrets a simulator expects (replaces the secret's value locally)
  ctx.parameters        dict to fill: template parameter overrides (e.g. WeChatApiBase)
  ctx.on_stop(fn)       register a callable run when the runtime stops (stop simulators here)

Keep it free of import-time side effects: it is imported by every start.
"""
from __future__ import annotations


def before_start(ctx) -> None:  # noqa: ARG001 - no project steps yet
    """No-op until the project plugs its simulators and migrations in here."""
