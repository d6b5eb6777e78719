"""The whole baseline on each Debian release: one behaviour per role, end to end."""


def test_usb_storage_cannot_load(host):
    assert "install /bin/false" in host.run("modprobe -n -v usb-storage").stdout
    assert host.run("modprobe usb-storage").rc != 0


def test_usbguard_rules_allow_the_lab_reader(host):
    rules = host.check_output("usbguard-rule-parser -f /etc/usbguard/rules.conf")
    assert "allow id 08e6:4433" in rules
    assert "block with-interface one-of { 08:*:* }" in rules
