# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """Options shared by the plugins of the action group that read or write the change ledger.

    DOCUMENTATION is the group's ledger options (ledger, key), which every controller action accepts so that
    module_defaults for group/changeward.hybrid.hybrid can set them; TARGET is the same two options for the
    modules that run on managed hosts, which never receive them. CONNECTION is for the plugins that open the
    ledger with their own timeout and schema (ledger_record, ledger_export, ledger_verify).
    """

    DOCUMENTATION = r"""
options:
  ledger:
    description:
      - The change ledger - a SQLite path or a C(postgresql://) DSN.
      - "Which ledger, for every plugin of the collection: this option, else E(CHANGEWARD_LEDGER), else
        C(changeward/ledger.db) under E(XDG_STATE_HOME) (C(~/.local/state) when that is not set) - the file the
        recorder callback writes by default."
      - Every action of the C(changeward.hybrid.hybrid) action group accepts it, so C(module_defaults) can set
        it once; an action that neither reads nor records the ledger ignores it.
    type: str
  key:
    description:
      - Checkpoint signing key, needed to append to a ledger that takes periodic signed checkpoints (and to
        verify or take one). Defaults to E(CHANGEWARD_LEDGER_KEY). Never shown or recorded.
      - Accepted by every action of the group, like O(ledger); ignored by those that write nothing.
    type: str
"""

    TARGET = r"""
options:
  ledger:
    description:
      - Accepted so that C(module_defaults) for the C(changeward.hybrid.hybrid) action group can set it. This
        module runs on the managed host and writes no ledger (it returns a C(ledger_event) that
        M(changeward.hybrid.ledger_record) records on the controller); the value is removed on the controller
        and never sent to the host.
    type: str
  key:
    description:
      - Accepted for C(module_defaults) like O(ledger); removed on the controller, never sent to the host.
    type: str
"""

    CONNECTION = r"""
options:
  timeout:
    description:
      - Seconds to wait for a locked SQLite ledger (another run writing) or to connect to PostgreSQL before
        failing.
    type: float
    default: 10
  pg_schema:
    description:
      - PostgreSQL schema holding the ledger tables. Defaults to E(CHANGEWARD_LEDGER_PG_SCHEMA), then the
        connection's search path.
    type: str
"""
