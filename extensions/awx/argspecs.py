"""Write the option specs of the awx.awx modules the controller content uses, from the `ansible` package.

The `ansible` package on PyPI bundles the awx.awx collection; its modules document their options
(DOCUMENTATION: type, elements, choices, required, aliases, suboptions), which ansible-test holds to the
modules' argument specs. The unit test validates extensions/awx/controller.yml against the written file, so it
runs without the 60 MB package. Refresh it with:

    pip download --no-deps -d build/ansible ansible
    python extensions/awx/argspecs.py build/ansible/ansible-*.whl > extensions/awx/awx_argspecs.json
"""

import json
import re
import sys
import zipfile

import yaml

MODULES = ("credential_type", "credential", "job_template", "workflow_job_template", "schedule")
KEEP = ("type", "elements", "choices", "required", "aliases", "suboptions")


def options(spec):
    out = {}
    for name, opt in (spec or {}).items():
        kept = {key: opt[key] for key in KEEP if key in opt and key != "suboptions"}
        kept.setdefault("type", "str")
        if opt.get("suboptions"):
            kept["suboptions"] = options(opt["suboptions"])
        out[name] = kept
    return out


def main(wheel):
    base = "ansible_collections/awx/awx/"
    with zipfile.ZipFile(wheel) as whl:
        manifest = json.loads(whl.read(base + "MANIFEST.json"))["collection_info"]
        out = {"source": f"awx.awx {manifest['version']} in {wheel.rsplit('/', 1)[-1]}", "modules": {}}
        for module in MODULES:
            text = whl.read(f"{base}plugins/modules/{module}.py").decode()
            doc = re.search(r'DOCUMENTATION = r?(["\']{3})(.*?)\1', text, re.S).group(2)
            out["modules"][module] = options(yaml.safe_load(doc)["options"])
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
