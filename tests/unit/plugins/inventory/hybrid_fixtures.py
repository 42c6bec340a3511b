"""Fixture sources in the formats the lab writes (imported by name: conftest modules are shared by name)."""

import json

import yaml

CLOUD_EXPORT = {
    "provider": "aws",
    "subnets": [
        {"cidr": "198.18.11.0/24", "region": "eu-west-1", "az": "eu-west-1a"},
        {"cidr": "198.18.12.0/24", "region": "eu-west-1", "az": "eu-west-1b"},
    ],
    "instances": [
        {
            "name": "cloud-euw1a-01",
            "private_ip": "198.18.11.10",
            "region": "eu-west-1",
            "tags": {
                "Name": "cloud-euw1a-01",
                "tenant": "acme",
                "services": "demo,web",
                "data_class": "none",
                "criticality": "high",
                "owner_team": "sre-eu",
                "rollback_capability": "full",
            },
        },
        {
            "name": "cloud-euw1b-01",
            "private_ip": "198.18.12.10",
            "region": "eu-west-1",
            "tags": {"tenant": "acme", "services": "web"},
        },
    ],
}

ONPREM = {
    "datacenters": {
        "dc1": {
            "region": "onprem-eu",
            "subnet": "198.18.31.0/24",
            "provider": "vmware",
            "hosts": {
                "onprem-dc1-01": {
                    "address": "198.18.31.10",
                    "labels": {"tenant": "acme", "criticality": "critical", "rollback_capability": "partial"},
                }
            },
        }
    }
}

EDGE = {
    "sites": [
        {
            "site": "edge-site-1",
            "region": "eu-central",
            "subnet": "198.18.101.0/24",
            "provider": "bare-metal",
            "hosts": [{"name": "edge-s1-01", "address": "198.18.101.10", "labels": {"services": ["agent"], "ring": 1}}],
        }
    ]
}


class Lab:
    """Writes sources and a plugin config into one directory."""

    def __init__(self, root):
        self.root = root

    def json(self, name, data):
        (self.root / name).write_text(json.dumps(data))
        return name

    def yaml(self, name, data):
        (self.root / name).write_text(yaml.safe_dump(data))
        return name

    def text(self, name, text):
        (self.root / name).write_text(text)
        return name

    def standard(self):
        """The three lab sources; returns the `sources` option for them."""
        return [
            {"type": "cloud_export", "path": self.json("aws.json", CLOUD_EXPORT)},
            {"type": "onprem_yaml", "path": self.yaml("onprem.yml", ONPREM)},
            {"type": "edge_sites", "path": self.yaml("edge.yml", EDGE)},
        ]

    def config(self, sources, name="lab.hybrid.yml", **options):
        options = {"plugin": "changeward.hybrid.hybrid", "sources": sources, **options}
        path = self.root / name
        path.write_text(yaml.safe_dump(options))
        return str(path)
