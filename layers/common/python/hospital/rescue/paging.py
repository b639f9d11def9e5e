"""How many cases a page of a patient's own list holds: by default, and at most (pure: a
route declares them, and loading a route must stay light)."""

PAGE_DEFAULT, PAGE_MAX = 20, 50
