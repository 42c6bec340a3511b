# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """Options shared by the plugins that read or write the change ledger.

    DOCUMENTATION is the ledger option of plugins that fall back to the default ledger file; plugins where
    the ledger is required or optional document their own. CONNECTION and SIGNING are for the plugins
    that open the ledger with their own timeout, schema and signing key (ledger_record, ledger_export,
    ledger_verify).
    """

    DOCUMENTATION = r"""
options:
  ledger:
    description:
      - The change ledger - a SQLite path or a C(postgresql://) DSN. Defaults to E(CHANGEWARD_LEDGER), else
        C(changeward/ledger.db) under E(XDG_STATE_HOME) (C(~/.local/state) when that is not set).
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

    SIGNING = r"""
options:
  key:
    description:
      - Checkpoint signing key, needed to sign a checkpoint - the periodic ones a ledger takes while events
        are appended, or one taken on demand. Defaults to E(CHANGEWARD_LEDGER_KEY). Never shown or recorded.
    type: str
"""
