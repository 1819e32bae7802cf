"""The inventory changes (and must be re-sent) exactly when a probe learned something new."""

from agent.inventory import InventoryBook
from peers.devices import make_device
from wire.schema import DeviceIdentity


def test_inventory_lists_configured_devices_with_parents() -> None:
    book = InventoryBook(
        [make_device(id="sw-01", **{"class": "switch"}), make_device(parent="sw-01")],
        agent_version="9.9",
    )
    inventory = book.snapshot()
    assert inventory.agent_version == "9.9"
    assert [(d.id, d.parent_id) for d in inventory.devices] == [
        ("sw-01", None),
        ("cam-01", "sw-01"),
    ]


def test_learning_new_identity_changes_digest_and_repeat_does_not() -> None:
    book = InventoryBook([make_device()], agent_version="1")
    before = book.digest()
    assert book.learn("cam-01", DeviceIdentity(vendor="Axis", model="P3245"))
    after = book.digest()
    assert after != before
    assert not book.learn("cam-01", DeviceIdentity(vendor="Axis"))
    assert book.digest() == after
    assert book.learn("cam-01", DeviceIdentity(firmware="10.12"))
    identity = book.snapshot().devices[0].identity
    assert (identity.vendor, identity.model, identity.firmware) == ("Axis", "P3245", "10.12")
