# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redaction: decide what of a task and its results may reach the ledger and the audit sinks.

The default is to keep almost nothing: the module name, the argument *names* and the status of each
host's result. Values are only recorded when asked for (``record_args``, ``record_messages``) and are
then masked when their key looks secret, when they match a secret pattern, when they are vaulted, or
when they contain a secret this redactor has been told about (e.g. a vault plaintext). Whatever a
``no_log`` hid is never recorded. The output is plain JSON (str, int, float, bool, None, list, dict),
so tagged or lazy Ansible values cannot leak through by being serialised later.

No Ansible imports here: the callback injects an ``is_vaulted`` predicate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

MASK = "********"
TRUNCATED = "...[truncated]"

# Argument names whose value is a secret whatever it looks like.
DEFAULT_SECRET_KEYS = (
    r"pass",  # password, passwd, passphrase, become_pass
    r"pwd",
    r"secret",
    r"token",
    r"key",  # api_key, private_key, ssh_key, key
    r"credential",
    r"auth",  # authorization, auth_header
    r"cookie",
    r"session",
    r"signature",
    r"private",
    r"otp",
    r"salt",
    r"certificate",
)

# Values that are secrets whatever their key is called.
DEFAULT_SECRET_PATTERNS = (
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----",
    r"\$ANSIBLE_VAULT;",
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b",  # AWS access key ids
    r"(?i)\b(?:bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}",
    r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}",  # JWT
    r"\b(?:gh[pousr]|github_pat)_[A-Za-z0-9_]{20,}",
    r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    r"\bglpat-[A-Za-z0-9_-]{20,}",
    r"\bsk_(?:live|test)_[A-Za-z0-9]{16,}",
    r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@",  # credentials inside a URL
    r"(?i)\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)\s*[=:]\s*\S+",
)

# Shortest known secret masked inside longer text: shorter ones would mask ordinary words.
MIN_SECRET_LEN = 4
MAX_DEPTH = 8
MAX_ITEMS = 200

NO_LOG_KEY = "_ansible_no_log"
CENSORED_KEY = "censored"


class RedactionConfigError(ChangewardError, ValueError):
    """A secret pattern or key pattern given by the operator does not compile."""


def _compile(patterns: Iterable[str], what: str, flags: int = 0) -> list:
    compiled = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise RedactionConfigError(f"{what}: every pattern must be a non-empty string, got {pattern!r}")
        try:
            compiled.append(re.compile(pattern, flags))
        except re.error as exc:
            raise RedactionConfigError(f"{what}: {pattern!r} is not a valid regular expression: {exc}") from None
    return compiled


