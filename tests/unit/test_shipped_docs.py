"""The Markdown that ships in the collection artifact names only what ships.

`ansible-galaxy collection build` leaves out what galaxy.yml's build_ignore lists (tests, scripts, bench, ...).
A relative link or a bare path to one of those is dead in the installed collection: shipped docs point at the
operator project's repository by URL instead. Nothing is built here; the files that would ship are git's
tracked files minus the patterns, matched the way ansible-galaxy's build walk matches them.
"""

import fnmatch
import posixpath
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
REPO_URL = "https://github.com/changeward/hybrid/"
# What the build walk always leaves out besides build_ignore (ansible.galaxy.collection._build_files_manifest_walk).
DEFAULT_IGNORE = ["MANIFEST.json", "FILES.json", "galaxy.yml", "galaxy.yaml", ".git", "*.pyc", "*.retry"]
DEFAULT_IGNORE += ["tests/output", "changeward-hybrid-*.tar.gz"]
IGNORE_DIRS = {"CVS", ".bzr", ".hg", ".git", ".svn", "__pycache__", ".tox"}
# Bare backticked paths under these name the operator project, not the collection.
OPERATOR_PREFIXES = (
    "tests/",
    "scripts/",
    "bench/",
    "examples/",
    "inventories/",
    "requirements/",
    "extensions/molecule/",
)

LINK = re.compile(r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def ignored(rel_path: str, patterns: list[str]) -> bool:
    """Whether the build leaves rel_path out: the path itself or one of its leading directories matches."""
    parts = rel_path.split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        if depth < len(parts) and parts[depth - 1] in IGNORE_DIRS:
            return True
        if any(fnmatch.fnmatch(prefix, pattern) for pattern in patterns):
            return True
    return False


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True, text=True).stdout
    return [path for path in out.split("\0") if path and (REPO / path).exists()]


def build_ignore() -> list[str]:
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))
    patterns = galaxy.get("build_ignore")
    # No list would mean everything ships, tests and lab included: refuse rather than pass vacuously.
    assert isinstance(patterns, list) and patterns, "galaxy.yml has no build_ignore list"
    return DEFAULT_IGNORE + [str(pattern) for pattern in patterns]


def dirs_of(files) -> set[str]:
    return {"/".join(path.split("/")[:depth]) for path in files for depth in range(1, path.count("/") + 1)}


def problems_in(rel_path: str, text: str, shipped: set[str], tracked: set[str], patterns: list[str]) -> list[str]:
    """file:line and what is wrong, for every reference in one shipped Markdown file that does not resolve.

    A bare backticked path counts when it starts in the operator project's directories, or in any top-level
    directory build_ignore leaves out (`.ci/run`)."""
    ships, in_repo = shipped | dirs_of(shipped), tracked | dirs_of(tracked)
    base = posixpath.dirname(rel_path)
    found = []
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{rel_path}:{number}"
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        targets = [match.group(1) for match in LINK.finditer(line)]
        ref = REF_DEF.match(line)
        if ref:
            targets.append(ref.group(1))
        for target in targets:
            path = target.split("#", 1)[0]
            if target.startswith(REPO_URL):
                # A link into the repository must name something that is there.
                kind, _sep, repo_path = target[len(REPO_URL) :].partition("/main/")
                repo_path = repo_path.split("#", 1)[0].rstrip("/")
                if kind in ("blob", "tree") and repo_path not in in_repo:
                    found.append(f"{where}: {target} names {repo_path!r}, which the repository does not have")
                continue
            if not path or SCHEME.match(path) or path.startswith("/"):
                continue
            resolved = posixpath.normpath(posixpath.join(base, path))
            if resolved not in ships:
                found.append(f"{where}: link {target!r} resolves to {resolved!r}, which does not ship")
        # A code span that is the text of a link to a URL is labelled evidence, not a dead path.
        bare = LINK.sub(lambda m: "" if SCHEME.match(m.group(1)) else m.group(0), line)
        for match in CODE_SPAN.finditer(bare):
            span = match.group(2).strip()
            if " " in span:
                continue  # a command or prose, not a bare path
            top = span.split("/", 1)[0]
            outside = "/" in span and any(fnmatch.fnmatch(top, pattern) for pattern in patterns)
            if span.startswith(OPERATOR_PREFIXES) or span.startswith(".venv") or outside:
                found.append(f"{where}: `{span}` names a path that does not ship")
    return found


