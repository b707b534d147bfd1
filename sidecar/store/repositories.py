"""The repositories over one database, built together by the composition root.

Only a holder: each engine service reaches the repositories it uses through it
(`engine.repos.messages`), and nothing here runs a query.
"""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.store.catalog_repo import CatalogRepo
from sidecar.store.conversation_repo import ConversationRepo
from sidecar.store.database import Database
from sidecar.store.library_repo import LibraryRepo
from sidecar.store.mcp_repo import McpRepo
from sidecar.store.message_repo import MessageRepo
from sidecar.store.transfer_repo import TransferRepo
from sidecar.store.usage_repo import UsageRepo


@dataclass(frozen=True, slots=True)
class Repositories:
    database: Database
    conversations: ConversationRepo
    messages: MessageRepo
    library: LibraryRepo
    catalog: CatalogRepo
    usage: UsageRepo
    transfer: TransferRepo
    mcp: McpRepo

    @classmethod
    def over(cls, database: Database) -> Repositories:
        return cls(
            database=database,
            conversations=ConversationRepo(database),
            messages=MessageRepo(database),
            library=LibraryRepo(database),
            catalog=CatalogRepo(database),
            usage=UsageRepo(database),
            transfer=TransferRepo(database),
            mcp=McpRepo(database),
        )
