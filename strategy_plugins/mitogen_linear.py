"""Mitogen's linear strategy, opt-in: ``ANSIBLE_STRATEGY=mitogen_linear``.

Mitogen (``mitogen`` in requirements.txt) runs each task's module in one Python process it
keeps on the terminal for the whole run, instead of starting a Python per task over SSH.
docs/BENCHMARKS.md has the figures (the audit of one terminal 2.4 to 2.6 times faster, the same
report) and why it is not the default.

Mitogen's own ``ansible_mitogen/plugins/strategy`` directory sits inside the installed
package, whose path depends on the virtualenv; this module is the same proxy, reached
through ``strategy_plugins`` in ansible.cfg: it imports the real strategy under its
canonical name so that ansible's plugin loader does not load it twice.
"""

from __future__ import annotations

try:
    import ansible_mitogen.loaders
    import ansible_mitogen.strategy
except ImportError as exc:  # pragma: no cover - a venv without requirements.txt
    from ansible.errors import AnsibleError

    raise AnsibleError(
        "ANSIBLE_STRATEGY=mitogen_linear needs the mitogen package of requirements.txt "
        f"in the controller's Python ({exc}); unset ANSIBLE_STRATEGY to use ansible's linear strategy"
    ) from exc

_Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Base):
    """ansible's linear strategy with mitogen's connection and module execution."""