def parse_pattern_list(value) -> list:
    """Operator input for extra patterns: a list, a JSON array text, or one regex per line."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v).strip()]
    if not isinstance(value, str):
        raise RedactionConfigError(f"secret patterns must be a list or text, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("["):
        import json

        try:
            items = json.loads(text)
        except ValueError as exc:
            raise RedactionConfigError(f"secret patterns look like JSON but do not parse: {exc}") from None
        if not isinstance(items, list):
            raise RedactionConfigError("secret patterns JSON must be an array of strings")
        return [str(v) for v in items if str(v).strip()]
    return [line.strip() for line in text.splitlines() if line.strip()]


def is_censored(result) -> bool:
    """True when Ansible hid this result (or any loop item of it) because of no_log."""
    if not isinstance(result, Mapping):
        return False
    if result.get(NO_LOG_KEY) or CENSORED_KEY in result:
        return True
    items = result.get("results")
    if isinstance(items, list):
        return any(isinstance(i, Mapping) and (i.get(NO_LOG_KEY) or CENSORED_KEY in i) for i in items)
    return False


class Redactor:
    """Turns task arguments and results into what may be recorded.

    record_args: record argument values (masked) instead of only their names.
    record_messages: record the ``msg`` of failed/unreachable results (masked, truncated).
    extra_patterns / extra_keys: operator regexes added to the defaults.
    is_vaulted: predicate telling whether a value is vault-encrypted (injected by the Ansible side).
    """

    def __init__(
        self,
        *,
        record_args: bool = False,
        record_messages: bool = False,
        extra_patterns: Iterable[str] = (),
        extra_keys: Iterable[str] = (),
        is_vaulted: Callable[[object], bool] | None = None,
        max_text: int = 1024,
    ):
        self.record_args = bool(record_args)
        self.record_messages = bool(record_messages)
        self.max_text = int(max_text)
        self._patterns = _compile(DEFAULT_SECRET_PATTERNS, "default secret patterns") + _compile(
            extra_patterns, "secret_patterns"
        )
        self._keys = _compile(DEFAULT_SECRET_KEYS, "default secret keys", re.IGNORECASE) + _compile(
            extra_keys, "secret_key_names", re.IGNORECASE
        )
        self._is_vaulted = is_vaulted or (lambda _v: False)
        self._secrets: set = set()
        self._secret_re = None

    # -- known secrets --------------------------------------------------------------------------
    def add_secret(self, value) -> None:
        """Mask ``value`` wherever it appears from now on (whole values always, inside text when long enough)."""
        if not isinstance(value, str):
            return
        value = str.__str__(value)
        if not value or value in self._secrets:
            return
        self._secrets.add(value)
        long_ones = sorted((s for s in self._secrets if len(s) >= MIN_SECRET_LEN), key=len, reverse=True)
        self._secret_re = re.compile("|".join(re.escape(s) for s in long_ones)) if long_ones else None

    @property
    def secret_count(self) -> int:
        return len(self._secrets)

    # -- predicates -----------------------------------------------------------------------------
    def secret_key(self, key) -> bool:
        return isinstance(key, str) and any(p.search(key) for p in self._keys)

    def looks_secret(self, text: str) -> bool:
        if text in self._secrets:
            return True
        if self._secret_re is not None and self._secret_re.search(text):
            return True
        return any(p.search(text) for p in self._patterns)

    def vaulted(self, value) -> bool:
        if type(value).__name__ in ("AnsibleVaultEncryptedUnicode", "EncryptedString", "VaultExceptionMarker"):
            return True
        try:
            return bool(self._is_vaulted(value))
        except Exception:  # an undecidable value is treated as secret: fail closed
            return True

    # -- text -----------------------------------------------------------------------------------
    def text(self, value) -> str:
        """Free text (a task name, a failure message): secrets inside are masked, the rest kept, truncated."""
        if value is None:
            return ""
        if self.vaulted(value):
            return MASK
        text = str.__str__(value) if isinstance(value, str) else str(value)
        if self._secret_re is not None:
            text = self._secret_re.sub(MASK, text)
        for pattern in self._patterns:
            text = pattern.sub(MASK, text)
        if len(text) > self.max_text:
            text = text[: self.max_text] + TRUNCATED
        return text

    # -- values ---------------------------------------------------------------------------------
    def value(self, value, depth: int = 0):
        """A plain-JSON copy of ``value`` with secret keys, vaulted values and secret-looking strings masked."""
        if self.vaulted(value):
            return MASK
        if value is None or isinstance(value, bool):
            return None if value is None else bool(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else str(value)
        if isinstance(value, (str, bytes)):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str.__str__(value)
            if self.looks_secret(text):
                return MASK
            return text if len(text) <= self.max_text else text[: self.max_text] + TRUNCATED
        if depth >= MAX_DEPTH:
            return MASK  # too deep to inspect: do not guess
        if isinstance(value, Mapping):
            out = {}
            for i, (k, v) in enumerate(value.items()):
                if i >= MAX_ITEMS:
                    out["..."] = TRUNCATED
                    break
                key = str.__str__(k) if isinstance(k, str) else str(k)
                if self.looks_secret(key):
                    key = f"{MASK}#{i}"
                out[key] = MASK if self.secret_key(key) else self.value(v, depth + 1)
            return out
        if isinstance(value, (list, tuple, set, frozenset)):
            items = list(value)
            out = [self.value(v, depth + 1) for v in items[:MAX_ITEMS]]
            if len(items) > MAX_ITEMS:
                out.append(TRUNCATED)
            return out
        # Anything else (objects, lazy templates, markers): its str() might be a secret.
        return self.value(str(value), depth + 1) if depth < MAX_DEPTH else MASK

    # -- tasks and results ----------------------------------------------------------------------
    def task_args(self, module: str, args, no_log: bool) -> dict:
        """What is recorded of a task's invocation."""
        out = {"module": str(module or ""), "no_log": bool(no_log)}
        if no_log:
            return out  # not even argument names: the task asked for nothing to be logged
        args = args if isinstance(args, Mapping) else {}
        keys = sorted(str(k) for k in args if not str(k).startswith("_ansible_"))
        out["arg_keys"] = [k if not self.looks_secret(k) else MASK for k in keys]
        if self.record_args:
            out["args"] = self.value({k: v for k, v in args.items() if not str(k).startswith("_ansible_")})
        return out

    def result(self, result, status: str, no_log: bool = False) -> dict:
        """What is recorded of one host's result: its status and a few safe facts, never its output."""
        result = result if isinstance(result, Mapping) else {}
        censored = bool(no_log) or is_censored(result)
        out = {"status": status, "changed": bool(result.get("changed", False)), "censored": censored}
        items = result.get("results")
        if isinstance(items, list):
            out["items"] = len(items)
        if censored:
            return out
        rc = result.get("rc")
        if isinstance(rc, int) and not isinstance(rc, bool):
            out["rc"] = int(rc)
        if status in ("failed", "unreachable") and self.record_messages and result.get("msg") is not None:
            out["msg"] = self.text(result.get("msg"))
        return out


def learn_vault_secrets(redactor: Redactor, data, reveal: Callable[[object], str | None], depth: int = 0) -> int:
    """Walk variables and teach ``redactor`` the plaintext of every vaulted value found. Returns how many."""
    if depth > MAX_DEPTH * 2:
        return 0
    if redactor.vaulted(data):
        try:
            plain = reveal(data)
        except Exception:  # undecryptable here: nothing to learn, and nothing of it will be recorded
            plain = None
        if plain:
            redactor.add_secret(plain)
            return 1
        return 0
    if isinstance(data, Mapping):
        return sum(learn_vault_secrets(redactor, v, reveal, depth + 1) for v in data.values())
    if isinstance(data, (list, tuple)):
        return sum(learn_vault_secrets(redactor, v, reveal, depth + 1) for v in data)
    return 0


def learn_named_secrets(redactor: Redactor, data, depth: int = 0, named: bool = False) -> int:
    """Teach ``redactor`` the values of variables that are secrets by name or by look (extra vars: plain
    text, so a failure message could otherwise show them). Every string under a secret-named key counts, and
    every string that matches a secret pattern. Returns how many were learned."""
    if depth > MAX_DEPTH * 2:
        return 0
    if isinstance(data, Mapping):
        return sum(
            learn_named_secrets(redactor, v, depth + 1, named or redactor.secret_key(str(k))) for k, v in data.items()
        )
    if isinstance(data, (list, tuple)):
        return sum(learn_named_secrets(redactor, v, depth + 1, named) for v in data)
    if isinstance(data, str) and (named or redactor.looks_secret(str.__str__(data))):
        before = redactor.secret_count
        redactor.add_secret(data)
        return int(redactor.secret_count > before)
    return 0
