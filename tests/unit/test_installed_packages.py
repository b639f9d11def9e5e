"""The interpreter running the tests has every package of the dev lock at its pinned version:
on CPython 3.11, which the locks are resolved for, and on 3.13 (`make compat`), which installs
from the same locks. pip's hash-checking mode already refuses to install anything the lock does
not pin, so together the environment is the lock, whichever interpreter runs it."""
from importlib import metadata

from packaging.utils import canonicalize_name

from tests.template.test_dependency_locks import DEV_LOCK, read_lock


def test_every_locked_package_is_installed_at_its_pin():
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    differ = {name: (entry.version, installed.get(name)) for name, entry in read_lock(DEV_LOCK).items()
              if installed.get(name) != entry.version}
    assert differ == {}, "(locked, installed): run make (it reinstalls from the locks)"
