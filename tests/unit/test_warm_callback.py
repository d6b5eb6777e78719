"""callback_plugins/mi_warm.py: the controller loads the Jinja plugins once, before it forks
the workers, so that no task's worker loads them again."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A filter plugin file that writes the loading process's PID each time it is imported.
PROBE = """
import os
with open(os.environ["MI_WARM_PROBE"], "a") as f:
    f.write(f"{os.getpid()}\\n")


class FilterModule:
    def filters(self):
        return {"mi_warm_probe": lambda v: v}
"""

PLAY = """
- name: Five tasks that template a filter
  hosts: localhost
  gather_facts: false
  tasks:
""" + "".join(f"""
    - name: Task {i}
      ansible.builtin.set_fact:
        value_{i}: "{{{{ '{i}' | mi_warm_probe | int }}}}"
""" for i in range(5))


def _loads(tmp_path: Path, warm: str) -> list[str]:
    plugins = tmp_path / "filters"
    plugins.mkdir(exist_ok=True)
    (plugins / "mi_warm_probe.py").write_text(PROBE)
    probe = tmp_path / f"loads-{warm}.txt"
    book = tmp_path / "play.yml"
    book.write_text(PLAY)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_FILTER_PLUGINS=f"{ROOT / 'filter_plugins'}:{plugins}", MI_WARM_PROBE=str(probe),
               MI_WARM=warm)
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           str(book)], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return probe.read_text().split()


def test_the_workers_inherit_the_filters_the_controller_loaded(tmp_path):
    warm = _loads(tmp_path, "1")
    assert len(warm) == 1, warm  # once, in the controller, before any worker forked


def test_without_it_every_worker_loads_them_again(tmp_path):
    cold = _loads(tmp_path, "0")
    assert len(set(cold)) >= 5, cold  # the baseline the callback removes: one load per worker


@pytest.fixture(scope="module")
def plugin_loaders():
    """ansible's plugin loaders, set up once per process (a second set-up only warns that the
    collection finder is already configured)."""
    from ansible.plugins import loader

    loader.init_plugin_loader()
    return loader


@pytest.mark.parametrize("loader_name", ["filter_loader", "test_loader"])
def test_warm_fills_the_loader_cache_once(plugin_loaders, loader_name):
    sys.path.insert(0, str(ROOT / "callback_plugins"))
    import mi_warm

    plugin_loader = getattr(plugin_loaders, loader_name)
    plugin_loader._clear_caches()
    assert mi_warm.warm() is True
    assert plugin_loader._cached_non_collection_wrappers
    assert mi_warm.warm() is False
