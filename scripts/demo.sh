#!/usr/bin/env bash
# make demo: harden a local container terminal (mi-demo), then audit it in check mode.
# Expects the virtualenv active and the Docker engine and bookworm image ready (the
# Makefile sees to both). Safe to run again: the second converge changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export ANSIBLE_CONFIG=$PWD/ansible.cfg
INV=(-i inventories/example -i inventories/demo --limit mi-demo)

echo "== 1/3 demo terminal: container mi-demo (Debian 12, systemd)"
ansible-playbook playbooks/demo_terminal.yml
echo "== 2/3 harden: playbooks/site.yml on mi-demo"
ansible-playbook "${INV[@]}" playbooks/site.yml
echo "== 3/3 audit: the same plays in check mode, report per control"
ansible-playbook "${INV[@]}" playbooks/audit.yml
echo "The demo terminal is left running: docker exec -it mi-demo bash; remove it with make demo-clean"
