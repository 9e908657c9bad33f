"""The suite runs against the INSTALLED wheel (`bindings/python/test.sh` installs it in a
virtual environment), not against files in the source tree."""

import sysconfig
from pathlib import Path

import tollgate
from conftest import REPO


def test_module_comes_from_the_installed_wheel():
    module = Path(tollgate.__file__).resolve()
    site = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    assert any(s in module.parents for s in site), f"{module} is not in {site}"
    # The native library was installed with it.
    assert list(module.parent.glob("libtollgate_uniffi.*")), list(module.parent.iterdir())
    assert REPO not in module.parents or ".venv" in module.parts


def test_version_is_the_crate_version():
    cargo = (REPO / "Cargo.toml").read_text()
    assert f'version = "{tollgate.version()}"' in cargo
