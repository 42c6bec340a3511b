"""Fixtures for the hybrid inventory tests: fixture sources and the plugin loaded through Ansible's loader."""

import sys
from pathlib import Path

import pytest
from hybrid_fixtures import Lab

COLLECTIONS = Path(__file__).resolve().parents[4] / "collections"


@pytest.fixture
def lab(tmp_path):
    return Lab(tmp_path)


@pytest.fixture(scope="session")
def inventory_loader():
    """Ansible's inventory plugin loader, able to load changeward.hybrid.hybrid from the checkout."""
    from ansible.plugins.loader import init_plugin_loader
    from ansible.plugins.loader import inventory_loader as loader
    from ansible.utils.collection_loader import AnsibleCollectionConfig

    if AnsibleCollectionConfig.collection_finder is None:
        # Other unit tests import the collection as plain namespace packages; the collection finder
        # must load those packages itself (it attaches collection metadata to them).
        for name in [m for m in sys.modules if m == "ansible_collections" or m.startswith("ansible_collections.")]:
            del sys.modules[name]
        init_plugin_loader([str(COLLECTIONS)])
    plugin = loader.get("changeward.hybrid.hybrid")
    assert plugin is not None, f"changeward.hybrid.hybrid cannot be loaded from {COLLECTIONS}"
    return loader
