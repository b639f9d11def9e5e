"""Who is calling: roles, session tokens, WeChat sign-in."""