@pytest.fixture(scope="module")
def tree():
    tracked = tracked_files()
    patterns = build_ignore()
    shipped = {path for path in tracked if not ignored(path, patterns)}
    return set(tracked), shipped, patterns


def test_ignored_matches_the_build_walk():
    patterns = ["tests", ".venv*", "*.tar.gz", "Makefile"]
    assert ignored("tests/unit/test_x.py", patterns)
    assert ignored(".venv313/bin/python", patterns)
    assert ignored("changeward-hybrid-0.1.0.tar.gz", patterns)
    assert ignored("roles/x/__pycache__/y.py", patterns)
    assert not ignored("docs/tests.md", patterns)
    assert not ignored("plugins/modules/tests_helper.py", patterns)
    # fnmatch's * crosses directories, as it does in the build walk.
    assert ignored("docs/old.tar.gz", patterns)


def test_checker_reports_dead_references():
    shipped = {"docs/a.md", "docs/b.md", "README.md"}
    tracked = shipped | {"tests/lab/README.md", "bench/judge_power.py"}
    text = "\n".join(
        [
            "[b](b.md#x) and [top](../README.md) and [web](https://example.org/tests/x)",
            "[lab](../tests/lab/README.md) and `bench/judge_power.py` and `.venv/bin/python`",
            f"[`bench/judge_power.py`]({REPO_URL}blob/main/bench/judge_power.py) and `.venv/bin/python -m x`",
            f"[gone]({REPO_URL}blob/main/bench/gone.py) and `.ci/run` and `docs/b.md` and `a/b`",
            "```",
            "`tests/ignored-in-a-fence`",
            "```",
        ]
    )
    found = problems_in("docs/a.md", text, shipped, tracked, ["tests", "bench", ".ci"])
    assert [line.split(":")[1] for line in found] == ["2", "2", "2", "4", "4"]
    assert "tests/lab/README.md" in found[0]


def test_shipped_markdown_names_only_what_ships(tree):
    tracked, shipped, patterns = tree
    markdown = sorted(path for path in shipped if path.endswith(".md"))
    # The collection README and docs ship; if none were found the walk is wrong, not the docs right.
    assert "README.md" in markdown and any(path.startswith("docs/") for path in markdown)
    found = []
    for rel_path in markdown:
        found += problems_in(rel_path, (REPO / rel_path).read_text(encoding="utf-8"), shipped, tracked, patterns)
    assert not found, "shipped Markdown names paths that do not ship:\n" + "\n".join(found)


PLUGIN_DOC_PATH = re.compile(
    r"(?<![\w/.:-])((?:tests|scripts|bench|examples|inventories|requirements|extensions/molecule)/[\w./-]*)"
)


def plugin_doc_references(root: Path) -> list[str]:
    """Operator-project paths named in plugins' DOCUMENTATION and RETURN - what ansible-doc shows an installed
    collection's user, where those paths do not exist. (EXAMPLES name the user's own files, like an inventory.)"""
    import ast

    found = []
    for path in sorted((root / "plugins").rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = [getattr(t, "id", None) for t in getattr(node, "targets", [])]
            if names not in (["DOCUMENTATION"], ["RETURN"]) or not isinstance(node.value, ast.Constant):
                continue
            for number, line in enumerate(str(node.value.value).splitlines(), 1):
                found += [f"{path.relative_to(root)} {names[0]}:{number}: {m}" for m in PLUGIN_DOC_PATH.findall(line)]
    return found


def test_plugin_docs_name_only_what_ships(tmp_path):
    assert plugin_doc_references(REPO) == []
    # the check itself finds such a reference
    (tmp_path / "plugins" / "modules").mkdir(parents=True)
    (tmp_path / "plugins" / "modules" / "m.py").write_text(
        'DOCUMENTATION = """\ndescription: see tests/lab/README.md\n"""\n'
    )
    assert plugin_doc_references(tmp_path) == ["plugins/modules/m.py DOCUMENTATION:2: tests/lab/README.md"]
